/**
 * `devp2p discv4 ...` (the built binary) on 127.0.0.1: a `listen` child process is the bootnode,
 * three in-process `Discv4` nodes join through it; then `ping`, `requestenr`, `resolve` (through
 * the DHT, the given endpoint being wrong), `crawl` into a nodes.json file and re-crawl it
 * (re-check, score, removal of a node that went away), and bad input (exit 2) and unreachable
 * nodes (exit 1). One-shot commands run asynchronously so the nodes in this process keep
 * answering; every child is killed in `after`.
 */
import assert from 'node:assert/strict'
import { type ChildProcess, spawn } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { formatNodeKey, generatePrivateKey, publicKeyFromPrivate } from '../../../src/crypto/index.js'
import { Discv4, listenUdp } from '../../../src/discv4/index.js'
import { Node, nodeIdFromPublicKey, parseNode } from '../../../src/enode/index.js'
import { toHex } from '../../../src/util/index.js'
import { CLI } from '../../helpers/cli.js'
import { runCliAsync } from '../../helpers/cli-async.js'

const dir = mkdtempSync(join(tmpdir(), 'devp2p-discv4-cli-'))
const children: ChildProcess[] = []
const nodes: Discv4[] = []

interface Listener {
  readonly child: ChildProcess
  readonly lines: Promise<Record<string, string>>
  stdout(): string
  stderr(): string
  exited: Promise<number | null>
}

/** Start `devp2p discv4 listen` and wait (≤ 10 s) for its id/enode/enr/addr lines. */
function startListen(args: string[] = []): Listener {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run "npm run build" first`)
  const child = spawn(process.execPath, [CLI, 'discv4', 'listen', '--addr', '127.0.0.1:0', ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  children.push(child)
  let out = ''
  let err = ''
  child.stderr!.setEncoding('utf8').on('data', (d: string) => {
    err += d
  })
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)))
  const lines = new Promise<Record<string, string>>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`listen printed nothing in 10 s: ${out} ${err}`)), 10_000)
    child.stdout!.setEncoding('utf8').on('data', (d: string) => {
      out += d
      if (!/^addr:/m.test(out)) return
      clearTimeout(t)
      const fields: Record<string, string> = {}
      for (const line of out.split('\n')) {
        const m = /^(\w+):\s+(\S+)$/.exec(line)
        if (m) fields[m[1]!] = m[2]!
      }
      resolve(fields)
    })
    child.on('exit', (code) => {
      clearTimeout(t)
      reject(new Error(`listen exited with ${code}: ${err}`))
    })
  })
  lines.catch(() => {})
  return { child, lines, exited, stdout: () => out, stderr: () => err }
}

async function until(cond: () => boolean, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 50))
  }
}

interface NodesJsonEntry {
  seq: number
  record: string
  score?: number
  firstResponse: string
  lastResponse: string
  lastCheck: string
}

function readNodes(file: string): Record<string, NodesJsonEntry> {
  return JSON.parse(readFileSync(file, 'utf8')) as Record<string, NodesJsonEntry>
}

after(() => {
  for (const n of nodes) n.close()
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL')
})

describe('devp2p discv4', { timeout: 120_000 }, () => {
  let boot: Listener
  let bootEnode: string
  let bootId: string

  before(async () => {
    boot = startListen()
    const f = await boot.lines
    bootEnode = f.enode!
    bootId = f.id!
    for (let i = 0; i < 3; i++)
      nodes.push(
        await Discv4.start({
          privateKey: generatePrivateKey(),
          conn: await listenUdp({ host: '127.0.0.1', port: 0 }),
          bootnodes: [bootEnode],
        }),
      )
    // Everyone knows everyone (the bootnode and the two others).
    await until(() => nodes.every((n) => n.tableNodes().length >= 3), 20_000, 'the network to join')
  })

  it('listen prints its id, enode, record and address', () => {
    const n = parseNode(bootEnode)
    assert.equal(n.idHex, bootId)
    assert.equal(n.ip, '127.0.0.1')
    assert.ok(n.udp > 0)
    const r = parseNode(
      boot
        .stdout()
        .split('\n')
        .find((l) => l.startsWith('enr:'))!
        .replace(/^enr:\s+/, ''),
    )
    assert.equal(r.idHex, bootId)
    assert.equal(r.udp, n.udp)
  })

  it('ping prints the Pong (text and --json)', async () => {
    const a = nodes[0]!.self()
    const r = await runCliAsync(['--json', 'discv4', 'ping', a.toString()])
    assert.equal(r.status, 0, r.stderr)
    const v = JSON.parse(r.stdout) as {
      id: string
      addr: string
      seq: string
      observed: { ip: string; port: number } | null
      rttMs: number
    }
    assert.equal(v.id, a.idHex)
    assert.equal(v.addr, `127.0.0.1:${a.udp}`)
    assert.equal(v.seq, a.seq.toString())
    assert.equal(v.observed?.ip, '127.0.0.1')
    assert.ok(v.rttMs >= 0 && v.rttMs < 5000)
    const t = await runCliAsync(['discv4', 'ping', bootEnode])
    assert.equal(t.status, 0, t.stderr)
    assert.match(t.stdout, /^id: +[0-9a-f]{64}$/m)
    assert.match(t.stdout, /^rtt: +[\d.]+ ms$/m)
  })

  it('requestenr prints the record', async () => {
    const a = nodes[1]!
    const r = await runCliAsync(['--json', 'discv4', 'requestenr', a.self().toEnodeUrl()])
    assert.equal(r.status, 0, r.stderr)
    const v = JSON.parse(r.stdout) as { enr: string; id: string; seq: string; udp: number; verified: boolean }
    assert.equal(v.enr, a.self().toString())
    assert.equal(v.id, a.self().idHex)
    assert.equal(v.udp, a.localAddress().port)
    assert.equal(v.verified, true)
    const t = await runCliAsync(['discv4', 'requestenr', bootEnode])
    assert.equal(t.status, 0, t.stderr)
    assert.match(t.stdout, new RegExp(`^id: +${bootId}$`, 'm'))
  })

  it('resolve finds the current record through the DHT when the given endpoint is wrong', async () => {
    const a = nodes[2]!.self()
    const stale = Node.fromPublicKey(a.publicKey, { ip: '127.0.0.1', udp: 1, tcp: 0 }).toEnodeUrl()
    const r = await runCliAsync(['--json', 'discv4', 'resolve', stale, '--bootnodes', bootEnode])
    assert.equal(r.status, 0, r.stderr)
    const v = JSON.parse(r.stdout) as { enr: string; udp: number; newer: boolean }
    assert.equal(v.enr, a.toString())
    assert.equal(v.udp, a.udp)
    assert.equal(v.newer, true)
    // Without bootnodes there is nobody to ask: no record.
    const none = await runCliAsync(['discv4', 'resolve', stale, '--timeout', '3s'])
    assert.equal(none.status, 1)
    assert.match(none.stderr, /no record found/)
  })

  it('crawl writes every node to nodes.json, and a second crawl updates the file', async () => {
    const file = join(dir, 'nodes.json')
    const all = [bootId, ...nodes.map((n) => n.self().idHex)].sort()
    const r = await runCliAsync([
      '--json',
      'discv4',
      'crawl',
      '--bootnodes',
      bootEnode,
      '--timeout',
      '10s',
      file,
    ])
    assert.equal(r.status, 0, r.stderr)
    const sum = JSON.parse(r.stdout) as { end: string; nodes: number; live: number; added: number }
    assert.equal(sum.end, 'done')
    assert.equal(sum.nodes, 4)
    assert.equal(sum.added, 4)
    const first = readNodes(file)
    assert.deepEqual(Object.keys(first), all, 'sorted by id, exactly the 4 nodes (not the crawler)')
    for (const id of all) {
      const e = first[id]!
      assert.equal(parseNode(e.record).idHex, id)
      assert.equal(BigInt(e.seq), parseNode(e.record).seq)
      assert.equal(e.score, 1)
      assert.match(e.lastCheck, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/)
      assert.equal(e.firstResponse, e.lastCheck)
    }
    assert.match(
      readFileSync(file, 'utf8'),
      /^\{\n {4}"[0-9a-f]{64}": \{\n {8}"seq": \d+,\n {8}"record": "enr:/,
    )

    // Right away, with geth's 10-minute revalidation interval: nothing is re-checked.
    const again = await runCliAsync(['--json', 'discv4', 'crawl', '--timeout', '10s', file])
    assert.equal(again.status, 0, again.stderr)
    assert.equal((JSON.parse(again.stdout) as { skippedRecent: number }).skippedRecent, 4)
    assert.deepEqual(readNodes(file), first)

    // Re-check everything: scores go up, first responses stay.
    const re = await runCliAsync(['discv4', 'crawl', '--revalidate', '0', '--timeout', '10s', file])
    assert.equal(re.status, 0, re.stderr)
    assert.match(re.stdout, /^updated: +4$/m)
    const second = readNodes(file)
    assert.deepEqual(Object.keys(second), all)
    for (const id of all) {
      assert.equal(second[id]!.score, 2)
      assert.equal(second[id]!.firstResponse, first[id]!.firstResponse)
      assert.ok(second[id]!.lastCheck >= first[id]!.lastCheck)
    }

    // A node goes away: its score halves (2 → 1), then it is dropped (1 → 0).
    const gone = nodes.pop()!
    const goneId = gone.self().idHex
    gone.close()
    const c1 = await runCliAsync(['discv4', 'crawl', '--revalidate', '0', '--timeout', '10s', file])
    assert.equal(c1.status, 0, c1.stderr)
    const third = readNodes(file)
    assert.equal(third[goneId]?.score, 1)
    assert.equal(third[goneId]?.lastResponse, second[goneId]!.lastResponse)
    assert.equal(third[bootId]?.score, 3)
    const c2 = await runCliAsync(['discv4', 'crawl', '--revalidate', '0', '--timeout', '10s', file])
    assert.equal(c2.status, 0, c2.stderr)
    assert.match(c2.stdout, /^removed: +1$/m)
    const fourth = readNodes(file)
    assert.ok(!(goneId in fourth))
    assert.equal(Object.keys(fourth).length, 3)
  })

  it('crawl refuses a corrupt node set and leaves it alone', async () => {
    const file = join(dir, 'corrupt.json')
    writeFileSync(file, '{"not-an-id": {}}')
    const r = await runCliAsync(['discv4', 'crawl', '--bootnodes', bootEnode, '--timeout', '5s', file])
    assert.equal(r.status, 1)
    assert.match(r.stderr, /not a node id/)
    assert.equal(readFileSync(file, 'utf8'), '{"not-an-id": {}}')
  })

  it('bad input exits 2 with a clear message', async () => {
    const cases: [string[], RegExp][] = [
      [['discv4', 'ping', 'enode://abc@127.0.0.1:30303'], /bad node: .*public key/],
      [['discv4', 'ping', 'not-a-node'], /bad node/],
      [['discv4', 'requestenr', 'enr:AAAA'], /bad node/],
      [['discv4', 'resolve', bootEnode, '--bootnodes', 'enode://zz'], /bad bootnode/],
      [['discv4', 'ping', Node.fromPublicKey(nodes[0]!.self().publicKey).toEnodeUrl()], /no IP address/],
      [['discv4', 'ping', bootEnode, '--addr', '0.0.0.0'], /--addr: expected IP:port/],
      [['discv4', 'ping', bootEnode, '--timeout', 'soon'], /--timeout: expected a duration/],
      [['discv4', 'listen', '--duration', '5 minutes'], /--duration/],
      [['discv4', 'crawl', join(dir, 'none.json')], /nothing to crawl/],
      [['discv4', 'crawl', '--bootnodes', bootEnode, '--parallel', '0', join(dir, 'x.json')], /--parallel/],
    ]
    const results = await Promise.all(cases.map(([args]) => runCliAsync(args, 15_000)))
    results.forEach((r, i) => {
      assert.equal(r.status, 2, `${cases[i]![0].join(' ')}: ${r.stderr}`)
      assert.match(r.stderr, cases[i]![1])
    })
    assert.ok(!existsSync(join(dir, 'none.json')))
  })

  it('an unreachable node exits 1 with a clear message, within the timeout', async () => {
    const closed = await listenUdp({ host: '127.0.0.1', port: 0 })
    const port = closed.localAddress().port
    closed.close()
    const dead = Node.fromPublicKey(publicKeyFromPrivate(generatePrivateKey()), {
      ip: '127.0.0.1',
      udp: port,
      tcp: 0,
    }).toEnodeUrl()
    const t0 = Date.now()
    const r = await runCliAsync(['discv4', 'ping', dead, '--timeout', '300ms'], 15_000)
    assert.equal(r.status, 1)
    assert.match(r.stderr, new RegExp(`no pong from 127\\.0\\.0\\.1:${port}: no answer within 300 ms`))
    const e = await runCliAsync(['discv4', 'requestenr', dead], 15_000)
    assert.equal(e.status, 1)
    assert.match(e.stderr, /cannot retrieve the record of .*: no answer within 500 ms/)
    assert.ok(Date.now() - t0 < 10_000)
  })

  it('listen takes a key file and a node database, stops after --duration and on SIGTERM', async () => {
    const key = generatePrivateKey()
    const keyFile = join(dir, 'nodekey')
    writeFileSync(keyFile, formatNodeKey(key))
    const db = join(dir, 'nodes.db')
    // A fixed free port, so that both runs have the same record.
    const probe = await listenUdp({ host: '127.0.0.1', port: 0 })
    const addr = `127.0.0.1:${probe.localAddress().port}`
    probe.close()
    const l = startListen(['--addr', addr, '--nodekey', keyFile, '--nodedb', db, '--duration', '1s'])
    const f = await l.lines
    assert.equal(f.id, toHex(nodeIdFromPublicKey(publicKeyFromPrivate(key))))
    assert.equal(f.addr, addr)
    assert.equal(await l.exited, 0)
    assert.match(l.stderr(), /stopped \(duration\)/)
    assert.ok(existsSync(db))
    // The record's sequence number continues from the database (at most one step on): without
    // it, it would start again from the current time in ms, over a second (--duration) later.
    const l2 = startListen(['--addr', addr, '--nodekey', keyFile, '--nodedb', db])
    const f2 = await l2.lines
    const step = parseNode(f2.enr!).seq - parseNode(f.enr!).seq
    assert.ok(step === 0n || step === 1n, `seq moved by ${step}`)
    l2.child.kill('SIGTERM')
    assert.equal(await l2.exited, 0)
    assert.match(l2.stderr(), /stopped \(SIGTERM\)/)
    // SIGINT stops the bootnode cleanly too (last, the other tests use it).
    boot.child.kill('SIGINT')
    assert.equal(await boot.exited, 0)
    assert.match(boot.stderr(), /stopped \(SIGINT\)/)
  })
})

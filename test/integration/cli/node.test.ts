/**
 * `devp2p node` (the built binary) on 127.0.0.1: what it prints (text and `--json`), the key and
 * node database persisting in `--datadir` across restarts, geth's `admin_*` JSON-RPC methods and
 * `/metrics` over `--http` between two node processes (addPeer until admin_peers shows the other,
 * trusted flag on a live peer, removePeer), JSON-RPC errors, a clean exit 0 on SIGTERM, and exit
 * 2 for `--http` on a non-loopback address and for bad flags. Every child is bounded in time and
 * killed (by pid) in `after`.
 */
import assert from 'node:assert/strict'
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, describe, it } from 'node:test'
import { keccak256 } from '../../../src/crypto/index.js'
import { parseNode } from '../../../src/enode/index.js'
import type { NodeInfo, PeerInfo } from '../../../src/p2p/index.js'
import { fromHex, toHex } from '../../../src/util/index.js'
import { runCliAsync } from '../../helpers/cli-async.js'
import {
  type CliProc,
  jsonPrefix,
  killAll,
  postRaw,
  type RpcReply,
  rpc,
  rpcCall,
  spawnCli,
} from '../../helpers/cli-proc.js'
import { freeTcpPort } from '../../helpers/ports.js'

const dir = mkdtempSync(join(tmpdir(), 'devp2p-node-cli-'))
after(() => {
  killAll()
  rmSync(dir, { recursive: true, force: true })
})

/** What `devp2p --json node` prints at start-up. */
interface Started {
  readonly id: string
  readonly enode: string
  readonly enr: string
  readonly tcp: number
  readonly udp: number
  readonly http?: string
}

const LOCAL = ['--addr', '127.0.0.1', '--port', '0']

/** Start `devp2p --json node ...` and wait for its start-up document. */
async function startNode(args: string[]): Promise<{ proc: CliProc; started: Started }> {
  const proc = spawnCli(['--json', 'node', ...LOCAL, ...args])
  const started = await proc.waitStdout((out) => jsonPrefix<Started>(out), 15_000, 'the start-up JSON')
  return { proc, started }
}

function idOfEnode(enode: string): string {
  const m = /^enode:\/\/([0-9a-f]{128})@/.exec(enode)
  assert.ok(m, enode)
  return toHex(keccak256(fromHex(m[1]!)))
}

async function peersOf(url: string): Promise<PeerInfo[]> {
  return rpc<PeerInfo[]>(url, 'admin_peers')
}

describe('devp2p node', { timeout: 90_000 }, () => {
  it('prints id, enode and ENR; keeps its key and node database in --datadir across restarts', async () => {
    const datadir = join(dir, 'persist')
    const first = await runCliAsync(['node', ...LOCAL, '--datadir', datadir, '--duration', '1s'], 20_000)
    assert.equal(first.status, 0, first.stderr)
    const fields: Record<string, string> = {}
    for (const line of first.stdout.split('\n')) {
      const m = /^(\w+):\s+(\S+)$/.exec(line)
      if (m) fields[m[1]!] = m[2]!
    }
    assert.match(fields.id ?? '', /^[0-9a-f]{64}$/)
    assert.match(fields.enode ?? '', /^enode:\/\/[0-9a-f]{128}@127\.0\.0\.1:\d+\?discport=\d+$/)
    assert.match(fields.enr ?? '', /^enr:[-_A-Za-z0-9]+$/)
    assert.equal(idOfEnode(fields.enode!), fields.id)
    const rec = parseNode(fields.enr!)
    assert.equal(rec.idHex, fields.id, 'the ENR is of the same key')
    assert.equal(rec.ip, '127.0.0.1')
    assert.ok(existsSync(join(datadir, 'nodes.db')), 'nodes.db created')
    assert.ok(existsSync(join(datadir, 'nodekey')), 'nodekey created')
    assert.equal(statSync(join(datadir, 'nodekey')).mode & 0o077, 0, 'nodekey readable by its owner only')
    assert.match(first.stderr, /server stopped/)

    const second = await runCliAsync(
      ['--json', 'node', ...LOCAL, '--datadir', datadir, '--duration', '1s'],
      20_000,
    )
    assert.equal(second.status, 0, second.stderr)
    const s = JSON.parse(second.stdout) as Started
    assert.equal(s.id, fields.id, 'same key after a restart')
    assert.equal(idOfEnode(s.enode), s.id)
    assert.ok(s.tcp > 0 && s.udp > 0)
    assert.equal(s.http, undefined)
    assert.equal(parseNode(s.enr).idHex, s.id)
    assert.ok(statSync(join(datadir, 'nodes.db')).size > 0, 'nodes.db kept')
  })

  it('serves geth admin_* JSON-RPC and /metrics on --http; exits 0 on SIGTERM', async () => {
    const httpPort = await freeTcpPort()
    const a = await startNode([
      '--datadir',
      join(dir, 'a'),
      '--http',
      `127.0.0.1:${httpPort}`,
      '--name',
      'node-a',
    ])
    const b = await startNode(['--nodiscover', '--http', '127.0.0.1:0', '--name', 'node-b'])
    const urlA = a.started.http!
    const urlB = b.started.http!
    assert.equal(urlA, `http://127.0.0.1:${httpPort}`)
    assert.match(urlB, /^http:\/\/127\.0\.0\.1:\d+$/)

    // admin_nodeInfo
    const info = await rpc<NodeInfo>(urlA, 'admin_nodeInfo')
    assert.deepEqual(Object.keys(info).sort(), [
      'enode',
      'enr',
      'id',
      'ip',
      'listenAddr',
      'name',
      'ports',
      'protocols',
    ])
    assert.equal(info.id, a.started.id)
    assert.equal(info.name, 'node-a')
    assert.equal(info.enode, a.started.enode)
    assert.equal(info.enr, a.started.enr)
    assert.equal(info.ip, '127.0.0.1')
    assert.deepEqual(info.ports, { discovery: a.started.udp, listener: a.started.tcp })
    assert.equal(info.listenAddr, `127.0.0.1:${a.started.tcp}`)
    assert.deepEqual(info.protocols, {})
    const infoB = await rpc<NodeInfo>(urlB, 'admin_nodeInfo')
    assert.equal(infoB.ports.discovery, 0, 'no discovery with --nodiscover')

    // admin_addPeer: a dials b as a static peer.
    assert.deepEqual(await peersOf(urlA), [])
    assert.equal(await rpc(urlA, 'admin_addPeer', [b.started.enode]), true)
    let peersA: PeerInfo[] = []
    let peersB: PeerInfo[] = []
    const refresh = async (): Promise<void> => {
      peersA = await peersOf(urlA)
      peersB = await peersOf(urlB)
    }
    const connected = async (): Promise<boolean> => {
      await refresh()
      return peersA.some((p) => p.id === b.started.id) && peersB.some((p) => p.id === a.started.id)
    }
    await untilAsync(connected, 15_000, 'admin_peers to show the added peer on both sides')
    const pa = peersA.find((p) => p.id === b.started.id)!
    assert.deepEqual(Object.keys(pa).sort(), ['caps', 'enode', 'id', 'name', 'network', 'protocols'])
    assert.equal(pa.name, 'node-b')
    assert.equal(pa.enode, b.started.enode)
    assert.deepEqual(pa.caps, [])
    assert.deepEqual(pa.protocols, {})
    assert.deepEqual(Object.keys(pa.network).sort(), [
      'inbound',
      'localAddress',
      'remoteAddress',
      'static',
      'trusted',
    ])
    assert.equal(pa.network.remoteAddress, `127.0.0.1:${b.started.tcp}`)
    assert.match(pa.network.localAddress, /^127\.0\.0\.1:\d+$/)
    assert.deepEqual(
      { inbound: pa.network.inbound, trusted: pa.network.trusted, static: pa.network.static },
      { inbound: false, trusted: false, static: true },
    )
    const pb = peersB.find((p) => p.id === a.started.id)!
    assert.equal(pb.name, 'node-a')
    assert.equal(pb.network.inbound, true)
    assert.equal(pb.network.static, false)
    assert.equal(pb.network.remoteAddress, pa.network.localAddress)

    // /metrics: Prometheus text with the peer gauge.
    const metrics = await fetch(`${urlA}/metrics`, { signal: AbortSignal.timeout(5000) })
    assert.equal(metrics.status, 200)
    assert.match(metrics.headers.get('content-type') ?? '', /^text\/plain/)
    const text = await metrics.text()
    assert.match(text, /^# TYPE p2p_peers gauge$/m)
    assert.match(text, /^p2p_peers\{direction="all"\} 1$/m)
    assert.match(text, /^p2p_peers\{direction="outbound"\} 1$/m)
    assert.match(text, /^p2p_dials_total\{result="success"\} 1$/m)

    // admin_addTrustedPeer / admin_removeTrustedPeer flip the flag on the live connection.
    assert.equal(await rpc(urlA, 'admin_addTrustedPeer', [b.started.enode]), true)
    await refresh()
    assert.equal(peersA.find((p) => p.id === b.started.id)?.network.trusted, true)
    assert.equal(await rpc(urlA, 'admin_removeTrustedPeer', [b.started.enr]), true, 'an ENR works as well')
    await refresh()
    assert.equal(peersA.find((p) => p.id === b.started.id)?.network.trusted, false)

    // admin_removePeer: disconnected on both sides.
    assert.equal(await rpc(urlA, 'admin_removePeer', [b.started.enode]), true)
    await untilAsync(
      async () => {
        await refresh()
        return peersA.length === 0 && peersB.length === 0
      },
      10_000,
      'admin_peers empty after admin_removePeer',
    )

    // JSON-RPC errors, as geth numbers them.
    const unknown = await rpcCall(urlA, 'admin_bogus')
    assert.equal(unknown.error?.code, -32601)
    assert.equal(unknown.result, undefined)
    assert.equal(typeof unknown.id, 'number', 'the id is echoed')
    // A string that is no node: the method fails (geth: "invalid enode: ...", -32000); a missing
    // or non-string argument is invalid params (-32602).
    const badNode = await rpcCall(urlA, 'admin_addPeer', ['not-a-node'])
    assert.equal(badNode.error?.code, -32000)
    assert.match(badNode.error?.message ?? '', /^invalid enode: /)
    const noParams = await rpcCall(urlA, 'admin_removePeer', [])
    assert.equal(noParams.error?.code, -32602)
    const wrongType = await rpcCall(urlA, 'admin_addTrustedPeer', [42])
    assert.equal(wrongType.error?.code, -32602)
    const parse = await postRaw(urlA, '{"jsonrpc":"2.0","id":1,"method":')
    assert.equal(parse.status, 200)
    assert.deepEqual((parse.json as RpcReply).error?.code, -32700)
    assert.equal((parse.json as RpcReply).id, null)
    const invalid = await postRaw(urlA, JSON.stringify({ id: 7, method: 'admin_peers' }))
    assert.equal((invalid.json as RpcReply).error?.code, -32600, 'jsonrpc "2.0" is required')
    const batch = await postRaw(
      urlA,
      JSON.stringify([
        { jsonrpc: '2.0', id: 1, method: 'admin_nodeInfo' },
        { jsonrpc: '2.0', id: 2, method: 'nope' },
      ]),
    )
    const replies = batch.json as RpcReply<NodeInfo>[]
    assert.equal(replies.length, 2)
    assert.equal(replies[0]?.result?.id, a.started.id)
    assert.equal(replies[1]?.error?.code, -32601)
    const get = await fetch(urlA, { signal: AbortSignal.timeout(5000) })
    assert.equal(get.status, 405)
    await get.arrayBuffer()

    // SIGTERM: a clean stop, exit 0.
    for (const n of [a, b]) {
      n.proc.child.kill('SIGTERM')
      const exit = await n.proc.waitExit(10_000)
      assert.deepEqual(exit, { code: 0, signal: null }, n.proc.stderr())
      assert.match(n.proc.stderr(), /stopping[\s\S]*server stopped/)
    }
  })

  it('refuses --http on a non-loopback address and bad flags with exit 2', async () => {
    const base = ['node', ...LOCAL, '--nodiscover', '--duration', '5s']
    const cases: [string[], RegExp][] = [
      [['--http', '0.0.0.0:0'], /--http: expected a loopback host:port/],
      [['--http', '192.0.2.1:8545'], /--http: expected a loopback host:port/],
      [['--http', '127.0.0.1'], /--http: expected a loopback host:port/],
      [['--port', '70000'], /--port: expected an integer/],
      [['--maxpeers', '-1'], /--maxpeers: expected an integer/],
      [['--duration', 'soon'], /--duration: expected a duration/],
      [['--verbosity', 'loud'], /--verbosity: expected/],
      [['--log-format', 'xml'], /--log-format/],
      [['--network', 'mars'], /--network: expected/],
      [['--bootnodes', 'enode://nope'], /--bootnodes:/],
      [['--netrestrict', '10.0.0.0/99'], /--netrestrict:/],
      [['--nat', 'bogus'], /--nat:/],
      [['--bogus'], /unknown option '--bogus'/],
    ]
    const results = await Promise.all(cases.map(([extra]) => runCliAsync([...base, ...extra], 20_000)))
    for (const [i, r] of results.entries()) {
      const [extra, re] = cases[i]!
      assert.equal(r.status, 2, `${extra.join(' ')}: exit ${r.status}\n${r.stderr}`)
      assert.match(r.stderr, re, extra.join(' '))
      assert.equal(r.stdout, '', `${extra.join(' ')} prints nothing on stdout`)
    }
  })
})

/** Poll the async `cond` every 100 ms until true (rejects after `ms`). */
async function untilAsync(cond: () => Promise<boolean>, ms: number, what: string): Promise<void> {
  let ok = false
  const end = Date.now() + ms
  while (!ok) {
    ok = await cond()
    if (ok) break
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 100))
  }
}

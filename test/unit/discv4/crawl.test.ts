/**
 * The crawler on a 30-node memory network with a simulated clock: it finds every node, merges
 * with a known set by geth's liveness rules (re-check, score +1 / halved, removal at 0, recent
 * nodes skipped), keeps to its parallelism and size bounds, stops on timeout and abort; and the
 * nodes.json format round-trips and rejects bad documents.
 */
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { generatePrivateKey, publicKeyFromPrivate } from '../../../src/crypto/index.js'
import {
  Crawler,
  type CrawlTransport,
  crawl,
  Discv4,
  formatNodesJson,
  type MemoryNetwork,
  type NodeSet,
  nodeSetOf,
  parseNodesJson,
} from '../../../src/discv4/index.js'
import { Node } from '../../../src/enode/index.js'
import { ENR } from '../../../src/enr/index.js'
import { type RandomSource, SimulatedClock, seededRandom } from '../../../src/util/index.js'
import { drive, startNetwork } from './helpers.js'

const N = 30

describe('Crawler on a 30-node network', () => {
  const clock = new SimulatedClock()
  let net: MemoryNetwork
  let nodes: Discv4[] = []
  let rnd: RandomSource
  let crawler: Discv4
  let first: NodeSet

  before(async () => {
    ;({ net, nodes, rnd } = await startNetwork(clock, N, 5, 900))
    // Let the network bootstrap a little (not necessarily until every table is full).
    await clock.advance(20_000)
    crawler = await Discv4.start({
      privateKey: generatePrivateKey(rnd),
      conn: net.listen('10.0.9.1', 30303),
      clock,
      random: seededRandom(999),
    })
  })
  after(() => {
    crawler.close()
    for (const n of nodes) n.close()
  })

  const ids = (): string[] => nodes.map((n) => n.self().idHex).sort()

  it('finds every node from one bootnode, with its record and a first check', async () => {
    const progress: number[] = []
    const res = await drive(
      clock,
      crawl(crawler, {
        bootnodes: [nodes[0]!.self()],
        clock,
        random: seededRandom(1),
        onProgress: (p) => progress.push(p.found),
      }),
    )
    assert.equal(res.end, 'done')
    assert.deepEqual([...res.nodes.keys()].sort(), ids())
    assert.ok(!res.nodes.has(crawler.self().idHex), 'the crawler itself is not in the set')
    const now = Math.floor(clock.now() / 1000) * 1000
    for (const n of nodes) {
      const e = res.nodes.get(n.self().idHex)!
      assert.equal(e.score, 1)
      assert.equal(e.node.toString(), n.self().toString(), 'the current signed record')
      assert.ok(e.lastCheck !== undefined && now - e.lastCheck < 60_000)
      assert.equal(e.firstResponse, e.lastCheck)
      assert.equal(e.lastResponse, e.lastCheck)
    }
    assert.equal(res.progress.live, N)
    assert.equal(res.progress.added, N)
    assert.equal(res.progress.found, N)
    assert.ok(progress.length > 0 && progress.at(-1) === N)
    first = res.nodes
    // The file format round-trips.
    const text = formatNodesJson(first)
    const back = parseNodesJson(text)
    assert.equal(formatNodesJson(back), text)
    assert.deepEqual([...back.keys()].sort(), ids())
  })

  it('merges with a known set: re-checks, scores, removes dead nodes, skips recent ones', async () => {
    await clock.advance(11 * 60 * 1000) // past the 10-minute revalidation interval
    const input: NodeSet = new Map(first)
    const dead = (score: number, lastCheck?: number) => {
      const key = generatePrivateKey(rnd)
      const record = new ENR()
        .setSeq(3n)
        .setIp('10.0.5.5')
        .setUdp(30303 + score)
        .sign(key)
      const node = Node.fromRecord(record)
      input.set(node.idHex, {
        node,
        score,
        firstResponse: 1_600_000_000_000,
        lastResponse: 1_600_000_000_000,
        lastCheck,
      })
      return node.idHex
    }
    const deadOne = dead(1, 1_600_000_000_000)
    const deadFour = dead(4, 1_600_000_000_000)
    const deadZero = dead(0)
    const recentDead = dead(2, clock.now() - 60_000)
    const res = await drive(
      clock,
      new Crawler(crawler, { input, clock, random: seededRandom(2), parallel: 8 }).run(),
    )
    assert.equal(res.end, 'done')
    assert.ok(!res.nodes.has(deadOne), 'score 1 halves to 0: removed')
    assert.equal(res.nodes.get(deadFour)?.score, 2, 'score 4 halves to 2')
    assert.ok((res.nodes.get(deadFour)?.lastCheck ?? 0) > 1_600_000_000_000)
    assert.equal(res.nodes.get(deadFour)?.lastResponse, 1_600_000_000_000)
    assert.deepEqual(res.nodes.get(deadZero), input.get(deadZero), 'score 0: left as it was')
    assert.deepEqual(res.nodes.get(recentDead), input.get(recentDead), 'checked recently: not checked')
    for (const id of ids()) {
      const e = res.nodes.get(id)!
      const before = first.get(id)!
      assert.equal(e.score, 2)
      assert.equal(e.firstResponse, before.firstResponse)
      assert.ok(e.lastCheck! > before.lastCheck!)
      assert.equal(e.lastResponse, e.lastCheck)
    }
    assert.equal(res.progress.removed, 1)
    assert.equal(res.progress.skippedRecent, 1)
    assert.equal(res.progress.skippedIncompatible, 1)
    assert.equal(res.progress.updated, N + 1)
    assert.equal(res.progress.added, 0)
    assert.equal(res.nodes.size, N + 3)
  })

  it('a second crawl right away re-checks nothing but still walks the network', async () => {
    const input = new Map(first)
    for (const [id, e] of input) input.set(id, { ...e, lastCheck: clock.now() })
    const res = await drive(clock, crawl(crawler, { input, clock, random: seededRandom(3) }))
    assert.equal(res.progress.skippedRecent, N)
    assert.equal(res.progress.live, 0)
    assert.deepEqual(res.nodes, input)
  })

  it('keeps to the parallelism bound', async () => {
    let inFlight = 0
    let max = 0
    const track = async <T>(p: () => Promise<T>): Promise<T> => {
      inFlight++
      max = Math.max(max, inFlight)
      try {
        return await p()
      } finally {
        inFlight--
      }
    }
    // Each worker has one request out at a time, so requests in flight = busy workers.
    const counting: CrawlTransport = {
      requestENR: (n, o) => track(() => crawler.requestENR(n, o)),
      findNode: (n, t, o) => track(() => crawler.findNode(n, t, o)),
      self: () => crawler.self(),
    }
    const res = await drive(
      clock,
      crawl(counting, { bootnodes: [nodes[0]!.self()], clock, random: seededRandom(4), parallel: 4 }),
    )
    assert.equal(res.nodes.size, N)
    assert.equal(max, 4)
  })

  it('keeps to the size bound', async () => {
    const res = await drive(
      clock,
      crawl(crawler, { bootnodes: [nodes[0]!.self()], clock, random: seededRandom(5), maxNodes: 10 }),
    )
    assert.ok(res.nodes.size <= 10 && res.nodes.size > 0)
    assert.ok(res.progress.found <= 10)
    assert.ok(res.progress.dropped > 0)
    assert.throws(() => new Crawler(crawler, { input: first, maxNodes: 5 }), /more than maxNodes/)
  })

  it('stops at the timeout and on abort, keeping the set', async () => {
    // A transport whose requests never answer until aborted.
    const hang = (o?: { signal?: AbortSignal }): Promise<never> =>
      new Promise((_r, reject) => o?.signal?.addEventListener('abort', () => reject(new Error('aborted'))))
    const silent: CrawlTransport = { requestENR: (_n, o) => hang(o), findNode: (_n, _t, o) => hang(o) }
    const input = new Map(first)
    const t0 = clock.now()
    const res = await drive(clock, crawl(silent, { input, clock, timeoutMs: 5000 }))
    assert.equal(res.end, 'timeout')
    assert.ok(clock.now() - t0 >= 5000 && clock.now() - t0 < 6000)
    assert.deepEqual(res.nodes, input, 'cut-short requests count for nothing')
    const ac = new AbortController()
    const p = crawl(silent, { input, clock, signal: ac.signal })
    await clock.advance(100)
    ac.abort()
    const r2 = await drive(clock, p)
    assert.equal(r2.end, 'aborted')
    assert.equal(r2.nodes.size, input.size)
    assert.throws(() => new Crawler(silent, { parallel: 0 }), RangeError)
  })
})

describe('nodes.json', () => {
  const key = generatePrivateKey(seededRandom(11))
  const record = new ENR().setSeq(7n).setIp('192.0.2.1').setUdp(30303).setTcp(30303).sign(key)
  const node = Node.fromRecord(record)

  it("writes geth's layout: sorted ids, 4-space indent, score left out at 0, Go zero times", () => {
    const set = nodeSetOf([node])
    const text = formatNodesJson(set)
    assert.equal(
      text,
      `{\n    "${node.idHex}": {\n        "seq": 7,\n        "record": "${record.toText()}",\n` +
        '        "firstResponse": "0001-01-01T00:00:00Z",\n        "lastResponse": "0001-01-01T00:00:00Z",\n' +
        '        "lastCheck": "0001-01-01T00:00:00Z"\n    }\n}',
    )
    assert.equal(formatNodesJson(new Map()), '{}')
    const back = parseNodesJson(text).get(node.idHex)!
    assert.equal(back.score, 0)
    assert.equal(back.lastCheck, undefined)
    const t = Date.UTC(2024, 4, 1, 12, 30, 15)
    const full = formatNodesJson(
      new Map([
        [node.idHex, { node, score: 3, firstResponse: t, lastResponse: t + 1500, lastCheck: t + 1999 }],
      ]),
    )
    assert.match(full, /"score": 3,\n {8}"firstResponse": "2024-05-01T12:30:15Z"/)
    assert.match(full, /"lastCheck": "2024-05-01T12:30:16Z"/)
  })

  it("reads geth's files (times with offsets and fractions) and rejects bad ones", () => {
    const doc = {
      [node.idHex]: {
        seq: 7,
        record: record.toText(),
        score: 2,
        firstResponse: '2024-05-01T14:30:15+02:00',
        lastResponse: '2024-05-01T12:30:15.5Z',
        lastCheck: '0001-01-01T00:00:00Z',
      },
    }
    const e = parseNodesJson(JSON.stringify(doc)).get(node.idHex)!
    assert.equal(e.firstResponse, Date.UTC(2024, 4, 1, 12, 30, 15))
    assert.equal(e.lastCheck, undefined)
    assert.equal(e.node.seq, 7n)
    const other = Node.fromPublicKey(publicKeyFromPrivate(generatePrivateKey(seededRandom(12))))
    const bad = (v: unknown, re: RegExp): void => assert.throws(() => parseNodesJson(JSON.stringify(v)), re)
    assert.throws(() => parseNodesJson('{'), /not JSON/)
    bad([], /JSON object/)
    bad({ xyz: doc[node.idHex] }, /not a node id/)
    bad({ [other.idHex]: doc[node.idHex] }, /belongs to node/)
    bad({ [node.idHex]: { record: 'enr:xyz' } }, /invalid record/)
    bad({ [node.idHex]: { record: record.toText(), score: -1 } }, /score/)
    bad({ [node.idHex]: { record: record.toText(), lastCheck: 'yesterday' } }, /lastCheck/)
    assert.throws(() => parseNodesJson(JSON.stringify(doc), 0), /more than 0 nodes/)
  })
})

/**
 * Many discovery nodes on one in-memory network with a simulated clock: a network bootstraps
 * from one bootnode until every table holds every node, lookups find the true closest nodes
 * (also with packet loss), the random-node iterator streams nodes and stops on abort, and a
 * restarted node comes back from its database seeds alone.
 */
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { generatePrivateKey, keccak256 } from '../../../src/crypto/index.js'
import { Discv4, type MemoryNetwork, Table } from '../../../src/discv4/index.js'
import { type Node, NodeDB } from '../../../src/enode/index.js'
import { type RandomSource, SimulatedClock, seededRandom } from '../../../src/util/index.js'
import { drive, startNetwork } from './helpers.js'

const N = 30

describe('a 30-node network', () => {
  const clock = new SimulatedClock()
  let net: MemoryNetwork
  let nodes: Discv4[] = []
  let rnd: RandomSource

  before(async () => {
    ;({ net, nodes, rnd } = await startNetwork(clock, N, 3, 500))
  })
  after(() => {
    for (const n of nodes) n.close()
  })

  it('bootstraps from one bootnode until every table holds all other nodes', async () => {
    const full = (): boolean => nodes.every((n) => n.tableNodes().length === N - 1)
    for (let i = 0; i < 600 && !full(); i++) await clock.advance(100)
    assert.ok(full(), `table sizes ${nodes.map((n) => n.tableNodes().length).join(',')}`)
  })

  it('lookups find the 16 closest nodes to random targets', async () => {
    const all = nodes.map((n) => n.self())
    let hits = 0
    const L = 10
    for (let i = 0; i < L; i++) {
      const src = nodes[rnd.int(N)]!
      const target = rnd.bytes(64)
      const truth = Table.byDistance(
        keccak256(target),
        all.filter((n) => n.idHex !== src.self().idHex),
      ).slice(0, 16)
      const res = await drive(clock, src.lookup(target))
      assert.equal(res.length, 16)
      const got = new Set(res.map((n) => n.idHex))
      hits += truth.filter((n) => got.has(n.idHex)).length
    }
    assert.ok(hits / (L * 16) >= 0.95, `hit rate ${hits / (L * 16)}`)
  })

  it('with 20 % packet loss lookups still return mostly the right nodes', async () => {
    net.setLoss(0.2)
    try {
      const all = nodes.map((n) => n.self())
      let hits = 0
      for (let i = 0; i < 5; i++) {
        const src = nodes[rnd.int(N)]!
        const target = rnd.bytes(64)
        const truth = Table.byDistance(
          keccak256(target),
          all.filter((n) => n.idHex !== src.self().idHex),
        ).slice(0, 16)
        const got = new Set((await drive(clock, src.lookup(target))).map((n) => n.idHex))
        hits += truth.filter((n) => got.has(n.idHex)).length
      }
      assert.ok(hits / 80 >= 0.75, `hit rate ${hits / 80}`)
    } finally {
      net.setLoss(0)
    }
  })

  it('randomNodes streams nodes for a dialer and ends when aborted', async () => {
    const src = nodes[5]!
    const ac = new AbortController()
    const seen = new Set<string>()
    const consume = (async () => {
      for await (const n of src.randomNodes({ signal: ac.signal })) {
        seen.add(n.idHex)
        if (seen.size >= 20) ac.abort()
      }
    })()
    await drive(clock, consume)
    assert.ok(seen.size >= 20)
    assert.ok(!seen.has(src.self().idHex))
  })

  it('readRandomNodes returns distinct table nodes', () => {
    const r = nodes[7]!.readRandomNodes(10)
    assert.equal(r.length, 10)
    assert.equal(new Set(r.map((n) => n.idHex)).size, 10)
  })

  it('a restarted node finds its way back from database seeds alone', async () => {
    const db = NodeDB.open(undefined, { clock, random: seededRandom(8) })
    const key = generatePrivateKey(rnd)
    const first = await Discv4.start({
      privateKey: key,
      conn: net.listen('10.0.2.1', 30303),
      clock,
      db,
      random: seededRandom(77),
      bootnodes: [nodes[0]!.self()],
    })
    // Let revalidation confirm nodes often enough for them to become seeds (> 5 checks).
    for (let i = 0; i < 300; i++) await clock.advance(1000)
    first.close()
    assert.ok(db.size() > 0, 'seeds stored')
    const second = await Discv4.start({
      privateKey: key,
      conn: net.listen('10.0.2.1', 30303),
      clock,
      db,
      random: seededRandom(78),
    })
    try {
      const seeded = second.tableNodes().length
      assert.ok(seeded > 0, 'seeds loaded at start')
      await clock.advance(5000)
      assert.ok(second.tableNodes().length >= seeded)
      const found: Node[] = await drive(clock, second.lookupRandom())
      assert.equal(found.length, 16)
    } finally {
      second.close()
      db.close()
    }
  })
})

/** Lookups on a synthetic Kademlia graph (no sockets): convergence, α, self, abort; NodesByDistance. */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import { generatePrivateKey, publicKeyFromPrivate } from '../../../src/crypto/index.js'
import { ALPHA, Lookup, NodesByDistance, Table } from '../../../src/discv4/index.js'
import { distCmp, logDistance, Node } from '../../../src/enode/index.js'
import { isAbortError, seededRandom } from '../../../src/util/index.js'

const r = seededRandom(21)
const NODES: Node[] = Array.from({ length: 200 }, (_, i) =>
  Node.fromPublicKey(publicKeyFromPrivate(generatePrivateKey(r)), {
    ip: `10.1.${i >> 8}.${i & 255}`,
    udp: 30303,
  }),
)

/** What node `n` knows: a Kademlia-like view (its closest nodes plus a few per distance range). */
const VIEW = new Map<string, Node[]>()
for (const n of NODES) {
  const others = NODES.filter((m) => m !== n)
  const byDist = new Map<number, Node[]>()
  for (const m of others) {
    const d = logDistance(n.id, m.id)
    const list = byDist.get(d) ?? []
    if (list.length < 16) list.push(m)
    byDist.set(d, list)
  }
  VIEW.set(n.idHex, [...byDist.values()].flat())
}

function answer(n: Node, target: Uint8Array): Node[] {
  return Table.byDistance(target, VIEW.get(n.idHex) ?? []).slice(0, 16)
}

describe('NodesByDistance', () => {
  it('keeps the closest `max`, sorted (property)', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 32, maxLength: 32 }),
        fc.array(fc.nat(NODES.length - 1), { maxLength: 60 }),
        (target, idx) => {
          const nd = new NodesByDistance(target, 16)
          const uniq = [...new Set(idx)].map((i) => NODES[i]!)
          for (const n of uniq) nd.push(n)
          const want = Table.byDistance(target, uniq).slice(0, 16)
          assert.deepEqual(
            nd.entries.map((n) => n.idHex),
            want.map((n) => n.idHex),
          )
          for (let i = 1; i < nd.length; i++)
            assert.ok(distCmp(target, nd.entries[i - 1]!.id, nd.entries[i]!.id) <= 0)
        },
      ),
      { numRuns: 100 },
    )
  })
})

describe('Lookup', () => {
  it('converges on the true closest nodes, with at most α queries in flight', async () => {
    const self = NODES[0]!
    let hits = 0
    for (let k = 0; k < 20; k++) {
      const target = seededRandom(100 + k).bytes(32)
      let inFlight = 0
      let maxInFlight = 0
      const asked: string[] = []
      const lk = new Lookup({
        target,
        selfId: self.id,
        seed: (t, n) => answer(self, t).slice(0, n),
        query: async (n) => {
          asked.push(n.idHex)
          inFlight++
          maxInFlight = Math.max(maxInFlight, inFlight)
          await Promise.resolve()
          inFlight--
          return answer(n, target)
        },
        signal: new AbortController().signal,
      })
      const res = await lk.run()
      assert.ok(maxInFlight <= ALPHA)
      assert.equal(new Set(asked).size, asked.length, 'no node asked twice')
      assert.ok(!asked.includes(self.idHex), 'never asks itself')
      assert.ok(!res.some((n) => n.idHex === self.idHex), 'never returns itself')
      assert.equal(res.length, 16)
      const truth = Table.byDistance(
        target,
        NODES.filter((n) => n !== self),
      ).slice(0, 16)
      const got = new Set(res.map((n) => n.idHex))
      hits += truth.filter((n) => got.has(n.idHex)).length
    }
    assert.ok(hits / (20 * 16) > 0.9, `hit rate ${hits / 320}`)
  })

  it('advance() hands out only nodes not seen before, then undefined', async () => {
    const self = NODES[1]!
    const target = seededRandom(5).bytes(32)
    const lk = new Lookup({
      target,
      selfId: self.id,
      seed: (t, n) => answer(self, t).slice(0, n),
      query: async (n) => answer(n, target),
      signal: new AbortController().signal,
    })
    const seen = new Set<string>()
    for (let b = await lk.advance(); b !== undefined; b = await lk.advance()) {
      assert.ok(b.length > 0)
      for (const n of b) {
        assert.ok(!seen.has(n.idHex))
        seen.add(n.idHex)
      }
    }
    assert.equal(await lk.advance(), undefined)
  })

  it('failing queries count as empty answers; an empty table ends at once', async () => {
    const self = NODES[2]!
    const lk = new Lookup({
      target: self.id,
      selfId: self.id,
      seed: (t, n) => answer(self, t).slice(0, n),
      query: async () => {
        throw new Error('timeout')
      },
      signal: new AbortController().signal,
    })
    const res = await lk.run()
    assert.equal(res.length, 16, 'the table answer remains the result')
    const empty = new Lookup({
      target: self.id,
      selfId: self.id,
      seed: () => [],
      query: async () => [],
      signal: new AbortController().signal,
    })
    assert.deepEqual(await empty.run(), [])
  })

  it('aborting rejects advance() with the abort reason', async () => {
    const self = NODES[3]!
    const ac = new AbortController()
    const lk = new Lookup({
      target: self.id,
      selfId: self.id,
      seed: (t, n) => answer(self, t).slice(0, n),
      query: () => new Promise<Node[]>(() => {}),
      signal: ac.signal,
    })
    const p = lk.run()
    await Promise.resolve()
    ac.abort()
    await assert.rejects(p, (e: unknown) => isAbortError(e))
  })
})

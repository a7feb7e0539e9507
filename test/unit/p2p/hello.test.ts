import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import {
  decodeDisconnect,
  decodeHello,
  encodeDisconnect,
  encodeHello,
  exchangeHello,
  type Hello,
} from '../../../src/p2p/hello.js'
import { transportPipe } from '../../../src/p2p/msg.js'
import { DisconnectError, DiscReason, discReasonText } from '../../../src/p2p/peer-error.js'
import { encode } from '../../../src/rlp/index.js'
import { DecodeError, fromHex, SimulatedClock, TimeoutError, toHex } from '../../../src/util/index.js'
import { loadVectors } from '../../helpers/vectors.js'

interface HelloCase {
  name: string
  payload: string
  expected: {
    protocolVersion: number
    clientId: string
    capabilities: [string, number][]
    listenPort: number
    nodeId: string
    rest_rlp: string[]
  }
}
const vectors = loadVectors<{ cases: HelloCase[] }>('devp2p-hello.json')

const hello = (id: Uint8Array, version = 5): Hello => ({
  version,
  name: 'test/v1',
  caps: [{ name: 'test', version: 1 }],
  listenPort: 0,
  id,
  rest: [],
})
const key = (n: number): Uint8Array => new Uint8Array(64).fill(n)

describe('Hello codec', () => {
  for (const c of vectors.cases) {
    it(`decodes ${c.name}`, () => {
      const h = decodeHello(fromHex(c.payload))
      assert.equal(h.version, c.expected.protocolVersion)
      assert.equal(h.name, c.expected.clientId)
      assert.deepEqual(
        h.caps.map((x) => [x.name, x.version]),
        c.expected.capabilities,
      )
      assert.equal(h.listenPort, c.expected.listenPort)
      assert.equal(toHex(h.id), c.expected.nodeId)
      assert.deepEqual(
        h.rest.map((r) => toHex(encode(r))),
        c.expected.rest_rlp,
      )
      assert.equal(toHex(encodeHello(h)), c.payload, 're-encodes to the same bytes')
    })
  }
  it('round trips random hellos', () => {
    fc.assert(
      fc.property(
        fc.nat({ max: 2 ** 32 }),
        fc.string({ maxLength: 40 }),
        fc.array(
          fc.record({ name: fc.string({ minLength: 1, maxLength: 8 }), version: fc.nat({ max: 1000 }) }),
          {
            maxLength: 6,
          },
        ),
        fc.uint8Array({ minLength: 64, maxLength: 64 }),
        (version, name, caps, id) => {
          const h = decodeHello(encodeHello({ version, name, caps, listenPort: 30303, id }))
          assert.equal(h.version, version)
          assert.deepEqual(
            h.caps,
            caps.map((c) => ({ ...c })),
          )
          assert.deepEqual(h.id, id)
        },
      ),
    )
  })
  it('shares client names and frozen capability lists between Hellos that carry the same', () => {
    const id = new Uint8Array(64).fill(1)
    const caps = [
      { name: 'eth', version: 68 },
      { name: 'snap', version: 1 },
    ]
    const a = decodeHello(encodeHello({ version: 5, name: 'Geth/v1.14', caps, listenPort: 0, id }))
    const b = decodeHello(encodeHello({ version: 5, name: 'Geth/v1.14', caps, listenPort: 0, id }))
    assert.equal(a.caps, b.caps, 'one list for both')
    assert.ok(Object.isFrozen(a.caps) && a.caps.every((c) => Object.isFrozen(c)))
    assert.deepEqual(a.caps, caps)
    assert.equal(a.name, b.name)
    const other = decodeHello(encodeHello({ version: 5, name: 'x', caps: caps.slice(1), listenPort: 0, id }))
    assert.deepEqual(other.caps, caps.slice(1))
    // Lists whose names contain the separators never share an entry.
    const tricky = [{ name: 'a/1;1:b', version: 2 }]
    const plain = [
      { name: 'a', version: 1 },
      { name: 'b', version: 2 },
    ]
    for (const list of [tricky, plain, tricky])
      assert.deepEqual(
        decodeHello(encodeHello({ version: 5, name: '', caps: list, listenPort: 0, id })).caps,
        list,
      )
  })
  it('keeps its intern tables bounded: thousands of distinct names and lists still decode right', () => {
    const id = new Uint8Array(64).fill(1)
    for (let i = 0; i < 2000; i++) {
      const caps = [{ name: `c${i}`, version: i }]
      const h = decodeHello(encodeHello({ version: 5, name: `client-${i}`, caps, listenPort: 0, id }))
      assert.equal(h.name, `client-${i}`)
      assert.deepEqual(h.caps, caps)
    }
  })
  it('rejects oversized and malformed hellos with DecodeError only', () => {
    assert.throws(() => decodeHello(new Uint8Array(2049)), DecodeError)
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (b) => {
        try {
          decodeHello(b)
        } catch (e) {
          assert.ok(e instanceof DecodeError, String(e))
        }
      }),
    )
  })
})

describe('Disconnect codec', () => {
  it('encodes [reason] and decodes list, bare byte and empty forms leniently', () => {
    assert.equal(toHex(encodeDisconnect(DiscReason.TooManyPeers)), 'c104')
    assert.equal(decodeDisconnect(fromHex('c104')), DiscReason.TooManyPeers)
    assert.equal(decodeDisconnect(fromHex('04')), DiscReason.TooManyPeers)
    assert.equal(decodeDisconnect(fromHex('c180')), DiscReason.Requested)
    assert.equal(decodeDisconnect(fromHex('80')), DiscReason.Requested)
    assert.equal(decodeDisconnect(fromHex('c0')), DiscReason.Requested)
    assert.equal(decodeDisconnect(fromHex('c110')), DiscReason.SubprotocolError)
    assert.equal(decodeDisconnect(fromHex('c10c')), DiscReason.Invalid, 'unknown code')
    assert.equal(decodeDisconnect(fromHex('ff')), DiscReason.Invalid, 'undecodable')
    assert.equal(decodeDisconnect(fromHex('c3820101')), DiscReason.Invalid)
    assert.equal(discReasonText(DiscReason.TooManyPeers), 'too many peers')
  })
  it('never throws on random bytes', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 20 }), (b) => void decodeDisconnect(b)))
  })
})

describe('exchangeHello', () => {
  it('exchanges hellos and checks the identity against the handshake key', async () => {
    const clock = new SimulatedClock()
    const [a, b] = transportPipe()
    const [ha, hb] = await Promise.all([
      exchangeHello(a, hello(key(1)), { clock, remotePublicKey: key(2) }),
      exchangeHello(b, hello(key(2)), { clock, remotePublicKey: key(1) }),
    ])
    assert.deepEqual(ha.id, key(2))
    assert.deepEqual(hb.id, key(1))
    assert.equal(clock.pendingTimers, 0)
  })
  it('rejects a wrong or null identity', async () => {
    const clock = new SimulatedClock()
    const [a, b] = transportPipe()
    const pa = exchangeHello(a, hello(key(1)), { clock, remotePublicKey: key(9) })
    const pb = exchangeHello(b, hello(key(2)), { clock })
    await assert.rejects(
      pa,
      (e) => e instanceof DisconnectError && e.reason === DiscReason.UnexpectedIdentity,
    )
    await pb
    const [c, d] = transportPipe()
    const pc = exchangeHello(c, hello(key(1)), { clock })
    const pd = exchangeHello(d, hello(new Uint8Array(64)), { clock })
    await assert.rejects(pc, (e) => e instanceof DisconnectError && e.reason === DiscReason.InvalidIdentity)
    await pd
  })
  it('surfaces a Disconnect sent instead of a Hello', async () => {
    const clock = new SimulatedClock()
    const [a, b] = transportPipe()
    const pa = exchangeHello(a, hello(key(1)), { clock })
    await b.readMsg()
    await b.writeMsg(1, encodeDisconnect(DiscReason.TooManyPeers))
    await assert.rejects(
      pa,
      (e) => e instanceof DisconnectError && e.reason === DiscReason.TooManyPeers && e.side === 'remote',
    )
  })
  it('times out on a silent peer', async () => {
    const clock = new SimulatedClock()
    const [a, b] = transportPipe()
    void b.readMsg()
    const pa = exchangeHello(a, hello(key(1)), { clock, timeoutMs: 5000 })
    await clock.advance(5000)
    await assert.rejects(pa, TimeoutError)
    assert.equal(clock.pendingTimers, 0)
  })
  it('with timeoutMs Infinity, runs under the signal of the caller only (no timer of its own)', async () => {
    const clock = new SimulatedClock()
    const [a, b] = transportPipe()
    void b.readMsg()
    const ac = new AbortController()
    const pa = exchangeHello(a, hello(key(1)), {
      clock,
      timeoutMs: Number.POSITIVE_INFINITY,
      signal: ac.signal,
    })
    pa.catch(() => {})
    assert.equal(clock.pendingTimers, 0)
    await clock.advance(60_000)
    ac.abort(new TimeoutError('setup timed out', 5000))
    await assert.rejects(pa, TimeoutError)
    const [c, d] = transportPipe()
    const [hc] = await Promise.all([
      exchangeHello(c, hello(key(1)), {
        clock,
        timeoutMs: Number.POSITIVE_INFINITY,
        signal: new AbortController().signal,
      }),
      exchangeHello(d, hello(key(2)), { clock }),
    ])
    assert.deepEqual(hc.id, key(2))
    assert.equal(clock.pendingTimers, 0)
  })
  it('switches snappy on only when both versions are >= 5', async () => {
    for (const [va, vb, want] of [
      [5, 5, true],
      [5, 4, false],
      [4, 5, false],
    ] as const) {
      const clock = new SimulatedClock()
      const [a, b] = transportPipe()
      let snappyA = false
      a.setSnappy = (on) => {
        snappyA = on
      }
      await Promise.all([
        exchangeHello(a, hello(key(1), va), { clock }),
        exchangeHello(b, hello(key(2), vb), { clock }),
      ])
      assert.equal(snappyA, want, `${va}/${vb}`)
    }
  })
})

import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { keccak256 } from '../../../src/crypto/index.js'
import { BaseMsg, decodeDisconnect, encodeDisconnect, type Hello } from '../../../src/p2p/hello.js'
import { expectMsg, type MsgReadWriter, type MsgTransport, transportPipe } from '../../../src/p2p/msg.js'
import { Peer, type PeerEnd } from '../../../src/p2p/peer.js'
import { DisconnectError, DiscReason, PeerProtocolError } from '../../../src/p2p/peer-error.js'
import { matchProtocols, type Protocol, type ProtocolPeer } from '../../../src/p2p/protocol.js'
import { DecodeError, flushMicrotasks, SimulatedClock, toHex } from '../../../src/util/index.js'
import { deferred } from '../../helpers/p2p.js'

const key = (n: number): Uint8Array => new Uint8Array(64).fill(n)
const EMPTY_LIST = Uint8Array.of(0xc0)
const hello = (n: number, caps = [{ name: 'test', version: 1 }]): Hello => ({
  version: 5,
  name: `node${n}`,
  caps,
  listenPort: 0,
  id: key(n),
  rest: [],
})

function proto(run: (p: ProtocolPeer, rw: MsgReadWriter) => Promise<void>, length = 4): Protocol {
  return { name: 'test', version: 1, length, run }
}

/** A peer on one end of a pipe; the other end is driven by hand. */
function peerWithRaw(
  p: Protocol,
  clock: SimulatedClock,
  config: Partial<{ inboundQueueCapacity: number }> = {},
): { peer: Peer; raw: MsgTransport; transport: MsgTransport } {
  const [t, raw] = transportPipe()
  const peer = new Peer({
    transport: t,
    hello: hello(2),
    protocols: matchProtocols([p], hello(2).caps),
    inbound: false,
    clock,
    config,
  })
  return { peer, raw, transport: t }
}

describe('Peer', () => {
  it('runs a protocol both ways between two peers and ends both with the reason', async () => {
    const clock = new SimulatedClock()
    const [ta, tb] = transportPipe()
    const got: string[] = []
    const echo = proto(async (_p, rw) => {
      for (;;) {
        const m = await rw.readMsg()
        got.push(`b:${m.code}`)
        await rw.writeMsg(m.code + 1, m.payload)
      }
    })
    let aDone!: () => void
    const aFinished = new Promise<void>((r) => {
      aDone = r
    })
    const client = proto(async (p, rw) => {
      // id is the node id (keccak of the key, as geth's Peer.ID()); publicKey the key itself.
      assert.equal(p.id, toHex(keccak256(key(2))))
      assert.equal(p.publicKey, toHex(key(2)))
      await rw.writeMsg(0, Uint8Array.of(0x80))
      const m = await rw.readMsg()
      got.push(`a:${m.code}`)
      aDone()
      await new Promise((_, reject) => p.signal.addEventListener('abort', () => reject(p.signal.reason)))
    })
    const a = new Peer({
      transport: ta,
      hello: hello(2),
      protocols: matchProtocols([client], hello(2).caps),
      inbound: false,
      clock,
    })
    const b = new Peer({
      transport: tb,
      hello: hello(1),
      protocols: matchProtocols([echo], hello(1).caps),
      inbound: true,
      clock,
    })
    const ea = a.run()
    const eb = b.run()
    await aFinished
    assert.deepEqual(got, ['b:0', 'a:1'])
    assert.equal(a.runningProtocols[0]?.offset, 16)
    a.disconnect(DiscReason.TooManyPeers)
    const [ra, rb] = await Promise.all([ea, eb])
    assert.equal(ra.side, 'local')
    assert.equal(ra.reason, DiscReason.TooManyPeers)
    assert.equal(rb.side, 'remote')
    assert.equal(rb.reason, DiscReason.TooManyPeers)
    assert.ok(rb.error instanceof DisconnectError)
    assert.equal(clock.pendingTimers, 0, 'ping timers and deadlines cleaned up')
  })

  it('answers Ping with Pong and pings every 15 s', async () => {
    const clock = new SimulatedClock()
    const { peer, raw } = peerWithRaw(
      proto(() => new Promise(() => {})),
      clock,
    )
    void peer.run()
    await raw.writeMsg(BaseMsg.Ping, Uint8Array.of(0xc0))
    await expectMsg(raw, BaseMsg.Pong, Uint8Array.of(0xc0))
    await clock.advance(15_000)
    await expectMsg(raw, BaseMsg.Ping, Uint8Array.of(0xc0))
    peer.disconnect(DiscReason.Requested)
    const m = await raw.readMsg()
    assert.equal(m.code, BaseMsg.Disconnect)
    assert.equal(decodeDisconnect(m.payload), DiscReason.Requested)
  })

  it('drops a peer that sends a code outside every protocol with ProtocolError', async () => {
    const clock = new SimulatedClock()
    const { peer, raw } = peerWithRaw(
      proto(() => new Promise(() => {})),
      clock,
    )
    const end = peer.run()
    await raw.writeMsg(16 + 4, Uint8Array.of(0xc0))
    const m = await raw.readMsg()
    assert.equal(m.code, BaseMsg.Disconnect)
    assert.equal(decodeDisconnect(m.payload), DiscReason.ProtocolError)
    const e = await end
    assert.equal(e.reason, DiscReason.ProtocolError)
    assert.ok(e.error instanceof PeerProtocolError)
  })

  it('ends with Quitting when the protocol returns, and SubprotocolError when it throws', async () => {
    const clock = new SimulatedClock()
    const a = peerWithRaw(
      proto(async () => {}),
      clock,
    )
    const ea = a.peer.run()
    assert.equal(decodeDisconnect((await a.raw.readMsg()).payload), DiscReason.Quitting)
    assert.equal((await ea).reason, DiscReason.Quitting)
    const b = peerWithRaw(
      proto(async () => {
        throw new Error('boom')
      }),
      clock,
    )
    const eb = b.peer.run()
    assert.equal(decodeDisconnect((await b.raw.readMsg()).payload), DiscReason.SubprotocolError)
    assert.equal((await eb).reason, DiscReason.SubprotocolError)
  })

  it('records a remote Disconnect and ignores codes below 16 it does not know', async () => {
    const clock = new SimulatedClock()
    const { peer, raw } = peerWithRaw(
      proto(() => new Promise(() => {})),
      clock,
    )
    const end = peer.run()
    await raw.writeMsg(BaseMsg.Pong, Uint8Array.of(0xc0))
    await raw.writeMsg(0x0e, Uint8Array.of(0xc0))
    await raw.writeMsg(BaseMsg.Disconnect, encodeDisconnect(DiscReason.UselessPeer))
    const e = await end
    assert.equal(e.side, 'remote')
    assert.equal(e.reason, DiscReason.UselessPeer)
  })

  it('rejects protocol writes with codes beyond its length', async () => {
    const clock = new SimulatedClock()
    let err: unknown
    const { peer } = peerWithRaw(
      proto(async (_p, rw) => {
        try {
          await rw.writeMsg(4, Uint8Array.of(0xc0))
        } catch (e) {
          err = e
        }
        await new Promise(() => {})
      }),
      clock,
    )
    void peer.run()
    await flushMicrotasks()
    assert.ok(err instanceof PeerProtocolError)
    peer.disconnect()
  })

  it('pauses reading from the socket while a protocol queue is full', async () => {
    const clock = new SimulatedClock()
    const { promise: gate, release } = deferred()
    const seen: number[] = []
    const { peer, raw } = peerWithRaw(
      proto(async (_p, rw) => {
        await gate
        for (;;) seen.push((await rw.readMsg()).code)
      }),
      clock,
      { inboundQueueCapacity: 2 },
    )
    void peer.run()
    const delivered: number[] = []
    for (let i = 0; i < 4; i++)
      void raw.writeMsg(16 + (i % 4), Uint8Array.of(0xc0)).then(() => delivered.push(i))
    await flushMicrotasks(100)
    // Two fill the queue, the third is held by the read loop: the fourth is not read at all.
    assert.deepEqual(delivered, [0, 1, 2])
    release()
    await flushMicrotasks(100)
    assert.deepEqual(delivered, [0, 1, 2, 3])
    assert.deepEqual(seen, [0, 1, 2, 3])
    peer.disconnect()
  })
})

describe('Peer: handler-style protocols (onMsg)', () => {
  function handlerPeer(
    onMsg: Protocol['onMsg'],
    clock: SimulatedClock,
  ): { peer: Peer; raw: MsgTransport; end: Promise<PeerEnd> } {
    const { peer, raw } = peerWithRaw({ name: 'test', version: 1, length: 4, onMsg }, clock)
    return { peer, raw, end: peer.run() }
  }

  it('gets each message in order with the peer and a writer, and answers through it', async () => {
    const clock = new SimulatedClock()
    const seen: number[] = []
    const { peer, raw } = handlerPeer((msg, p, rw) => {
      seen.push(msg.code)
      assert.equal(p.publicKey, toHex(key(2)))
      return rw.writeMsg((msg.code + 1) % 4, msg.payload)
    }, clock)
    // (A pipe's write resolves once the other end reads: the test reads each answer in turn.)
    for (let i = 0; i < 6; i++) {
      await raw.writeMsg(16 + (i % 3), Uint8Array.of(0xc1, i))
      await expectMsg(raw, 16 + ((i % 3) + 1), Uint8Array.of(0xc1, i))
    }
    assert.deepEqual(seen, [0, 1, 2, 0, 1, 2])
    assert.equal(peer.isRunning, true, 'a handler protocol runs as long as the peer')
    peer.disconnect()
  })

  it('holds the next message until a returned promise settles', async () => {
    const clock = new SimulatedClock()
    const { promise: gate, release } = deferred()
    const seen: number[] = []
    const { peer, raw } = handlerPeer((msg) => {
      seen.push(msg.payload[1]!)
      return msg.payload[1] === 0 ? gate : undefined
    }, clock)
    const delivered: number[] = []
    for (let i = 0; i < 3; i++) void raw.writeMsg(16, Uint8Array.of(0xc1, i)).then(() => delivered.push(i))
    await flushMicrotasks(100)
    assert.deepEqual(seen, [0], 'the first handler has not settled')
    release()
    await flushMicrotasks(100)
    assert.deepEqual(seen, [0, 1, 2])
    assert.deepEqual(delivered, [0, 1, 2])
    peer.disconnect()
  })

  it('a handler that throws or rejects ends the peer with SubprotocolError; a DecodeError with ProtocolError', async () => {
    const clock = new SimulatedClock()
    const a = handlerPeer(() => {
      throw new Error('boom')
    }, clock)
    await a.raw.writeMsg(16, EMPTY_LIST)
    assert.equal(decodeDisconnect((await a.raw.readMsg()).payload), DiscReason.SubprotocolError)
    assert.equal((await a.end).reason, DiscReason.SubprotocolError)
    const b = handlerPeer(() => Promise.reject(new Error('later')), clock)
    await b.raw.writeMsg(16, EMPTY_LIST)
    assert.equal(decodeDisconnect((await b.raw.readMsg()).payload), DiscReason.SubprotocolError)
    assert.equal((await b.end).reason, DiscReason.SubprotocolError)
    const c = handlerPeer(() => {
      throw new DecodeError('test', 'bad message')
    }, clock)
    await c.raw.writeMsg(16, EMPTY_LIST)
    assert.equal(decodeDisconnect((await c.raw.readMsg()).payload), DiscReason.ProtocolError)
    assert.equal((await c.end).reason, DiscReason.ProtocolError)
  })

  it('readMsg on a handler protocol is refused, and a protocol needs exactly one of run and onMsg', async () => {
    const clock = new SimulatedClock()
    let readErr: unknown
    const { peer, raw } = handlerPeer((_m, _p, rw) => {
      ;(rw as unknown as MsgReadWriter).readMsg().catch((e: unknown) => {
        readErr = e
      })
    }, clock)
    await raw.writeMsg(16, EMPTY_LIST)
    await flushMicrotasks(20)
    assert.ok(readErr instanceof TypeError)
    peer.disconnect()
    const both: Protocol = { name: 'x', version: 1, length: 1, run: async () => {}, onMsg: () => {} }
    const neither: Protocol = { name: 'x', version: 1, length: 1 }
    for (const p of [both, neither]) {
      const [t] = transportPipe()
      assert.throws(
        () =>
          new Peer({
            transport: t,
            hello: hello(2, [{ name: 'x', version: 1 }]),
            protocols: matchProtocols([p], [{ name: 'x', version: 1 }]),
            inbound: false,
            clock,
          }),
        TypeError,
      )
    }
  })
})

/**
 * The Peer over a real RLPx connection (in-memory duplex, simulated clock). RLPx transports have
 * `readMsgOrWait`, so the peer's read loop runs on callbacks rather than an async loop (the pipe
 * tests in peer.test.ts cover the other path): the same behaviour is checked here.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { publicKeyFromPrivate } from '../../../src/crypto/index.js'
import { BaseMsg, decodeDisconnect, encodeDisconnect, type Hello } from '../../../src/p2p/hello.js'
import {
  expectMsg,
  type MsgReadWriter,
  type MsgTransport,
  type TransportMsgReceiver,
} from '../../../src/p2p/msg.js'
import { Peer, type PeerConfig } from '../../../src/p2p/peer.js'
import { DiscReason, PeerProtocolError } from '../../../src/p2p/peer-error.js'
import { matchProtocols, type Protocol, type ProtocolPeer } from '../../../src/p2p/protocol.js'
import { rlpxTransport } from '../../../src/p2p/transport.js'
import { RLPxConn } from '../../../src/rlpx/conn.js'
import { duplexPair } from '../../../src/rlpx/duplex-pair.js'
import { SimulatedClock, seededRandom, TimeoutError } from '../../../src/util/index.js'
import { deferred } from '../../helpers/p2p.js'

const rand = seededRandom(7)
const privA = rand.bytes(32)
const privB = rand.bytes(32)
const EMPTY = Uint8Array.of(0xc0)

const hello = (priv: Uint8Array): Hello => ({
  version: 5,
  name: 'remote',
  caps: [{ name: 'test', version: 1 }],
  listenPort: 0,
  id: publicKeyFromPrivate(priv),
  rest: [],
})

function proto(run: (p: ProtocolPeer, rw: MsgReadWriter) => Promise<void>, length = 4): Protocol {
  return { name: 'test', version: 1, length, run }
}

/** Let in-memory stream events (nextTick / setImmediate) run. */
async function settle(rounds = 10): Promise<void> {
  for (let i = 0; i < rounds; i++) await new Promise((r) => setImmediate(r))
}

/**
 * A Peer on one RLPx connection; the other end (`raw`) is driven by hand. `wrap` puts a
 * wrapper between the peer and its transport.
 */
async function peerOverRlpx(
  p: Protocol,
  clock: SimulatedClock,
  config: Partial<PeerConfig> = {},
  wrap: (t: MsgTransport) => MsgTransport = (t) => t,
): Promise<{ peer: Peer; raw: MsgTransport; rawConn: RLPxConn }> {
  const [sa, sb] = duplexPair()
  const a = new RLPxConn(sa, { clock, random: seededRandom(1) })
  const b = new RLPxConn(sb, { clock, random: seededRandom(2) })
  await Promise.all([
    a.handshake({ privateKey: privA, remotePublicKey: publicKeyFromPrivate(privB) }),
    b.handshake({ privateKey: privB }),
  ])
  const transport = wrap(rlpxTransport(a))
  assert.equal(typeof transport.readMsgOrWait, 'function', 'RLPx transports read without promises')
  const remote = hello(privB)
  const peer = new Peer({
    transport,
    hello: remote,
    protocols: matchProtocols([p], remote.caps),
    inbound: false,
    clock,
    config,
  })
  return { peer, raw: rlpxTransport(b), rawConn: b }
}

describe('Peer over RLPx (callback read loop)', () => {
  it('delivers messages in order to the protocol, which answers', async () => {
    const clock = new SimulatedClock(0)
    const { peer, raw } = await peerOverRlpx(
      proto(async (_p, rw) => {
        for (;;) {
          const m = await rw.readMsg()
          await rw.writeMsg((m.code + 1) % 4, m.payload)
        }
      }),
      clock,
    )
    void peer.run()
    for (let i = 0; i < 20; i++) await raw.writeMsg(16 + (i % 3), Uint8Array.of(0xc1, i))
    for (let i = 0; i < 20; i++) await expectMsg(raw, 16 + ((i % 3) + 1), Uint8Array.of(0xc1, i))
    peer.disconnect(DiscReason.Requested)
    const m = await raw.readMsg()
    assert.equal(m.code, BaseMsg.Disconnect)
    assert.equal(decodeDisconnect(m.payload), DiscReason.Requested)
  })

  it('answers Ping with Pong, pings every 15 s, and records a remote Disconnect', async () => {
    const clock = new SimulatedClock(0)
    const { peer, raw } = await peerOverRlpx(
      proto(() => new Promise(() => {})),
      clock,
    )
    const end = peer.run()
    await raw.writeMsg(BaseMsg.Ping, EMPTY)
    await expectMsg(raw, BaseMsg.Pong, EMPTY)
    await clock.advance(15_000)
    await expectMsg(raw, BaseMsg.Ping, EMPTY)
    await raw.writeMsg(BaseMsg.Pong, EMPTY)
    await raw.writeMsg(0x0e, EMPTY) // an unknown base code: ignored
    await raw.writeMsg(BaseMsg.Disconnect, encodeDisconnect(DiscReason.UselessPeer))
    const e = await end
    assert.equal(e.side, 'remote')
    assert.equal(e.reason, DiscReason.UselessPeer)
    assert.equal(clock.pendingTimers, 0, 'ping timer and read timer cleaned up')
  })

  it('drops a peer that sends a code outside every protocol with ProtocolError', async () => {
    const clock = new SimulatedClock(0)
    const { peer, raw } = await peerOverRlpx(
      proto(() => new Promise(() => {})),
      clock,
    )
    const end = peer.run()
    await raw.writeMsg(16 + 4, EMPTY)
    const m = await raw.readMsg()
    assert.equal(m.code, BaseMsg.Disconnect)
    assert.equal(decodeDisconnect(m.payload), DiscReason.ProtocolError)
    const e = await end
    assert.ok(e.error instanceof PeerProtocolError)
  })

  it('stops reading while a protocol queue is full, and reads on in order once it drains', async () => {
    const clock = new SimulatedClock(0)
    const { promise: gate, release } = deferred()
    const seen: number[] = []
    const { peer, raw, rawConn } = await peerOverRlpx(
      proto(async (_p, rw) => {
        await gate
        for (;;) seen.push((await rw.readMsg()).payload[1]!)
      }),
      clock,
      { inboundQueueCapacity: 2 },
    )
    const end = peer.run()
    for (let i = 0; i < 10; i++) await raw.writeMsg(16, Uint8Array.of(0xc1, i))
    await settle()
    assert.deepEqual(seen, [])
    // Stopped reading is not a stuck read: no read waits, so no read deadline runs.
    await clock.advance(60_000)
    assert.equal(peer.isRunning, true)
    // The remote got our Pings meanwhile; it answers nothing and the peer keeps running.
    release()
    await settle()
    assert.deepEqual(seen, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9])
    peer.disconnect()
    await end
    assert.equal(rawConn.status, 'closed')
  })

  it('a handler-style protocol (onMsg) gets every message in order and answers; a pending handler holds the rest', async () => {
    const clock = new SimulatedClock(0)
    const { promise: gate, release } = deferred()
    const seen: number[] = []
    const handler: Protocol = {
      name: 'test',
      version: 1,
      length: 4,
      onMsg(msg, _p, rw) {
        seen.push(msg.payload[1]!)
        void rw.writeMsg(1, msg.payload)
        return msg.payload[1] === 2 ? gate : undefined
      },
    }
    const { peer, raw } = await peerOverRlpx(handler, clock)
    void peer.run()
    for (let i = 0; i < 8; i++) await raw.writeMsg(16, Uint8Array.of(0xc1, i))
    await settle()
    assert.deepEqual(seen, [0, 1, 2], 'the third handler has not settled')
    release()
    await settle()
    assert.deepEqual(seen, [0, 1, 2, 3, 4, 5, 6, 7])
    for (let i = 0; i < 8; i++) await expectMsg(raw, 17, Uint8Array.of(0xc1, i))
    peer.disconnect()
  })

  it('is its own read receiver: the transport is handed the peer, no object of its own', async () => {
    const clock = new SimulatedClock(0)
    const receivers = new Set<TransportMsgReceiver>()
    let waited = 0
    const { peer, raw } = await peerOverRlpx(
      proto(async (_p, rw) => {
        for (;;) await rw.writeMsg(1, (await rw.readMsg()).payload)
      }),
      clock,
      {},
      (t) => ({
        readMsg: (o) => t.readMsg(o),
        readMsgOrWait: (r) => {
          receivers.add(r)
          const m = t.readMsgOrWait!(r)
          if (m === undefined) waited++
          return m
        },
        writeMsg: (code, payload, o) => t.writeMsg(code, payload, o),
        setSnappy: (on) => t.setSnappy(on),
        close: (err) => t.close(err),
        closeGracefully: (ms) => t.closeGracefully!(ms),
      }),
    )
    const end = peer.run()
    for (let i = 0; i < 3; i++) {
      await raw.writeMsg(16, Uint8Array.of(0xc1, i))
      await expectMsg(raw, 17, Uint8Array.of(0xc1, i))
    }
    assert.ok(waited >= 3, 'the messages came through the callback')
    assert.deepEqual([...receivers], [peer])
    peer.disconnect()
    await end
  })

  it('a read that waits 30 s for a frame ends the peer with a timeout (no Disconnect sent)', async () => {
    const clock = new SimulatedClock(0)
    const { peer } = await peerOverRlpx(
      proto(() => new Promise(() => {})),
      clock,
      { pingIntervalMs: 60_000 },
    )
    const end = peer.run()
    await clock.advance(29_999)
    assert.equal(peer.isRunning, true)
    await clock.advance(1)
    const e = await end
    assert.equal(e.side, 'network')
    assert.ok(e.error instanceof TimeoutError)
  })
})

import assert from 'node:assert/strict'
import { getEventListeners } from 'node:events'
import type { Duplex } from 'node:stream'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import { publicKeyFromPrivate } from '../../../src/crypto/index.js'
import { ConnectionClosedError, RLPxConn, type RLPxConnConfig, type RLPxMsg } from '../../../src/rlpx/conn.js'
import { duplexPair } from '../../../src/rlpx/duplex-pair.js'
import { FrameCodec, FrameMacError } from '../../../src/rlpx/frame.js'
import { ACK_LEGACY_SIZE, InitiatorHandshake, readHandshakePacket } from '../../../src/rlpx/handshake.js'
import { jsSnappy } from '../../../src/rlpx/snappy.js'
import {
  AbortError,
  concatBytes,
  DecodeError,
  HandshakeError,
  SimulatedClock,
  seededRandom,
  TimeoutError,
} from '../../../src/util/index.js'

const rand = seededRandom(42)
const privA = rand.bytes(32)
const privB = rand.bytes(32)
const pubA = publicKeyFromPrivate(privA)
const pubB = publicKeyFromPrivate(privB)
const EMPTY_PAYLOAD = Uint8Array.of(0xc0)

/** Let in-memory stream events (nextTick / setImmediate) run. */
async function settle(rounds = 5): Promise<void> {
  for (let i = 0; i < rounds; i++) await new Promise((r) => setImmediate(r))
}

/** Two connected RLPxConns after a completed handshake. */
async function connectedPair(
  opts: {
    legacy?: boolean
    config?: Partial<RLPxConnConfig>
    highWaterMark?: number
    clock?: SimulatedClock
  } = {},
) {
  const [sa, sb] = duplexPair(opts.highWaterMark !== undefined ? { highWaterMark: opts.highWaterMark } : {})
  const clock = opts.clock ?? new SimulatedClock(0)
  const a = new RLPxConn(sa, { clock, random: seededRandom(1) }, opts.config)
  const b = new RLPxConn(sb, { clock, random: seededRandom(2) }, opts.config)
  const [ka, kb] = await Promise.all([
    a.handshake({ privateKey: privA, remotePublicKey: pubB, legacy: opts.legacy ?? false }),
    b.handshake({ privateKey: privB }),
  ])
  assert.deepEqual(ka, pubB)
  assert.deepEqual(kb, pubA)
  return { a, b, sa, sb, clock }
}

/** Exact reads over a raw duplex end, for hand-driven peers. */
function rawReader(sock: Duplex): (n: number) => Promise<Uint8Array> {
  let buf: Uint8Array = new Uint8Array(0)
  let want: { n: number; resolve: (b: Uint8Array) => void } | undefined
  const flush = (): void => {
    if (want && buf.length >= want.n) {
      const w = want
      want = undefined
      const out = buf.slice(0, w.n)
      buf = buf.slice(w.n)
      w.resolve(out)
    }
  }
  sock.on('data', (c: Uint8Array) => {
    buf = concatBytes(buf, c)
    flush()
  })
  return (n) =>
    new Promise((resolve) => {
      want = { n, resolve }
      flush()
    })
}

/** A hand-driven initiator: handshake with the pure functions, then raw frames. */
async function rawInitiator(sock: Duplex): Promise<FrameCodec> {
  const read = rawReader(sock)
  const hs = new InitiatorHandshake({ privateKey: privA, remotePublicKey: pubB, random: seededRandom(9) })
  sock.write(hs.makeAuth())
  const { secrets } = await readHandshakePacket(read, ACK_LEGACY_SIZE, (p, f) => hs.readAck(p, f))
  return new FrameCodec(secrets)
}

function closedOf(sock: Duplex): Promise<void> {
  return new Promise((resolve) => {
    if (sock.destroyed) resolve()
    else sock.once('close', () => resolve())
  })
}

describe('RLPxConn: handshake and messages', () => {
  for (const legacy of [false, true]) {
    it(`exchanges messages both ways after a ${legacy ? 'legacy' : 'EIP-8'} handshake`, async () => {
      const { a, b } = await connectedPair({ legacy })
      assert.equal(a.status, 'open')
      assert.deepEqual(b.remotePublicKey, pubA)
      const big = rand.bytes(1 << 20)
      const msgs: [number, Uint8Array][] = [
        [0, Uint8Array.of(0xc0)],
        [0x10, new Uint8Array(0)],
        [0x7f, rand.bytes(100)],
        [0x1234, big],
      ]
      const writes = Promise.all(msgs.map(([c, p]) => a.writeMsg(c, p)))
      for (const [c, p] of msgs) {
        const m = await b.readMsg()
        assert.equal(m.code, c)
        assert.deepEqual(m.payload, p)
        assert.equal(m.size, p.length)
      }
      assert.deepEqual(
        await writes,
        msgs.map(([, p]) => p.length),
      )
      await b.writeMsg(3, Uint8Array.of(0xc0))
      const back = await a.readMsg()
      assert.equal(back.code, 3)
      a.close()
      b.close()
    })
  }

  it('compresses with snappy once switched on (Ping is 01 00 c0 on the wire)', async () => {
    const { a, b } = await connectedPair()
    a.setSnappy(true)
    b.setSnappy(true)
    assert.equal(await a.writeMsg(2, Uint8Array.of(0xc0)), 3)
    const ping = await b.readMsg()
    assert.deepEqual(ping, { code: 2, payload: Uint8Array.of(0xc0), size: 3 })
    const zeros = new Uint8Array(100_000)
    const wire = await b.writeMsg(0x20, zeros)
    assert.ok(wire < 10_000)
    const m = await a.readMsg()
    assert.equal(m.size, wire)
    assert.deepEqual(m.payload, zeros)
    a.close()
    b.close()
  })

  it('works with the JS snappy fallback on one side', async () => {
    const [sa, sb] = duplexPair()
    const clock = new SimulatedClock(0)
    const a = new RLPxConn(sa, { clock, snappy: jsSnappy() })
    const b = new RLPxConn(sb, { clock })
    await Promise.all([
      a.handshake({ privateKey: privA, remotePublicKey: pubB }),
      b.handshake({ privateKey: privB }),
    ])
    a.setSnappy(true)
    b.setSnappy(true)
    const p = rand.bytes(5000)
    await a.writeMsg(0x11, concatBytes(p, p, p))
    assert.deepEqual((await b.readMsg()).payload, concatBytes(p, p, p))
    await b.writeMsg(0x12, concatBytes(p, p))
    assert.deepEqual((await a.readMsg()).payload, concatBytes(p, p))
    a.close()
    b.close()
  })

  it('keeps writes in call order under concurrency', async () => {
    const { a, b } = await connectedPair({ highWaterMark: 4096 })
    const n = 60
    const writes = Array.from({ length: n }, (_, i) =>
      a.writeMsg(0x10 + (i % 50), new Uint8Array(i * 97).fill(i)),
    )
    for (let i = 0; i < n; i++) {
      const m = await b.readMsg()
      assert.equal(m.code, 0x10 + (i % 50))
      assert.equal(m.payload.length, i * 97)
      assert.ok(m.payload.every((x) => x === (i & 0xff)))
    }
    await Promise.all(writes)
    a.close()
    b.close()
  })

  it('refuses a concurrent readMsg without closing', async () => {
    const { a, b } = await connectedPair()
    const first = b.readMsg()
    await assert.rejects(b.readMsg(), /another read/)
    assert.equal(b.status, 'open')
    await a.writeMsg(1, Uint8Array.of(0xc1, 0x02))
    assert.equal((await first).code, 1)
    a.close()
    b.close()
  })

  it('an over-limit payload is a RangeError and leaves the connection open', async () => {
    const { a, b } = await connectedPair()
    await assert.rejects(a.writeMsg(1, new Uint8Array(0xffffff)), RangeError)
    assert.equal(a.status, 'open')
    await a.writeMsg(1, Uint8Array.of(0xc0))
    assert.equal((await b.readMsg()).code, 1)
    a.close()
    b.close()
  })
})

describe('RLPxConn: backpressure and limits', () => {
  it('writes wait for drain until the peer reads', async () => {
    const { a, b } = await connectedPair({
      highWaterMark: 16 * 1024,
      config: { readHighWaterMark: 16 * 1024 },
    })
    let done = 0
    const n = 40
    const writes = Array.from({ length: n }, () =>
      a.writeMsg(0x10, new Uint8Array(64 * 1024)).then(() => done++),
    )
    await settle(20)
    // The peer does not read: only the first frames can leave; the rest wait for 'drain'.
    assert.ok(done < 5, `only a few writes complete without a reader, got ${done}`)
    for (let i = 0; i < n; i++) assert.equal((await b.readMsg()).payload.length, 64 * 1024)
    await Promise.all(writes)
    assert.equal(done, n)
    a.close()
    b.close()
  })

  it('rejects an over-limit frame from its header, before its body arrives, and closes', async () => {
    const [sa, sb] = duplexPair()
    const clock = new SimulatedClock(0)
    const b = new RLPxConn(sb, { clock }, { maxFrameSize: 1024 })
    const [codec] = await Promise.all([rawInitiator(sa), b.handshake({ privateKey: privB })])
    const frame = codec.encodeFrame(0x10, new Uint8Array(100_000))
    const read = b.readMsg()
    sa.write(frame.subarray(0, 32)) // the header only: the body is never sent
    await assert.rejects(
      read,
      (e: unknown) => e instanceof DecodeError && /exceeds the limit of 1024/.test(e.message),
    )
    assert.equal(b.status, 'closed')
    await closedOf(sa)
  })

  it('rejects a snappy message declaring more than the limit, before decompressing', async () => {
    const [sa, sb] = duplexPair()
    const b = new RLPxConn(sb, { clock: new SimulatedClock(0) }, { maxMessageSize: 1000 })
    const [codec] = await Promise.all([rawInitiator(sa), b.handshake({ privateKey: privB })])
    b.setSnappy(true)
    // 7 bytes claiming 16 MiB - 1, then a well-formed message claiming 1001 bytes
    sa.write(codec.encodeFrame(0x10, Uint8Array.of(0xff, 0xff, 0xff, 0x07, 0, 0, 0)))
    await assert.rejects(b.readMsg(), (e: unknown) => e instanceof DecodeError && e.what === 'snappy')
    assert.equal(b.status, 'closed')
  })

  it('a bad frame MAC closes the connection with FrameMacError', async () => {
    const [sa, sb] = duplexPair()
    const b = new RLPxConn(sb, { clock: new SimulatedClock(0) })
    const [codec] = await Promise.all([rawInitiator(sa), b.handshake({ privateKey: privB })])
    const f = codec.encodeFrame(0x10, new Uint8Array(40))
    f[f.length - 1] = f[f.length - 1]! ^ 1
    sa.write(f)
    await assert.rejects(b.readMsg(), FrameMacError)
    assert.equal(b.status, 'closed')
    await closedOf(sa)
    await assert.rejects(b.readMsg(), ConnectionClosedError)
    await assert.rejects(b.writeMsg(1, new Uint8Array(0)), ConnectionClosedError)
  })
})

describe('RLPxConn: deadlines, aborts and closing', () => {
  it('times out an idle read after 30 s and closes', async () => {
    const clock = new SimulatedClock(0)
    const { a, b } = await connectedPair({ clock })
    const r = b.readMsg()
    await clock.advance(29_999)
    assert.equal(b.status, 'open')
    await clock.advance(1)
    await assert.rejects(r, (e: unknown) => e instanceof TimeoutError && e.timeoutMs === 30_000)
    assert.equal(b.status, 'closed')
    await assert.rejects(a.readMsg(), ConnectionClosedError)
    assert.equal(clock.pendingTimers, 0)
  })

  it('times out a write stuck on backpressure after 20 s', async () => {
    const clock = new SimulatedClock(0)
    const { a } = await connectedPair({ clock, highWaterMark: 1024, config: { readHighWaterMark: 1024 } })
    // The first frame fits in the peer's buffers; the second cannot leave until the peer reads.
    const w1 = a.writeMsg(0x10, new Uint8Array(200_000))
    const w2 = a.writeMsg(0x10, new Uint8Array(200_000))
    await settle()
    await w1
    await clock.advance(19_999)
    assert.equal(a.status, 'open')
    await clock.advance(1)
    await assert.rejects(w2, (e: unknown) => e instanceof TimeoutError && e.timeoutMs === 20_000)
    assert.equal(a.status, 'closed')
  })

  it('times out a handshake nobody answers after 5 s (HandshakeError, cause TimeoutError)', async () => {
    const clock = new SimulatedClock(0)
    const [, sb] = duplexPair()
    const b = new RLPxConn(sb, { clock })
    const h = b.handshake({ privateKey: privB })
    await clock.advance(5_000)
    await assert.rejects(
      h,
      (e: unknown) => e instanceof HandshakeError && e.stage === 'enc' && e.cause instanceof TimeoutError,
    )
    assert.equal(b.status, 'closed')
    assert.equal(sb.destroyed, true)
  })

  it('fails both handshakes when the initiator has the wrong key for the recipient', async () => {
    const [sa, sb] = duplexPair()
    const clock = new SimulatedClock(0)
    const a = new RLPxConn(sa, { clock })
    const b = new RLPxConn(sb, { clock })
    const ha = a.handshake({ privateKey: privA, remotePublicKey: pubA })
    const hb = b.handshake({ privateKey: privB })
    await assert.rejects(hb, (e: unknown) => e instanceof HandshakeError && e.cause instanceof DecodeError)
    await assert.rejects(
      ha,
      (e: unknown) => e instanceof HandshakeError && e.cause instanceof ConnectionClosedError,
    )
  })

  it('a recipient that refuses legacy packets does not accept a legacy auth', async () => {
    const clock = new SimulatedClock(0)
    const [sa, sb] = duplexPair()
    const a = new RLPxConn(sa, { clock })
    const b = new RLPxConn(sb, { clock }, { allowLegacyHandshake: false })
    const ha = a.handshake({ privateKey: privA, remotePublicKey: pubB, legacy: true })
    const hb = b.handshake({ privateKey: privB })
    await clock.advance(5_000)
    await assert.rejects(hb, HandshakeError)
    await assert.rejects(ha, HandshakeError)
  })

  it('aborts a read through its signal', async () => {
    const { a, b } = await connectedPair()
    const ac = new AbortController()
    const r = b.readMsg({ signal: ac.signal })
    ac.abort()
    await assert.rejects(r, AbortError)
    assert.equal(b.status, 'closed')
    a.close()
  })

  it('aborts a handshake through its signal (AbortError, not wrapped)', async () => {
    const [, sb] = duplexPair()
    const b = new RLPxConn(sb, { clock: new SimulatedClock(0) })
    const ac = new AbortController()
    const h = b.handshake({ privateKey: privB, signal: ac.signal })
    ac.abort()
    await assert.rejects(h, AbortError)
  })

  it('frames sent before the peer closed can still be read, then ConnectionClosedError', async () => {
    const { a, b } = await connectedPair()
    await a.writeMsg(1, Uint8Array.of(0xc1, 0x08)) // a Disconnect
    await a.closeGracefully()
    assert.equal(a.status, 'closed')
    await settle()
    assert.equal(b.status, 'closed')
    const m = await b.readMsg()
    assert.deepEqual(m, { code: 1, payload: Uint8Array.of(0xc1, 0x08), size: 2 })
    await assert.rejects(b.readMsg(), ConnectionClosedError)
    await assert.rejects(b.writeMsg(2, Uint8Array.of(0xc0)), ConnectionClosedError)
  })

  it('a peer closing mid-frame fails the read', async () => {
    const [sa, sb] = duplexPair()
    const b = new RLPxConn(sb, { clock: new SimulatedClock(0) })
    const [codec] = await Promise.all([rawInitiator(sa), b.handshake({ privateKey: privB })])
    const f = codec.encodeFrame(0x10, new Uint8Array(100))
    sa.write(f.subarray(0, 50))
    sa.end()
    await assert.rejects(b.readMsg(), ConnectionClosedError)
  })

  it('close() is idempotent and fails later calls', async () => {
    const { a, b } = await connectedPair()
    a.close()
    a.close()
    await assert.rejects(a.writeMsg(1, new Uint8Array(0)), ConnectionClosedError)
    await assert.rejects(a.handshake({ privateKey: privA }), HandshakeError)
    await settle()
    assert.equal(b.status, 'closed')
  })
})

describe('RLPxConn: graceful close', () => {
  it('closeGracefully is bounded by its timeout even when a write is stuck', async () => {
    const clock = new SimulatedClock(0)
    const { a } = await connectedPair({ clock, highWaterMark: 1024, config: { readHighWaterMark: 1024 } })
    void a.writeMsg(0x10, new Uint8Array(200_000)).catch(() => {})
    const stuck = a.writeMsg(0x10, new Uint8Array(200_000))
    stuck.catch(() => {})
    await settle()
    let closed = false
    const c = a.closeGracefully(1_000).then(() => {
      closed = true
    })
    await clock.advance(999)
    assert.equal(closed, false)
    await clock.advance(1)
    await c
    assert.equal(a.status, 'closed')
    await assert.rejects(stuck, ConnectionClosedError)
  })
})

describe('RLPxConn: hostile bytes (property)', () => {
  it('garbage instead of an auth only ever fails the handshake with HandshakeError', async () => {
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ maxLength: 3000 }), async (garbage) => {
        const clock = new SimulatedClock(0)
        const [sa, sb] = duplexPair({ highWaterMark: 1 << 16 })
        const b = new RLPxConn(sb, { clock })
        const h = b.handshake({ privateKey: privB })
        h.catch(() => {})
        sa.write(garbage)
        await settle(2)
        await clock.advance(5_000)
        await assert.rejects(h, (e: unknown) => e instanceof HandshakeError && e.stage === 'enc')
        assert.equal(b.status, 'closed')
      }),
      { numRuns: 40 },
    )
  })
  it('garbage after the handshake only ever fails a read with a typed error and closes', async () => {
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ maxLength: 2000 }), async (garbage) => {
        const clock = new SimulatedClock(0)
        const [sa, sb] = duplexPair()
        const b = new RLPxConn(sb, { clock })
        await Promise.all([rawInitiator(sa), b.handshake({ privateKey: privB })])
        const r = b.readMsg()
        r.catch(() => {})
        sa.write(garbage)
        await settle(2)
        await clock.advance(30_000)
        await assert.rejects(r, (e: unknown) => e instanceof DecodeError || e instanceof TimeoutError)
        assert.equal(b.status, 'closed')
      }),
      { numRuns: 40 },
    )
  })
})

describe('RLPxConn: one read timer per connection', () => {
  it('a timer left by a completed read does not cut the next read short', async () => {
    const clock = new SimulatedClock(0)
    const { a, b } = await connectedPair({ clock })
    const r1 = b.readMsg()
    await clock.advance(10_000)
    await a.writeMsg(0x10, Uint8Array.of(1))
    assert.equal((await r1).code, 0x10)
    const r2 = b.readMsg() // started at 10 s: due at 40 s, although the timer was armed for 30 s
    r2.catch(() => {})
    await clock.advance(20_000)
    assert.equal(b.status, 'open')
    await clock.advance(9_999)
    assert.equal(b.status, 'open')
    await clock.advance(1)
    await assert.rejects(r2, (e: unknown) => e instanceof TimeoutError && e.timeoutMs === 30_000)
    assert.equal(b.status, 'closed')
    assert.equal(clock.pendingTimers, 0)
    a.close()
  })
  it('arms at most one timer however many reads wait in turn, and none once closed', async () => {
    const clock = new SimulatedClock(0)
    const { a, b } = await connectedPair({ clock })
    for (let i = 0; i < 20; i++) {
      const r = b.readMsg()
      await clock.advance(100)
      await a.writeMsg(0x10 + (i % 5), Uint8Array.of(i))
      assert.equal((await r).payload[0], i)
      assert.ok(clock.pendingTimers <= 1)
    }
    a.close()
    b.close()
    assert.equal(clock.pendingTimers, 0)
  })
  it('a frame trickling in byte by byte completes the waiting read', async () => {
    const [sa, sb] = duplexPair()
    const clock = new SimulatedClock(0)
    const b = new RLPxConn(sb, { clock })
    const [codec] = await Promise.all([rawInitiator(sa), b.handshake({ privateKey: privB })])
    const frame = codec.encodeFrame(0x22, rand.bytes(300))
    const r = b.readMsg()
    for (let i = 0; i < frame.length; i++) {
      sa.write(frame.subarray(i, i + 1))
      if (i % 50 === 0) await settle(1)
    }
    const m = await r
    assert.equal(m.code, 0x22)
    assert.equal(m.payload.length, 300)
    b.close()
  })
  it('an abort while waiting fails the read with AbortError and closes', async () => {
    const clock = new SimulatedClock(0)
    const { a, b } = await connectedPair({ clock })
    const ac = new AbortController()
    const r = b.readMsg({ signal: ac.signal })
    await clock.advance(1_000)
    ac.abort()
    await assert.rejects(r, AbortError)
    assert.equal(b.status, 'closed')
    assert.equal(clock.pendingTimers, 0)
    a.close()
  })
})

describe('RLPxConn: corked writes', () => {
  it('frames written in one tick leave in one batch (one writev)', async () => {
    const { a, b, sa } = await connectedPair()
    // Give the in-memory socket a writev that records each batch, then writes it chunk by chunk.
    const batches: number[] = []
    const write = (sa as unknown as { _write: Duplex['_write'] })._write.bind(sa)
    ;(sa as unknown as { _writev: Duplex['_writev'] })._writev = (chunks, cb) => {
      batches.push(chunks.length)
      let i = 0
      const next = (err?: Error | null): void => {
        if (err || i === chunks.length) cb(err)
        else {
          const c = chunks[i++]!
          write(c.chunk, c.encoding, next)
        }
      }
      next()
    }
    const writes = Array.from({ length: 5 }, (_, i) => a.writeMsg(0x10, Uint8Array.of(0xc1, i)))
    await Promise.all(writes)
    await settle()
    assert.deepEqual(batches, [5])
    for (let i = 0; i < 5; i++) assert.equal((await b.readMsg()).payload[1], i)
    // Writes in separate ticks are separate batches.
    await a.writeMsg(0x11, Uint8Array.of(0xc0))
    await settle()
    await a.writeMsg(0x11, Uint8Array.of(0xc0))
    await settle()
    assert.deepEqual(batches, [5])
    a.close()
    b.close()
  })
  it('a burst of messages in one tick reaches the peer in order, and writes before close() still go out', async () => {
    const { a, b } = await connectedPair()
    const sent = Array.from({ length: 30 }, (_, i) =>
      a.writeMsg(0x10 + (i % 7), new Uint8Array(i * 10).fill(i)),
    )
    a.close() // same tick: the corked frames are flushed before the socket is destroyed
    await Promise.all(sent)
    for (let i = 0; i < 30; i++) {
      const m = await b.readMsg()
      assert.equal(m.code, 0x10 + (i % 7))
      assert.equal(m.payload.length, i * 10)
    }
    await assert.rejects(b.readMsg(), ConnectionClosedError)
  })
  it('close() after the peer closed makes buffered frames unreadable', async () => {
    const { a, b } = await connectedPair()
    await a.writeMsg(1, Uint8Array.of(0xc1, 0x08))
    a.close()
    await settle()
    assert.equal(b.status, 'closed')
    b.close()
    await assert.rejects(b.readMsg(), ConnectionClosedError)
  })
})

describe('RLPxConn: one connection per socket', () => {
  it('refuses a second RLPxConn on a socket that has one (it would see every chunk twice)', () => {
    const [sa] = duplexPair()
    const first = new RLPxConn(sa, { clock: new SimulatedClock(0) })
    assert.throws(() => new RLPxConn(sa, { clock: new SimulatedClock(0) }), /already has an RLPxConn/)
    first.close()
  })
})

describe('RLPxConn: readMsgOrWait (reads without a promise)', () => {
  /** A receiver that records what it is told, and whether it was told inside the call. */
  function recorder() {
    const got: { msg?: RLPxMsg; err?: Error }[] = []
    return {
      got,
      receiver: {
        onMsg: (msg: RLPxMsg) => got.push({ msg }),
        onReadError: (err: Error) => got.push({ err }),
      },
    }
  }

  it('returns a buffered message at once, and tells the receiver nothing', async () => {
    const { a, b } = await connectedPair()
    await a.writeMsg(0x10, Uint8Array.of(0xc1, 0x01))
    await settle()
    const { got, receiver } = recorder()
    const m = b.readMsgOrWait(receiver)
    assert.deepEqual(m, { code: 0x10, payload: Uint8Array.of(0xc1, 0x01), size: 2 })
    await settle()
    assert.equal(got.length, 0)
  })

  it('returns undefined while nothing is buffered; the receiver gets the message once, and can read on', async () => {
    const { a, b } = await connectedPair()
    const seen: number[] = []
    const receiver = {
      onMsg(msg: RLPxMsg): void {
        seen.push(msg.code)
        // Reading on from inside the callback: what is buffered comes back at once.
        for (let m = b.readMsgOrWait(receiver); m !== undefined; m = b.readMsgOrWait(receiver))
          seen.push(m.code)
      },
      onReadError(err: Error): void {
        throw err
      },
    }
    assert.equal(b.readMsgOrWait(receiver), undefined)
    assert.deepEqual(seen, [], 'never called from inside readMsgOrWait')
    // Three frames in one batch (one tick): the first completes the wait, the rest are buffered.
    await Promise.all([
      a.writeMsg(0x10, EMPTY_PAYLOAD),
      a.writeMsg(0x11, EMPTY_PAYLOAD),
      a.writeMsg(0x12, EMPTY_PAYLOAD),
    ])
    await settle()
    assert.deepEqual(seen, [0x10, 0x11, 0x12])
    await a.writeMsg(0x13, EMPTY_PAYLOAD)
    await settle()
    assert.deepEqual(seen, [0x10, 0x11, 0x12, 0x13])
  })

  it('a second read while one waits throws and leaves the first waiting', async () => {
    const { a, b } = await connectedPair()
    const { got, receiver } = recorder()
    assert.equal(b.readMsgOrWait(receiver), undefined)
    assert.throws(() => b.readMsgOrWait(receiver), /another read is in progress/)
    await assert.rejects(b.readMsg(), /another read is in progress/)
    await a.writeMsg(0x10, EMPTY_PAYLOAD)
    await settle()
    assert.deepEqual(
      got.map((g) => g.msg?.code),
      [0x10],
    )
  })

  it('times out after 30 s through onReadError (TimeoutError) and closes', async () => {
    const clock = new SimulatedClock(0)
    const { b } = await connectedPair({ clock })
    const { got, receiver } = recorder()
    assert.equal(b.readMsgOrWait(receiver), undefined)
    await clock.advance(29_999)
    assert.equal(got.length, 0)
    await clock.advance(1)
    assert.equal(got.length, 1)
    assert.ok(got[0]?.err instanceof TimeoutError)
    assert.equal(b.status, 'closed')
    assert.equal(clock.pendingTimers, 0)
  })

  it('the peer closing tells the receiver ConnectionClosedError; a closed connection throws', async () => {
    const { a, b } = await connectedPair()
    const { got, receiver } = recorder()
    assert.equal(b.readMsgOrWait(receiver), undefined)
    a.close()
    await settle()
    assert.equal(got.length, 1)
    assert.ok(got[0]?.err instanceof ConnectionClosedError)
    assert.throws(() => b.readMsgOrWait(receiver), ConnectionClosedError)
    assert.equal(got.length, 1, 'told once')
  })

  it('a bad frame already buffered is thrown (typed) and closes the connection', async () => {
    const [sa, sb] = duplexPair()
    const b = new RLPxConn(sb, { clock: new SimulatedClock(0), random: seededRandom(2) })
    const accepted = b.handshake({ privateKey: privB })
    const codec = await rawInitiator(sa)
    await accepted
    const frame = codec.encodeFrame(0x10, Uint8Array.of(0xc0))
    frame[frame.length - 1] = frame[frame.length - 1]! ^ 1 // break the frame MAC
    sa.write(frame)
    await settle()
    const { got, receiver } = recorder()
    assert.throws(() => b.readMsgOrWait(receiver), FrameMacError)
    assert.equal(b.status, 'closed')
    assert.equal(got.length, 0)
  })
})

describe('RLPxConn: idle connections release their cipher contexts', () => {
  it('drops them after 1-2 s without frames while a read waits, and traffic goes on after', async () => {
    const clock = new SimulatedClock(0)
    const { a, b } = await connectedPair({ clock })
    await a.writeMsg(0x10, EMPTY_PAYLOAD)
    assert.deepEqual((await b.readMsg()).code, 0x10)
    assert.equal(b.holdsCipherContexts, true)
    const next = b.readMsg()
    await clock.advance(999)
    assert.equal(b.holdsCipherContexts, true, 'used within the period')
    await clock.advance(2_000)
    assert.equal(b.holdsCipherContexts, false, 'idle for a whole period: released')
    assert.equal(clock.pendingTimers <= 1, true, 'one read timer, for the read deadline only')
    // Both directions rebuild at their counters.
    await a.writeMsg(0x11, Uint8Array.of(0xc1, 0x05))
    assert.deepEqual(await next, { code: 0x11, payload: Uint8Array.of(0xc1, 0x05), size: 2 })
    await b.writeMsg(0x12, EMPTY_PAYLOAD)
    assert.equal((await a.readMsg()).code, 0x12)
    assert.equal(b.holdsCipherContexts, true)
  })

  it('keeps them with idleCipherReleaseMs: Infinity, and the read deadline is unchanged', async () => {
    const clock = new SimulatedClock(0)
    const { a, b } = await connectedPair({ clock, config: { idleCipherReleaseMs: Number.POSITIVE_INFINITY } })
    await a.writeMsg(0x10, EMPTY_PAYLOAD)
    await b.readMsg()
    const r = b.readMsg()
    await clock.advance(29_999)
    assert.equal(b.holdsCipherContexts, true)
    assert.equal(b.status, 'open')
    await clock.advance(1)
    await assert.rejects(r, TimeoutError)
  })

  it('with the default release, an idle read still times out at exactly 30 s', async () => {
    const clock = new SimulatedClock(0)
    const { a, b } = await connectedPair({ clock })
    await a.writeMsg(0x10, EMPTY_PAYLOAD)
    await b.readMsg()
    const r = b.readMsg()
    await clock.advance(29_999)
    assert.equal(b.status, 'open')
    assert.equal(b.holdsCipherContexts, false)
    await clock.advance(1)
    await assert.rejects(r, (e: unknown) => e instanceof TimeoutError && e.timeoutMs === 30_000)
  })
})

describe('RLPxConn: buffered reads', () => {
  /** A connection `b` facing a hand-driven initiator that writes raw frames to `sa`. */
  async function rawPair(config?: Partial<RLPxConnConfig>) {
    const [sa, sb] = duplexPair({ highWaterMark: 1 << 20 })
    const clock = new SimulatedClock(0)
    const b = new RLPxConn(sb, { clock }, config)
    const [codec] = await Promise.all([rawInitiator(sa), b.handshake({ privateKey: privB })])
    return { sa, sb, b, codec, clock }
  }

  it('a frame whose header is buffered before the read starts completes once its body arrives', async () => {
    const { sa, b, codec } = await rawPair()
    const payload = rand.bytes(500)
    const frame = codec.encodeFrame(0x21, payload)
    sa.write(frame.subarray(0, 100)) // the header and part of the body
    await settle()
    const { got, receiver } = (() => {
      const got: RLPxMsg[] = []
      return {
        got,
        receiver: { onMsg: (m: RLPxMsg) => got.push(m), onReadError: (e: Error) => assert.fail(e) },
      }
    })()
    assert.equal(b.readMsgOrWait(receiver), undefined)
    sa.write(frame.subarray(100, 300))
    await settle()
    assert.equal(got.length, 0)
    sa.write(frame.subarray(300))
    await settle()
    assert.equal(got.length, 1)
    assert.equal(got[0]?.code, 0x21)
    assert.deepEqual(got[0]?.payload, payload)
    b.close()
  })

  it("a read's maxFrameSize applies to its frame only, also when its header was buffered first", async () => {
    const { sa, b, codec } = await rawPair()
    // Within the limit: read with the lower limit, header buffered before the read.
    const small = codec.encodeFrame(0x10, Uint8Array.of(0xc1, 0x01))
    sa.write(small.subarray(0, 40))
    await settle()
    const r1 = b.readMsg({ maxFrameSize: 64 })
    sa.write(small.subarray(40))
    assert.equal((await r1).code, 0x10)
    // The next read, without a limit of its own, waits for a frame far over 64 bytes.
    const r2 = b.readMsg()
    await settle()
    sa.write(codec.encodeFrame(0x11, new Uint8Array(5000)))
    assert.equal((await r2).payload.length, 5000)
    // A waiting read with a lower limit refuses a larger frame from its header.
    const r3 = b.readMsg({ maxFrameSize: 64 })
    await settle()
    sa.write(codec.encodeFrame(0x12, new Uint8Array(100)).subarray(0, 32))
    await assert.rejects(r3, (e: unknown) => e instanceof DecodeError && /limit of 64/.test(e.message))
    assert.equal(b.status, 'closed')
  })

  it('a read given a signal leaves no listener on it once done, and a later abort changes nothing', async () => {
    const { a, b } = await connectedPair()
    const ac = new AbortController()
    for (let i = 0; i < 5; i++) {
      const r = b.readMsg({ signal: ac.signal })
      await settle()
      await a.writeMsg(0x10, Uint8Array.of(0xc1, i))
      assert.equal((await r).payload[1], i)
    }
    await a.writeMsg(0x10, EMPTY_PAYLOAD)
    await settle()
    await b.readMsg({ signal: ac.signal }) // buffered: never waits
    assert.equal(getEventListeners(ac.signal, 'abort').length, 0)
    ac.abort()
    assert.equal(b.status, 'open')
    const r = b.readMsg()
    await a.writeMsg(0x11, EMPTY_PAYLOAD)
    assert.equal((await r).code, 0x11)
    // A read that fails (here: the peer closed) also lets go of its listener.
    const ac2 = new AbortController()
    const failed = b.readMsg({ signal: ac2.signal })
    await settle()
    a.close()
    await assert.rejects(failed, ConnectionClosedError)
    assert.equal(getEventListeners(ac2.signal, 'abort').length, 0)
  })

  it('pauses the socket above the high-water mark while no read waits, and flows again for a read', async () => {
    const { sa, sb, b, codec } = await rawPair({ readHighWaterMark: 4096 })
    const frames = Array.from({ length: 20 }, (_, i) =>
      codec.encodeFrame(0x10 + i, new Uint8Array(1000).fill(i)),
    )
    for (const f of frames) sa.write(f)
    await settle(10)
    assert.equal(sb.isPaused(), true, 'paused with no read waiting')
    for (let i = 0; i < frames.length; i++) {
      const m = await b.readMsg()
      assert.equal(m.code, 0x10 + i)
      assert.ok(m.payload.every((x) => x === i))
    }
    // Nothing buffered: a waiting read has the socket flowing.
    const r = b.readMsg()
    assert.equal(sb.isPaused(), false)
    sa.write(codec.encodeFrame(0x30, EMPTY_PAYLOAD))
    assert.equal((await r).code, 0x30)
    b.close()
  })

  it('a waiting read gets the frames the peer sent before closing, then ConnectionClosedError, once', async () => {
    const { sa, b, codec } = await rawPair()
    const got: { msg?: RLPxMsg; err?: Error }[] = []
    const receiver = {
      onMsg(msg: RLPxMsg): void {
        got.push({ msg })
        // Reading on from inside the callback: buffered frames come back at once, then the
        // partial frame the peer left fails the read.
        try {
          for (let m = b.readMsgOrWait(receiver); m !== undefined; m = b.readMsgOrWait(receiver))
            got.push({ msg: m })
        } catch (err) {
          got.push({ err: err as Error })
        }
      },
      onReadError: (err: Error) => got.push({ err }),
    }
    assert.equal(b.readMsgOrWait(receiver), undefined)
    // Frames are encoded in wire order (the MACs chain); the last one only half sent.
    const frames = [0x10, 0x11, 0x12].map((code) => codec.encodeFrame(code, EMPTY_PAYLOAD))
    sa.end(concatBytes(frames[0]!, frames[1]!, frames[2]!.subarray(0, 40)))
    await settle()
    assert.deepEqual(
      got.map((g) => g.msg?.code ?? g.err?.name),
      [0x10, 0x11, 'ConnectionClosedError'],
    )
    assert.equal(b.status, 'closed')
    assert.throws(() => b.readMsgOrWait(receiver), ConnectionClosedError)
  })

  it('the handshake reads its packets in exact sizes from chunks of any size', async () => {
    const [sa, sb] = duplexPair()
    const b = new RLPxConn(sb, { clock: new SimulatedClock(0) })
    const read = rawReader(sa)
    const hs = new InitiatorHandshake({ privateKey: privA, remotePublicKey: pubB, random: seededRandom(9) })
    const accepted = b.handshake({ privateKey: privB })
    const auth = hs.makeAuth()
    // The auth arrives in pieces (its 2-byte size prefix split too), followed by the first frame.
    for (const [from, to] of [
      [0, 1],
      [1, 7],
      [7, 200],
      [200, auth.length],
    ] as const) {
      sa.write(auth.subarray(from, to))
      await settle(1)
    }
    const { secrets } = await readHandshakePacket(read, ACK_LEGACY_SIZE, (p, f) => hs.readAck(p, f))
    assert.deepEqual(await accepted, pubA)
    const codec = new FrameCodec(secrets)
    sa.write(codec.encodeFrame(0x10, Uint8Array.of(0xc1, 0x07)))
    assert.deepEqual((await b.readMsg()).payload, Uint8Array.of(0xc1, 0x07))
    b.close()
  })
})

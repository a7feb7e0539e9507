/**
 * Bad input and hostile peers against a real Server on 127.0.0.1: silent connections, garbage
 * instead of an auth, frames with bad MACs or absurd sizes, Hellos with the wrong identity, a
 * connection with the server's own key. Each case must end with the right reason, no crash, no
 * slot or timer left behind (`pendingHandshakes`, `peerCount()`, live timers, metrics).
 */
import assert from 'node:assert/strict'
import { once } from 'node:events'
import { connect, createServer, type Socket } from 'node:net'
import { after, describe, it } from 'node:test'
import { generatePrivateKey, publicKeyFromPrivate } from '../../../src/crypto/index.js'
import { BaseMsg, decodeDisconnect, decodeHello, type Hello } from '../../../src/p2p/hello.js'
import { DiscReason } from '../../../src/p2p/peer-error.js'
import type { Server, ServerEvent } from '../../../src/p2p/server.js'
import { setupConnection } from '../../../src/p2p/transport.js'
import { decode } from '../../../src/rlp/index.js'
import { FRAME_HEADER_SIZE } from '../../../src/rlpx/frame.js'
import { DecodeError, seededRandom, systemClock, TimeoutError } from '../../../src/util/index.js'
import {
  closed,
  helloFor,
  liveTimers,
  portOf,
  type RawRlpxClient,
  rawRlpxClient,
  rlpxDial,
  tcpConnect,
} from '../../helpers/hostile-rlpx.js'
import { nodeOf, testServers, until, waitEvent } from '../../helpers/p2p.js'

const rand = seededRandom(0xbad)
const servers = testServers({ noDial: true, handshakeTimeoutMs: 500 })
const start = servers.start
const sockets: Socket[] = []
after(async () => {
  for (const s of sockets) s.destroy()
  await servers.stopAll()
})

function serverKey(srv: Server): Uint8Array {
  return publicKeyFromPrivate(srv.config.privateKey)
}

function serves(srv: Server, result: string): number {
  return srv.metrics.get('p2p_serves_total', { result })
}

/** Wait until the inbound outcome `result` was counted once (the message lists every metric). */
async function servedOnce(srv: Server, result: string): Promise<void> {
  try {
    await until(() => serves(srv, result) === 1, 5_000, `serves{result=${result}}`)
  } catch (e) {
    throw new Error(`${(e as Error).message}\n${srv.metrics.toPrometheus()}`)
  }
}

/** A server with no handshake in progress, no peer, and no timer left beyond `timers`. */
async function assertIdle(srv: Server, timers: number): Promise<void> {
  await until(() => srv.pendingHandshakes === 0 && srv.peerCount() === 0, 5_000, 'slots returned')
  await until(() => liveTimers() <= timers, 5_000, `live timers back to ${timers} (now ${liveTimers()})`)
}

/** A real peer still gets in. */
async function realPeerGetsIn(srv: Server): Promise<void> {
  const b = await start({ noDial: false })
  const before = srv.peerCount()
  const added = waitEvent(srv, (e) => e.type === 'add')
  b.addPeer(nodeOf(srv))
  await added
  assert.equal(srv.peerCount(), before + 1)
  await b.stop()
  await until(() => srv.peerCount() === before, 5_000, 'real peer gone')
}

/** Run the Hello exchange on a raw client; snappy is on afterwards. Returns the server's Hello. */
async function rawHello(c: RawRlpxClient, key: Uint8Array): Promise<Hello> {
  c.send(BaseMsg.Hello, helloFor(key))
  const m = await c.readMsg()
  assert.equal(m.code, BaseMsg.Hello)
  c.snappy = true
  return decodeHello(m.payload)
}

describe('hostile peers', { timeout: 60_000 }, () => {
  it('500 silent connections: at most 50 held, all closed by the deadline, nothing leaked, a real peer gets in', async () => {
    const srv = await start({ maxPendingPeers: 50, handshakeTimeoutMs: 500 })
    const timers = liveTimers()
    const N = 500
    let maxPending = 0
    let closedCount = 0
    const sample = (): void => {
      maxPending = Math.max(maxPending, srv.pendingHandshakes)
    }
    const sampler = setInterval(sample, 1)
    try {
      for (let i = 0; i < N; i++) {
        const s = connect(srv.port, '127.0.0.1')
        s.on('error', () => {})
        s.on('connect', sample)
        s.on('close', () => {
          closedCount++
          sample()
        })
        sockets.push(s)
      }
      await until(() => closedCount === N, 20_000, `all ${N} silent sockets closed`)
    } finally {
      clearInterval(sampler)
    }
    assert.ok(maxPending <= 50, `at most 50 pending, saw ${maxPending}`)
    assert.ok(maxPending > 0, 'some connections held a slot')
    await assertIdle(srv, timers)
    const timeout = serves(srv, 'timeout')
    const noSlot = serves(srv, 'no-slot')
    assert.equal(
      timeout + noSlot,
      N,
      `every connection accounted for (timeout ${timeout}, no-slot ${noSlot})`,
    )
    assert.ok(timeout >= 1 && noSlot >= 1, `both outcomes seen (timeout ${timeout}, no-slot ${noSlot})`)
    await realPeerGetsIn(srv)
  })

  describe('garbage instead of an auth', () => {
    const cases: { name: string; bytes: () => Uint8Array; label: string; eof?: boolean }[] = [
      {
        name: 'random bytes with a plausible size prefix',
        bytes: () => Uint8Array.of(0x01, 0x00, ...rand.bytes(0x100)),
        label: 'handshake-enc',
      },
      {
        name: 'a size prefix claiming 60000 bytes',
        bytes: () => Uint8Array.of(0xea, 0x60, ...rand.bytes(600)),
        label: 'handshake-enc',
      },
      {
        name: '307 bytes that look like a legacy auth',
        bytes: () => Uint8Array.of(0x04, ...rand.bytes(306)),
        label: 'timeout',
      },
      {
        name: 'half an auth, then silence',
        bytes: () => Uint8Array.of(0x01, 0x90, ...rand.bytes(100)),
        label: 'timeout',
      },
      {
        name: 'a single byte, then EOF',
        bytes: () => Uint8Array.of(0x01),
        label: 'handshake-enc',
        eof: true,
      },
    ]
    for (const c of cases) {
      it(`${c.name}: closed, counted as ${c.label}, no crash`, async () => {
        const srv = await start()
        const timers = liveTimers()
        const s = await tcpConnect(srv.port)
        sockets.push(s)
        if (c.eof) s.end(c.bytes())
        else s.write(c.bytes())
        await closed(s)
        await servedOnce(srv, c.label)
        assert.equal(srv.metrics.total('p2p_serves_total'), 1)
        await assertIdle(srv, timers)
        await realPeerGetsIn(srv)
      })
    }
  })

  describe('after a valid encryption handshake', () => {
    it('a Hello with the id of another key: Disconnect UnexpectedIdentity, then closed', async () => {
      const srv = await start()
      const timers = liveTimers()
      const k1 = generatePrivateKey()
      const { socket, conn } = await rlpxDial(srv.port, k1, serverKey(srv))
      sockets.push(socket)
      await conn.writeMsg(BaseMsg.Hello, helloFor(k1, { id: publicKeyFromPrivate(generatePrivateKey()) }))
      const theirHello = await conn.readMsg()
      assert.equal(theirHello.code, BaseMsg.Hello)
      const disc = await conn.readMsg()
      assert.equal(disc.code, BaseMsg.Disconnect)
      assert.equal(decodeDisconnect(disc.payload), DiscReason.UnexpectedIdentity)
      await closed(socket)
      await servedOnce(srv, 'local-UnexpectedIdentity')
      await assertIdle(srv, timers)
    })

    it('a Hello with an all-zero id: Disconnect InvalidIdentity', async () => {
      const srv = await start()
      const timers = liveTimers()
      const k1 = generatePrivateKey()
      const { socket, conn } = await rlpxDial(srv.port, k1, serverKey(srv))
      sockets.push(socket)
      await conn.writeMsg(BaseMsg.Hello, helloFor(k1, { id: new Uint8Array(64) }))
      assert.equal((await conn.readMsg()).code, BaseMsg.Hello)
      const disc = await conn.readMsg()
      assert.equal(disc.code, BaseMsg.Disconnect)
      assert.equal(decodeDisconnect(disc.payload), DiscReason.InvalidIdentity)
      await closed(socket)
      await servedOnce(srv, 'local-InvalidIdentity')
      await assertIdle(srv, timers)
    })

    it("an inbound connection with the server's own key: Disconnect Self before any Hello", async () => {
      const srv = await start()
      const timers = liveTimers()
      const { socket, conn } = await rlpxDial(srv.port, srv.config.privateKey, serverKey(srv))
      sockets.push(socket)
      const disc = await conn.readMsg()
      assert.equal(disc.code, BaseMsg.Disconnect, 'the refusal comes before the Hello')
      assert.equal(decodeDisconnect(disc.payload), DiscReason.Self)
      await closed(socket)
      await servedOnce(srv, 'local-Self')
      await assertIdle(srv, timers)
    })

    it('a bad header MAC instead of a Hello: closed, counted as a protocol error', async () => {
      const srv = await start()
      const timers = liveTimers()
      const c = await rawRlpxClient(srv.port, generatePrivateKey(), serverKey(srv))
      sockets.push(c.socket)
      c.sendRaw(rand.bytes(FRAME_HEADER_SIZE))
      await closed(c.socket)
      await servedOnce(srv, 'protocol-error')
      await assertIdle(srv, timers)
    })

    it('a Hello frame header claiming 16 MiB - 1: refused from its header (Hello limit), nothing buffered', async () => {
      const srv = await start()
      const timers = liveTimers()
      const c = await rawRlpxClient(srv.port, generatePrivateKey(), serverKey(srv))
      sockets.push(c.socket)
      // Code 0 (one byte) + 2^24 - 2 payload bytes: the largest frame a header can announce.
      const huge = c.frame(BaseMsg.Hello, new Uint8Array(0xffffff - 1))
      c.sendRaw(huge.subarray(0, FRAME_HEADER_SIZE + 64 * 1024))
      await closed(c.socket)
      await servedOnce(srv, 'protocol-error')
      await assertIdle(srv, timers)
      await realPeerGetsIn(srv)
    })
  })

  describe('after both handshakes', () => {
    async function connected(): Promise<{ srv: Server; c: RawRlpxClient; timers: number }> {
      const srv = await start()
      const timers = liveTimers()
      const key = generatePrivateKey()
      const added = waitEvent(srv, (e) => e.type === 'add')
      const c = await rawRlpxClient(srv.port, key, serverKey(srv))
      sockets.push(c.socket)
      const h = await rawHello(c, key)
      assert.deepEqual(
        h.caps.map((x) => `${x.name}/${x.version}`),
        ['test/1'],
      )
      await added
      return { srv, c, timers }
    }

    async function dropOf(srv: Server, act: () => void): Promise<Extract<ServerEvent, { type: 'drop' }>> {
      const dropped = waitEvent(srv, (e) => e.type === 'drop')
      act()
      return (await dropped) as Extract<ServerEvent, { type: 'drop' }>
    }

    it('a bad header MAC: dropped with ProtocolError, the typed error names the header MAC', async () => {
      const { srv, c, timers } = await connected()
      const d = await dropOf(srv, () => c.sendRaw(rand.bytes(FRAME_HEADER_SIZE)))
      assert.equal(d.side, 'local')
      assert.equal(d.reason, 'ProtocolError')
      assert.match(d.error, /bad header MAC/)
      await closed(c.socket)
      assert.equal(srv.metrics.get('p2p_peer_drops_total', { reason: 'protocol-error' }), 1)
      await assertIdle(srv, timers)
    })

    it('a bad frame MAC: dropped with ProtocolError, the typed error names the frame MAC', async () => {
      const { srv, c, timers } = await connected()
      const f = c.frame(0x10, Uint8Array.of(0xc0))
      f[f.length - 1]! ^= 0xff
      const d = await dropOf(srv, () => c.sendRaw(f))
      assert.equal(d.reason, 'ProtocolError')
      assert.match(d.error, /bad frame MAC/)
      await closed(c.socket)
      await assertIdle(srv, timers)
    })

    it('a snappy payload declaring more than 16 MiB: refused before decompressing', async () => {
      const { srv, c, timers } = await connected()
      // varint(2^24) then a few bytes: the declared size alone is over the limit.
      c.snappy = false
      const d = await dropOf(srv, () => c.send(0x10, Uint8Array.of(0x80, 0x80, 0x80, 0x08, 0, 1, 2, 3)))
      assert.equal(d.reason, 'ProtocolError')
      assert.match(d.error, /exceeds the limit/)
      await closed(c.socket)
      await assertIdle(srv, timers)
    })

    it('a message code beyond every protocol: Disconnect ProtocolError sent, then closed', async () => {
      const { srv, c, timers } = await connected()
      const dropped = waitEvent(srv, (e) => e.type === 'drop')
      c.send(0x40, Uint8Array.of(0xc0))
      let disc: { code: number; payload: Uint8Array } | undefined
      for (;;) {
        const m = await c.readMsg()
        if (m.code === BaseMsg.Disconnect) {
          disc = m
          break
        }
      }
      assert.equal(decodeDisconnect(disc.payload), DiscReason.ProtocolError)
      assert.deepEqual(decode(disc.payload), [Uint8Array.of(DiscReason.ProtocolError)])
      const d = (await dropped) as Extract<ServerEvent, { type: 'drop' }>
      assert.equal(d.reason, 'ProtocolError')
      assert.equal(d.side, 'local')
      await closed(c.socket)
      await assertIdle(srv, timers)
    })

    it('a Disconnect with an undecodable reason: dropped as remote, reason Invalid, no crash', async () => {
      const { srv, c, timers } = await connected()
      const d = await dropOf(srv, () => c.send(BaseMsg.Disconnect, Uint8Array.of(0xc2, 0x82, 0x01)))
      assert.equal(d.side, 'remote')
      assert.equal(d.reason, 'Invalid')
      await closed(c.socket)
      await assertIdle(srv, timers)
    })
  })

  it('setupConnection with a small maxFrameSize refuses an oversized header at once (no wait for the body)', async () => {
    const ln = createServer()
    ln.listen(0, '127.0.0.1')
    await once(ln, 'listening')
    try {
      const accepted = once(ln, 'connection') as Promise<[Socket]>
      const ourKey = generatePrivateKey()
      const clientP = rawRlpxClient(portOf(ln), generatePrivateKey(), publicKeyFromPrivate(ourKey))
      const [socket] = await accepted
      sockets.push(socket)
      const setup = setupConnection({
        socket,
        privateKey: ourKey,
        hello: {
          version: 5,
          name: 'limits',
          caps: [],
          listenPort: 0,
          id: publicKeyFromPrivate(ourKey),
          rest: [],
        },
        clock: systemClock,
        timeoutMs: 30_000,
        connConfig: { maxFrameSize: 4096 },
      }).then(
        () => undefined,
        (e: unknown) => e,
      )
      const c = await clientP
      sockets.push(c.socket)
      const huge = c.frame(BaseMsg.Hello, new Uint8Array(0xffffff - 1))
      c.sendRaw(huge.subarray(0, FRAME_HEADER_SIZE))
      const err = await setup
      assert.ok(err instanceof DecodeError && !(err instanceof TimeoutError), String(err))
      // The Hello stage allows at most a Hello's size, below the configured 4096.
      assert.match(err.message, /exceeds the limit of 2056/)
      await closed(c.socket)
    } finally {
      ln.close()
    }
  })
})

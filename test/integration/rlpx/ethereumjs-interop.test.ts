/**
 * Interop over real TCP sockets on 127.0.0.1 (port 0) between our RLPxConn and
 * @ethereumjs/devp2p's `Peer` (an independent implementation): the EIP-8 handshake in both
 * directions, the Hello exchange, snappy-compressed Ping/Pong and sub-protocol messages (up to
 * 1 MiB), and Disconnect.
 *
 * Not covered here: legacy (pre-EIP-8) handshakes. @ethereumjs/devp2p 10.0.0 cannot read them:
 * its legacy check compares a fresh `Uint8Array` with `===`, which is never true, so every auth
 * and ack is parsed as EIP-8. Our legacy support is tested against our own and aleth's packets.
 */
import assert from 'node:assert/strict'
import { type AddressInfo, connect, createServer, type Server, type Socket } from 'node:net'
import { after, before, describe, it } from 'node:test'
import { Common, Mainnet } from '@ethereumjs/common'
import { Peer } from '@ethereumjs/devp2p'
import { publicKeyFromPrivate } from '../../../src/crypto/index.js'
import { decode, encode, type RlpValue } from '../../../src/rlp/index.js'
import { RLPxConn } from '../../../src/rlpx/conn.js'
import { jsSnappy } from '../../../src/rlpx/snappy.js'
import { fromUtf8, seededRandom, utf8 } from '../../../src/util/index.js'

const rand = seededRandom(2024)
const ourPriv = rand.bytes(32)
const ourPub = publicKeyFromPrivate(ourPriv)
const theirPriv = rand.bytes(32)
const theirPub = publicKeyFromPrivate(theirPriv)

/** A tiny sub-protocol for ethereumjs' Peer: echoes every message back with code + 1. */
class EchoProtocol {
  static received: { code: number; size: number }[] = []
  constructor(
    _version: number,
    _peer: unknown,
    private readonly send: (code: number, data: Uint8Array) => void,
  ) {}
  _handleMessage(code: number, payload: Uint8Array): void {
    EchoProtocol.received.push({ code, size: payload.length })
    // ethereumjs' Peer decompresses for sub-protocols but leaves compression to them.
    this.send(code + 1, jsSnappy().compress(payload))
  }
}
const ECHO_CAP = { name: 'echo', version: 1, length: 8, constructor: EchoProtocol }

function ethereumjsPeer(socket: Socket, remoteId: Uint8Array | null): Peer {
  const peer = new Peer({
    socket,
    remoteId: remoteId as Uint8Array,
    privateKey: theirPriv,
    id: theirPub,
    clientId: utf8('ethereumjs-interop'),
    capabilities: [ECHO_CAP as never],
    common: new Common({ chain: Mainnet }),
    port: 0,
    timeout: 10_000,
    EIP8: true,
  })
  peer.events.on('error', () => {})
  return peer
}

function listen(onConn: (s: Socket) => void): Promise<Server> {
  return new Promise((resolve) => {
    const server = createServer(onConn)
    server.listen(0, '127.0.0.1', () => resolve(server))
  })
}

function dial(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect(port, '127.0.0.1', () => resolve(s))
    s.once('error', reject)
  })
}

/** Exchange Hellos and switch snappy on; returns their Hello. */
async function helloExchange(conn: RLPxConn): Promise<RlpValue[]> {
  const ours = encode([5, utf8('devp2p-ts-test'), [[utf8('echo'), 1]], 0, ourPub])
  const [theirs] = await Promise.all([conn.readMsg(), conn.writeMsg(0x00, ours)])
  assert.equal(theirs.code, 0x00)
  const hello = decode(theirs.payload) as RlpValue[]
  assert.deepEqual(hello[0], Uint8Array.of(5))
  assert.equal(fromUtf8(hello[1] as Uint8Array), 'ethereumjs-interop')
  assert.deepEqual(hello[4], theirPub)
  conn.setSnappy(true)
  return hello
}

/** Ping/Pong, echo round trips of growing sizes, then Disconnect. */
async function session(conn: RLPxConn): Promise<void> {
  await helloExchange(conn)
  const wire = await conn.writeMsg(0x02, Uint8Array.of(0xc0))
  assert.equal(wire, 3) // 01 00 c0
  const pong = await conn.readMsg()
  assert.equal(pong.code, 0x03)
  assert.deepEqual(pong.payload, Uint8Array.of(0xc0))

  EchoProtocol.received = []
  const sizes = [1, 100, 70_000, 1 << 20]
  for (const [i, n] of sizes.entries()) {
    const payload = rand.bytes(n)
    await conn.writeMsg(0x10 + i, payload)
    const echo = await conn.readMsg()
    assert.equal(echo.code, 0x10 + i + 1)
    assert.deepEqual(echo.payload, payload)
  }
  assert.deepEqual(
    EchoProtocol.received.map((r) => r.size),
    sizes,
  )
  await conn.writeMsg(0x01, encode([0x08]))
  await conn.closeGracefully(2_000)
}

describe('RLPx interop with @ethereumjs/devp2p over TCP', { timeout: 30_000 }, () => {
  let server: Server | undefined
  after(() => server?.close())

  it('we dial, ethereumjs listens', async () => {
    let theirs: Peer | undefined
    const srv = await listen((s) => {
      theirs = ethereumjsPeer(s, null)
    })
    try {
      const socket = await dial((srv.address() as AddressInfo).port)
      const conn = new RLPxConn(socket)
      const key = await conn.handshake({ privateKey: ourPriv, remotePublicKey: theirPub })
      assert.deepEqual(key, theirPub)
      await session(conn)
      assert.ok(theirs)
      assert.deepEqual(theirs.getId(), ourPub)
    } finally {
      srv.close()
    }
  })

  describe('ethereumjs dials, we listen', () => {
    let accepted: Promise<Socket>
    before(async () => {
      let resolveAccepted!: (s: Socket) => void
      accepted = new Promise((r) => {
        resolveAccepted = r
      })
      server = await listen((s) => resolveAccepted(s))
    })
    it('completes the handshake as recipient and runs a session', async () => {
      const port = (server!.address() as AddressInfo).port
      const theirSocket = await dial(port)
      ethereumjsPeer(theirSocket, ourPub)
      const conn = new RLPxConn(await accepted)
      const key = await conn.handshake({ privateKey: ourPriv })
      assert.deepEqual(key, theirPub)
      await session(conn)
    })
  })
})

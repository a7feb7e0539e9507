/**
 * A hostile RLPx client for tests: the encryption handshake done by hand (InitiatorHandshake +
 * FrameCodec from src) over a raw socket, so a test can send anything after it: frames with a
 * bad MAC, a header claiming a huge frame, a Hello with a foreign id. Also an RLPxConn dialer
 * and socket utilities (wait for close, count live timers).
 */
import { type AddressInfo, connect, type Socket } from 'node:net'
import { publicKeyFromPrivate } from '../../src/crypto/index.js'
import { encodeHello, type Hello } from '../../src/p2p/hello.js'
import { RLPxConn } from '../../src/rlpx/conn.js'
import { FRAME_HEADER_SIZE, FrameCodec } from '../../src/rlpx/frame.js'
import { ACK_LEGACY_SIZE, InitiatorHandshake, readHandshakePacket } from '../../src/rlpx/handshake.js'
import { jsSnappy, snappyDecompress } from '../../src/rlpx/snappy.js'
import { concatBytes } from '../../src/util/index.js'

/** Connect to 127.0.0.1:`port`; errors after connecting are swallowed (closes are observed). */
export function tcpConnect(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect(port, '127.0.0.1', () => {
      s.off('error', reject)
      s.on('error', () => {})
      resolve(s)
    })
    s.once('error', reject)
  })
}

/** Resolve once `socket` has closed (rejects after `ms`). */
export function closed(socket: Socket, ms = 10_000): Promise<void> {
  if (socket.destroyed && socket.closed) return Promise.resolve()
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error('timed out waiting for the socket to close')), ms)
    socket.once('close', () => {
      clearTimeout(t)
      resolve()
    })
  })
}

/** Exact-size reads over a socket's data events. */
class SocketReader {
  private buf: Uint8Array = new Uint8Array(0)
  private waiter: { n: number; resolve: (b: Uint8Array) => void; reject: (e: Error) => void } | undefined
  private ended: Error | undefined

  constructor(socket: Socket) {
    socket.on('data', (c: Uint8Array) => {
      this.buf = concatBytes(this.buf, c)
      this.wake()
    })
    socket.on('close', () => {
      this.ended = new Error('socket closed')
      this.wake()
    })
  }

  private wake(): void {
    const w = this.waiter
    if (!w) return
    if (this.buf.length >= w.n) {
      this.waiter = undefined
      w.resolve(this.take(w.n))
    } else if (this.ended) {
      this.waiter = undefined
      w.reject(this.ended)
    }
  }

  private take(n: number): Uint8Array {
    const out = this.buf.subarray(0, n)
    this.buf = this.buf.subarray(n)
    return out
  }

  read(n: number): Promise<Uint8Array> {
    if (this.buf.length >= n) return Promise.resolve(this.take(n))
    if (this.ended) return Promise.reject(this.ended)
    return new Promise((resolve, reject) => {
      this.waiter = { n, resolve, reject }
    })
  }
}

/** A message read by the {@link RawRlpxClient}. */
export interface RawMsg {
  readonly code: number
  readonly payload: Uint8Array
}

/** A client that did the encryption handshake by hand and holds the frame codec. */
export interface RawRlpxClient {
  readonly socket: Socket
  readonly codec: FrameCodec
  /** Encode one frame (uncompressed payload unless `snappy` was switched on). */
  frame(code: number, payload: Uint8Array): Uint8Array
  /** Encode and send one frame. */
  send(code: number, payload: Uint8Array): void
  /** Send raw bytes. */
  sendRaw(bytes: Uint8Array): void
  /** Read one frame (decompressed when `snappy` is on). */
  readMsg(): Promise<RawMsg>
  /** Compress sent payloads and decompress read ones. */
  snappy: boolean
}

/** Dial 127.0.0.1:`port` and run the initiator's encryption handshake by hand. */
export async function rawRlpxClient(
  port: number,
  privateKey: Uint8Array,
  remotePublicKey: Uint8Array,
): Promise<RawRlpxClient> {
  const socket = await tcpConnect(port)
  const reader = new SocketReader(socket)
  const hs = new InitiatorHandshake({ privateKey, remotePublicKey })
  socket.write(hs.makeAuth('eip8'))
  const { secrets } = await readHandshakePacket(
    (n) => reader.read(n),
    ACK_LEGACY_SIZE,
    (p, f) => hs.readAck(p, f),
  )
  const codec = new FrameCodec(secrets)
  const snappy = jsSnappy()
  const client: RawRlpxClient = {
    socket,
    codec,
    snappy: false,
    frame: (code, payload) => codec.encodeFrame(code, client.snappy ? snappy.compress(payload) : payload),
    send: (code, payload) => {
      socket.write(client.frame(code, payload))
    },
    sendRaw: (bytes) => {
      socket.write(bytes)
    },
    async readMsg() {
      const h = codec.decodeHeader(await reader.read(FRAME_HEADER_SIZE))
      const m = codec.decodeBody(await reader.read(h.bodyLength))
      return {
        code: m.code,
        payload: client.snappy ? snappyDecompress(m.payload, undefined, snappy) : m.payload,
      }
    },
  }
  return client
}

/** Dial 127.0.0.1:`port` and run the encryption handshake with our RLPxConn. */
export async function rlpxDial(
  port: number,
  privateKey: Uint8Array,
  remotePublicKey: Uint8Array,
): Promise<{ socket: Socket; conn: RLPxConn }> {
  const socket = await tcpConnect(port)
  const conn = new RLPxConn(socket, {}, { handshakeTimeoutMs: 5_000, readTimeoutMs: 5_000 })
  await conn.handshake({ privateKey, remotePublicKey })
  return { socket, conn }
}

/** A Hello payload for `privateKey` (its id overridable) announcing `test/1`. */
export function helloFor(privateKey: Uint8Array, over: Partial<Hello> = {}): Uint8Array {
  return encodeHello({
    version: 5,
    name: 'hostile',
    caps: [{ name: 'test', version: 1 }],
    listenPort: 0,
    id: publicKeyFromPrivate(privateKey),
    ...over,
  })
}

/** Number of live timers of this process (`Timeout` resources). */
export function liveTimers(): number {
  return process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length
}

/** The port a net server listens on. */
export function portOf(server: { address(): AddressInfo | string | null }): number {
  return (server.address() as AddressInfo).port
}

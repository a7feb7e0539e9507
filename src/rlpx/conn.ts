/**
 * `RLPxConn`: an RLPx connection over a stream socket (a `net.Socket` or any `Duplex`, such as
 * {@link duplexPair} in tests). The only file of the rlpx layer that does I/O. It runs the
 * encryption handshake, then reads and writes messages as frames, with:
 *
 * - deadlines on the injected clock: handshake 5 s, each message read 30 s, each write 20 s
 *   (go-ethereum's handshakeTimeout, frameReadTimeout, frameWriteTimeout);
 * - write backpressure: a write resolves once the socket accepted the frame, waiting for
 *   `'drain'` when the socket asks; writes are queued and go out in call order;
 * - bounded reads: received chunks are kept in a list and each read takes exactly the bytes it
 *   needs (one copy at most); the socket is paused while no read needs more and the buffer is
 *   above a high-water mark; a frame's size is checked from its 32-byte header, before its body
 *   is read; a snappy message's declared size is checked before decompressing;
 * - snappy (EIP-706) on/off through {@link RLPxConn.setSnappy}, decided by the peer layer;
 * - one failure rule: every error destroys the socket, and the error is typed (`HandshakeError`,
 *   `DecodeError`/`FrameMacError`, `TimeoutError`, `AbortError`, {@link ConnectionClosedError}).
 *
 * The Hello exchange is not here: it belongs to the peer layer, as in go-ethereum.
 */
import type { Socket } from 'node:net'
import type { Duplex } from 'node:stream'
import {
  AbortError,
  abortReason,
  assertBytes,
  type Clock,
  DecodeError,
  DevP2PError,
  HandshakeError,
  type Logger,
  type RandomSource,
  secureRandom,
  silentLogger,
  systemClock,
  TimeoutError,
  type Timer,
} from '../util/index.js'
import { FRAME_HEADER_SIZE, FrameCodec, type FrameHeader, MAX_FRAME_SIZE } from './frame.js'
import {
  ACK_LEGACY_SIZE,
  AUTH_LEGACY_SIZE,
  type HandshakeFormat,
  InitiatorHandshake,
  RecipientHandshake,
  readHandshakePacket,
  type SessionSecrets,
} from './handshake.js'
import {
  defaultSnappy,
  MAX_UNCOMPRESSED_SIZE,
  type SnappyCodec,
  snappyCompress,
  snappyDecompress,
} from './snappy.js'

/** Code of the base protocol's Disconnect, the one message read raw when it does not decompress. */
const DISCONNECT_MSG_CODE = 0x01
/** Largest uncompressed Disconnect accepted with snappy on (`[reason]` is 2-3 bytes). */
const MAX_RAW_DISCONNECT_SIZE = 16

const NO_TIMER: Timer = { cancel() {} }

/** The property of a socket that points to its connection (for the shared socket listeners). */
const CONN: unique symbol = Symbol('devp2p.RLPxConn')
type SocketWithConn = Duplex & { [CONN]?: RLPxConn }
function connOf(socket: Duplex): RLPxConn | undefined {
  return (socket as SocketWithConn)[CONN]
}

/** The connection is closed: by us, by the peer (EOF, reset) or after an earlier failure. */
export class ConnectionClosedError extends DevP2PError {
  override name = 'ConnectionClosedError' as const
}

/** Options of an {@link RLPxConn}. Every field has a default in {@link RLPX_CONN_DEFAULTS}. */
export interface RLPxConnConfig {
  /** Deadline of the whole encryption handshake (go-ethereum handshakeTimeout: 5 s). */
  readonly handshakeTimeoutMs: number
  /** Deadline of each `readMsg` (go-ethereum frameReadTimeout: 30 s). */
  readonly readTimeoutMs: number
  /** Deadline of each `writeMsg`, queueing included (go-ethereum frameWriteTimeout: 20 s). */
  readonly writeTimeoutMs: number
  /** Largest accepted frame size (RLP(code) + payload as sent); checked from the header. */
  readonly maxFrameSize: number
  /** Largest accepted decompressed payload when snappy is on (go-ethereum: 2^24 − 1). */
  readonly maxMessageSize: number
  /** Buffered bytes above which the socket is paused while no read is waiting. */
  readonly readHighWaterMark: number
  /** Accept pre-EIP-8 auth/ack packets from peers (go-ethereum no longer does). */
  readonly allowLegacyHandshake: boolean
  /**
   * While a read waits, the frame ciphers' OpenSSL contexts (about 0.9 KiB of RSS each) are
   * dropped once no frame has gone either way for between one and two of these periods, and
   * rebuilt on the next frame (1.5 µs each). `Infinity`: keep them.
   */
  readonly idleCipherReleaseMs: number
}

/** Defaults of {@link RLPxConnConfig} (go-ethereum's values). */
export const RLPX_CONN_DEFAULTS: Readonly<RLPxConnConfig> = Object.freeze({
  handshakeTimeoutMs: 5_000,
  readTimeoutMs: 30_000,
  writeTimeoutMs: 20_000,
  maxFrameSize: MAX_FRAME_SIZE,
  maxMessageSize: MAX_UNCOMPRESSED_SIZE,
  readHighWaterMark: 64 * 1024,
  allowLegacyHandshake: true,
  idleCipherReleaseMs: 1_000,
})

/** A complete, frozen config from a partial one. Throws `RangeError` for out-of-range values. */
export function resolveConnConfig(partial: Partial<RLPxConnConfig> = {}): Readonly<RLPxConnConfig> {
  // No overrides (the usual case): every connection shares the one frozen defaults object.
  if (partial === RLPX_CONN_DEFAULTS || Object.keys(partial).length === 0) return RLPX_CONN_DEFAULTS
  const c = { ...RLPX_CONN_DEFAULTS, ...partial }
  for (const k of [
    'handshakeTimeoutMs',
    'readTimeoutMs',
    'writeTimeoutMs',
    'readHighWaterMark',
    'idleCipherReleaseMs',
  ] as const) {
    if (!(c[k] > 0)) throw new RangeError(`${k}: must be positive`)
  }
  if (!(c.maxFrameSize > 0 && c.maxFrameSize <= MAX_FRAME_SIZE))
    throw new RangeError(`maxFrameSize: must be in [1, ${MAX_FRAME_SIZE}]`)
  if (!(c.maxMessageSize > 0 && c.maxMessageSize <= MAX_UNCOMPRESSED_SIZE))
    throw new RangeError(`maxMessageSize: must be in [1, ${MAX_UNCOMPRESSED_SIZE}]`)
  return Object.freeze(c)
}

/** Services an {@link RLPxConn} uses. */
export interface RLPxConnDeps {
  readonly clock?: Clock
  /** Randomness of the handshake (keys, nonce, padding, ECIES). */
  readonly random?: RandomSource
  readonly logger?: Logger
  /** Snappy backend; default: native with JS fallback. */
  readonly snappy?: SnappyCodec
}

/** Options of {@link RLPxConn.handshake}. */
export interface RLPxHandshakeOptions {
  /** Our static private key (32 bytes). */
  readonly privateKey: Uint8Array
  /** The peer's static public key (64 bytes). Given: we dial (initiator). Absent: we listen. */
  readonly remotePublicKey?: Uint8Array
  readonly signal?: AbortSignal
  /** Overrides the configured handshake deadline; `Infinity`: none of its own (`signal` carries one). */
  readonly timeoutMs?: number
  /** Send a pre-EIP-8 auth (initiator only; for tests and very old peers). */
  readonly legacy?: boolean
  /** Fixed ephemeral key (tests). */
  readonly ephemeralPrivateKey?: Uint8Array
  /** Fixed nonce (tests). */
  readonly nonce?: Uint8Array
}

/** A message as read: its code, payload (decompressed if snappy is on), and size on the wire. */
export interface RLPxMsg {
  readonly code: number
  readonly payload: Uint8Array
  /** Payload bytes as received (compressed size when snappy is on), for metering. */
  readonly size: number
}

/** Options of reads and writes. */
export interface RLPxIoOptions {
  readonly signal?: AbortSignal
  /**
   * Reads only: a lower frame-size limit for this read (e.g. 2 KiB while waiting for a Hello),
   * checked from the header like the configured one.
   */
  readonly maxFrameSize?: number
}

type ConnState =
  | { readonly kind: 'new' }
  | { readonly kind: 'handshaking' }
  | { readonly kind: 'open'; readonly codec: FrameCodec; readonly remotePublicKey: Uint8Array }
  | {
      readonly kind: 'closed'
      readonly error: Error
      /** Left when the peer closed: frames it sent before closing can still be read. */
      readonly codec: FrameCodec | undefined
      readonly remotePublicKey: Uint8Array | undefined
    }

interface PendingRead {
  readonly n: number
  readonly resolve: (b: Uint8Array) => void
  readonly reject: (e: Error) => void
}

/**
 * Where {@link RLPxConn.readMsgOrWait} delivers the message it waited for, or why the read
 * failed: exactly one of the two is called, once, from the socket's event (never from inside
 * `readMsgOrWait`). It may start the next read at once.
 */
export interface RLPxMsgReceiver {
  onMsg(msg: RLPxMsg): void
  onReadError(err: Error): void
}

/** What {@link RLPxConn.tryRead} has of a message that is not buffered in full yet. */
class PartialRead {
  constructor(
    readonly codec: FrameCodec,
    readonly limit: number,
    readonly header: FrameHeader | undefined,
  ) {}
}

/** A message read waiting for bytes. */
interface MsgWait {
  readonly codec: FrameCodec
  readonly limit: number
  /** Set once the frame's header is read. */
  header: FrameHeader | undefined
  /** Monotonic time at which the read times out. */
  readonly deadline: number
  readonly receiver: RLPxMsgReceiver
  readonly signal: AbortSignal | undefined
  onAbort: (() => void) | undefined
}

/**
 * Exact-size reads over the chunks a socket emits. Memory follows bytes received: nothing is
 * allocated from a length a peer claims, chunks are only joined once a read is complete.
 *
 * Two ways to wait: {@link read} (a promise for `n` bytes: the handshake), or `waiting` set by
 * the owner, which is then called back on every change (message reads, without a promise per
 * step).
 */
class ChunkReader<O> {
  // BOUNDED: the socket is paused once `buffered` passes the high-water mark with no read
  // waiting; while a read waits, it holds at most that read's size (checked by the caller first).
  private readonly chunks: Uint8Array[] = []
  private head = 0
  private buffered = 0
  private pending: PendingRead | undefined
  /** Set once no more bytes will arrive: why. */
  endError: Error | undefined
  private dead = false
  /** The owner waits for bytes (a message read): call it back, never pause the socket. */
  waiting = false

  constructor(
    private readonly socket: Duplex,
    private readonly highWaterMark: number,
    /** Called with `owner` when bytes arrive or the stream ends while `waiting`. */
    private readonly readable: (owner: O) => void,
    private readonly owner: O,
  ) {}

  private onReadable(): void {
    this.readable(this.owner)
  }

  push(chunk: Uint8Array): void {
    if (chunk.length === 0 || this.dead) return
    this.chunks.push(chunk)
    this.buffered += chunk.length
    const p = this.pending
    if (p !== undefined) {
      if (this.buffered >= p.n) {
        this.pending = undefined
        p.resolve(this.take(p.n))
      }
    } else if (this.waiting) this.onReadable()
    this.maybePause()
  }

  /** Pause the socket while nobody waits and the buffer is above the high-water mark. */
  maybePause(): void {
    if (this.pending === undefined && !this.waiting && this.buffered >= this.highWaterMark)
      this.socket.pause()
  }

  /** Start waiting for bytes (the owner is called back); the socket flows. */
  startWaiting(): void {
    this.waiting = true
    this.socket.resume()
  }

  /** No more bytes will arrive: reads the buffer cannot satisfy fail with `err`. */
  end(err: Error): void {
    this.endError ??= err
    const p = this.pending
    if (p !== undefined) {
      this.pending = undefined
      p.reject(this.endError)
    }
    if (this.waiting) this.onReadable()
  }

  /** Drop what is buffered and ignore later chunks; reads keep failing with the error they had. */
  drop(): void {
    this.dead = true
    this.chunks.length = 0
    this.head = 0
    this.buffered = 0
  }

  /** Drop everything and fail with `err` from now on (a waiting owner is not called back). */
  fail(err: Error): void {
    this.drop()
    this.endError = err
    this.waiting = false
    this.end(err)
  }

  get length(): number {
    return this.buffered
  }

  read(n: number): Promise<Uint8Array> {
    if (this.pending !== undefined) return Promise.reject(new Error('concurrent read'))
    if (this.buffered >= n) return Promise.resolve(this.take(n))
    if (this.endError !== undefined) return Promise.reject(this.endError)
    return new Promise<Uint8Array>((resolve, reject) => {
      this.pending = { n, resolve, reject }
      this.socket.resume()
    })
  }

  /** Take exactly `n` bytes (`n <= length`): a view when one chunk holds them, else one copy. */
  take(n: number): Uint8Array {
    this.buffered -= n
    const first = this.chunks[0]!
    if (first.length - this.head >= n) {
      const out = first.subarray(this.head, this.head + n)
      this.head += n
      if (this.head === first.length) {
        this.chunks.shift()
        this.head = 0
      }
      return out
    }
    const out = new Uint8Array(n)
    let o = 0
    while (o < n) {
      const c = this.chunks[0]!
      const k = Math.min(c.length - this.head, n - o)
      out.set(c.subarray(this.head, this.head + k), o)
      o += k
      this.head += k
      if (this.head === c.length) {
        this.chunks.shift()
        this.head = 0
      }
    }
    return out
  }
}

/**
 * An RLPx connection. Create it on a connected socket, call {@link handshake} once, then
 * {@link readMsg} (one at a time) and {@link writeMsg} (queued). Any failure closes it.
 *
 * ```ts
 * const conn = new RLPxConn(socket, { clock })
 * const remoteKey = await conn.handshake({ privateKey, remotePublicKey })
 * await conn.writeMsg(0x00, helloPayload)
 * const msg = await conn.readMsg()
 * ```
 */
export class RLPxConn {
  readonly config: Readonly<RLPxConnConfig>
  private readonly socket: Duplex
  private readonly clock: Clock
  private readonly random: RandomSource
  private readonly log: Logger
  private snappyCodec: SnappyCodec | undefined
  private readonly reader: ChunkReader<RLPxConn>
  private state: ConnState = { kind: 'new' }
  private snappyOn = false
  private reading = false
  /** The message read waiting for bytes, if any. */
  private msgWait: MsgWait | undefined
  /** The connection's read timer (see {@link readMsg}); left armed after reads complete. */
  private readTimer: Timer | undefined
  /** When it fires (monotonic ms). */
  private readTimerDue = Number.POSITIVE_INFINITY
  /** The socket is corked until the next tick (see {@link writeRaw}). */
  private corked = false
  /** Tail of the write queue (undefined when idle): each write starts when the previous one settled. */
  private writeTail: Promise<void> | undefined
  /** Writes waiting for `'drain'`, told when the connection closes; created on first use. */
  private closeWaiters: Set<(err: Error) => void> | undefined // BOUNDED: at most one (the head write)

  constructor(socket: Duplex, deps: RLPxConnDeps = {}, config: Partial<RLPxConnConfig> = {}) {
    this.config = resolveConnConfig(config)
    this.socket = socket
    this.clock = deps.clock ?? systemClock
    this.random = deps.random ?? secureRandom
    this.log = deps.logger ?? silentLogger
    this.snappyCodec = deps.snappy
    this.reader = new ChunkReader<RLPxConn>(socket, this.config.readHighWaterMark, RLPxConn.pump, this)
    // Every frame goes out in one write, so Nagle's algorithm only adds latency (Go's TCP
    // connections, and so go-ethereum's, have it off too).
    ;(socket as Partial<Pick<Socket, 'setNoDelay'>>).setNoDelay?.(true)
    // The listeners are shared by every connection and find theirs on the socket: an idle peer
    // then holds no closures of its own (docs/ARCHITECTURE.md, memory per connection). One
    // connection per socket: a second would get every chunk twice.
    if (connOf(socket) !== undefined) throw new Error('this socket already has an RLPxConn')
    ;(socket as SocketWithConn)[CONN] = this
    socket.on('data', RLPxConn.onData)
    socket.on('end', RLPxConn.onEnd)
    socket.on('error', RLPxConn.onError)
    socket.on('close', RLPxConn.onClose)
    if (socket.destroyed) this.socketEnded('socket closed')
  }

  private static pump(conn: RLPxConn): void {
    conn.pumpRead()
  }
  // Socket listeners: Node calls them with the socket as `this` (a static's own `this`, the
  // class, is never used).
  private static onData(this: Duplex, chunk: Uint8Array): void {
    // biome-ignore lint/complexity/noThisInStatic: `this` is the socket (an event listener)
    connOf(this)?.reader.push(chunk)
  }
  // The error objects are only built when they change the state (not for the 'close' that
  // follows every 'end', nor after a local close).
  private static onEnd(this: Duplex): void {
    // biome-ignore lint/complexity/noThisInStatic: `this` is the socket (an event listener)
    connOf(this)?.socketEnded('connection closed by the peer (EOF)')
  }
  private static onError(this: Duplex, err: Error): void {
    // biome-ignore lint/complexity/noThisInStatic: `this` is the socket (an event listener)
    connOf(this)?.socketEnded(`socket error: ${err.message}`, err)
  }
  private static onClose(this: Duplex): void {
    // biome-ignore lint/complexity/noThisInStatic: `this` is the socket (an event listener)
    connOf(this)?.socketEnded('socket closed')
  }

  private socketEnded(message: string, cause?: Error): void {
    if (this.state.kind === 'closed') return
    this.remoteClosed(new ConnectionClosedError(message, cause === undefined ? undefined : { cause }))
  }

  /** `new` → `handshaking` → `open` → `closed`. */
  get status(): ConnState['kind'] {
    return this.state.kind
  }

  /** The peer's static public key once the handshake is done. */
  get remotePublicKey(): Uint8Array | undefined {
    const s = this.state
    return s.kind === 'open' || s.kind === 'closed' ? s.remotePublicKey : undefined
  }

  /** Why the connection closed, once it has. */
  get closeError(): Error | undefined {
    return this.state.kind === 'closed' ? this.state.error : undefined
  }

  /** Whether the frame ciphers hold their OpenSSL contexts now (see `idleCipherReleaseMs`). */
  get holdsCipherContexts(): boolean {
    const s = this.state
    return s.kind === 'open' && s.codec.holdsCiphers
  }

  /** Whether messages are snappy-compressed. */
  get snappy(): boolean {
    return this.snappyOn
  }

  /**
   * Switch snappy compression of message payloads on or off, for both directions. The peer layer
   * turns it on after both Hellos announced version ≥ 5 (Hello itself is never compressed).
   * Turning it on resolves the codec now, so the process loads the native snappy module (about
   * 5 MiB of RSS once: the library and its runtime thread) when the first such peer connects,
   * not on the first compressed message some time later.
   */
  setSnappy(on: boolean): void {
    this.snappyOn = on
    if (on && this.snappyCodec === undefined) this.snappyCodec = defaultSnappy()
  }

  /** Close now (destroys the socket). Pending and later operations fail. Idempotent. */
  close(reason?: Error): void {
    const s = this.state
    if (s.kind === 'closed') {
      // Already closed (for example by the peer): make buffered frames unreadable from now on.
      if (s.codec !== undefined) {
        this.state = { ...s, codec: undefined }
        this.reader.drop()
      }
      return
    }
    this.fail(reason ?? new ConnectionClosedError('connection closed locally'), false)
  }

  /**
   * End the connection gently: let queued writes and buffered bytes go out (for example a
   * Disconnect), send EOF, then destroy the socket once the peer closes its side too or
   * `timeoutMs` has passed, whichever comes first.
   */
  async closeGracefully(timeoutMs = 1_000): Promise<void> {
    const socket = this.socket
    if (this.state.kind === 'closed' || socket.destroyed) {
      this.close()
      return
    }
    const tail = this.writeTail ?? Promise.resolve()
    await new Promise<void>((resolve) => {
      const t = this.clock.setTimeout(done, timeoutMs)
      function done(): void {
        t.cancel()
        socket.off('close', done)
        resolve()
      }
      socket.once('close', done)
      void tail.then(() => {
        if (!socket.destroyed && !socket.writableEnded) socket.end()
      })
    })
    this.close()
  }

  // -------------------------------------------------------------------------------------------
  // Handshake

  /**
   * Run the encryption handshake: as initiator when `remotePublicKey` is given (we send auth),
   * else as recipient. Resolves with the peer's static public key (64 bytes). Rejects with
   * `HandshakeError('enc')` (its `cause` says why: a `DecodeError`, a `TimeoutError`, a
   * `ConnectionClosedError`…) or with `AbortError` if `signal` aborts; the connection is then closed.
   */
  async handshake(opts: RLPxHandshakeOptions): Promise<Uint8Array> {
    if (this.state.kind !== 'new') {
      if (this.state.kind === 'closed')
        throw new HandshakeError('enc', 'connection closed', { cause: this.state.error })
      throw new Error('handshake already started')
    }
    assertBytes('privateKey', opts.privateKey, 32)
    if (opts.remotePublicKey !== undefined) assertBytes('remotePublicKey', opts.remotePublicKey, 64)
    this.state = { kind: 'handshaking' }
    const timeoutMs = opts.timeoutMs ?? this.config.handshakeTimeoutMs
    try {
      const secrets = await this.deadline(timeoutMs, 'RLPx handshake', opts.signal, () =>
        opts.remotePublicKey !== undefined
          ? this.runInitiator(opts, opts.remotePublicKey)
          : this.runRecipient(opts),
      )
      if (this.state.kind !== 'handshaking') throw this.closedError()
      this.state = { kind: 'open', codec: new FrameCodec(secrets), remotePublicKey: secrets.remotePublicKey }
      this.log.trace('rlpx handshake done', { initiator: opts.remotePublicKey !== undefined })
      return secrets.remotePublicKey
    } catch (err) {
      const e =
        err instanceof HandshakeError || err instanceof AbortError
          ? err
          : new HandshakeError('enc', err instanceof Error ? err.message : String(err), { cause: err })
      this.fail(e, true)
      throw e
    }
  }

  private async runInitiator(
    opts: RLPxHandshakeOptions,
    remotePublicKey: Uint8Array,
  ): Promise<SessionSecrets> {
    const hs = new InitiatorHandshake({
      privateKey: opts.privateKey,
      remotePublicKey,
      random: this.random,
      ...(opts.ephemeralPrivateKey ? { ephemeralPrivateKey: opts.ephemeralPrivateKey } : {}),
      ...(opts.nonce ? { nonce: opts.nonce } : {}),
    })
    const format: HandshakeFormat = opts.legacy ? 'legacy' : 'eip8'
    await this.writeBytes(hs.makeAuth(format))
    const { secrets } = await readHandshakePacket(
      (n) => this.reader.read(n),
      ACK_LEGACY_SIZE,
      (packet, f) => hs.readAck(packet, f),
      this.config.allowLegacyHandshake,
    )
    return secrets
  }

  private async runRecipient(opts: RLPxHandshakeOptions): Promise<SessionSecrets> {
    const hs = new RecipientHandshake({
      privateKey: opts.privateKey,
      random: this.random,
      ...(opts.ephemeralPrivateKey ? { ephemeralPrivateKey: opts.ephemeralPrivateKey } : {}),
      ...(opts.nonce ? { nonce: opts.nonce } : {}),
    })
    await readHandshakePacket(
      (n) => this.reader.read(n),
      AUTH_LEGACY_SIZE,
      (packet, f) => hs.readAuth(packet, f),
      this.config.allowLegacyHandshake,
    )
    await this.writeBytes(hs.makeAck())
    return hs.secrets()
  }

  // -------------------------------------------------------------------------------------------
  // Messages

  /**
   * Read the next message. One read at a time. Rejects (and closes the connection) with
   * `TimeoutError` after `readTimeoutMs`, `DecodeError`/`FrameMacError` on a bad or over-limit
   * frame, `ConnectionClosedError` when the peer closed, `AbortError` when `signal` aborts. A
   * frame already buffered in full is returned without waiting.
   *
   * A read that waits holds no timer of its own: the connection keeps one read timer, armed
   * lazily and left running across reads, which fails the waiting read once it is
   * `readTimeoutMs` old.
   */
  readMsg(opts: RLPxIoOptions = {}): Promise<RLPxMsg> {
    let got: RLPxMsg | PartialRead
    try {
      got = this.tryRead(opts)
    } catch (err) {
      return Promise.reject(err)
    }
    if (!(got instanceof PartialRead)) return Promise.resolve(got)
    const p = got
    return new Promise<RLPxMsg>((resolve, reject) => {
      this.wait(p, { onMsg: resolve, onReadError: reject }, opts.signal)
    })
  }

  /**
   * {@link readMsg} without a promise, for a reader that loops for the life of the connection
   * (the peer layer's read loop; an idle peer then keeps no pending promise, closure or async
   * frame): returns the next message when it is already buffered; otherwise returns undefined
   * and `receiver` gets the message (or the error) later, once. Same rules as {@link readMsg}:
   * one read at a time, the same deadline and limits; an error known at once (closed, a bad
   * frame already buffered) is thrown.
   */
  readMsgOrWait(receiver: RLPxMsgReceiver, opts: RLPxIoOptions = {}): RLPxMsg | undefined {
    const got = this.tryRead(opts)
    if (!(got instanceof PartialRead)) return got
    this.wait(got, receiver, opts.signal)
    return undefined
  }

  /** The next message if it is buffered in full; else what is read of it so far. Throws. */
  private tryRead(opts: RLPxIoOptions): RLPxMsg | PartialRead {
    const s = this.state
    const codec = s.kind === 'open' || (s.kind === 'closed' && s.codec) ? s.codec : undefined
    if (codec === undefined) throw this.notOpen()
    if (this.reading) throw new Error('readMsg: another read is in progress')
    const signal = opts.signal
    if (signal?.aborted) throw abortReason(signal)
    const r = this.reader
    const limit = Math.min(opts.maxFrameSize ?? this.config.maxFrameSize, this.config.maxFrameSize)
    let header: FrameHeader | undefined
    try {
      if (r.length >= FRAME_HEADER_SIZE) {
        header = this.readHeader(codec, r.take(FRAME_HEADER_SIZE), limit)
        if (r.length >= header.bodyLength) return this.readBody(codec, r.take(header.bodyLength))
      }
      if (r.endError !== undefined) throw r.endError
    } catch (err) {
      const e = err instanceof Error ? err : new Error(String(err))
      this.fail(e, true)
      throw e
    }
    return new PartialRead(codec, limit, header)
  }

  /** Wait for the rest of a message: `receiver` is told once, from a socket event or a timer. */
  private wait(p: PartialRead, receiver: RLPxMsgReceiver, signal: AbortSignal | undefined): void {
    const w: MsgWait = {
      codec: p.codec,
      limit: p.limit,
      header: p.header,
      deadline: this.clock.monotonic() + this.config.readTimeoutMs,
      receiver,
      signal,
      onAbort: undefined,
    }
    if (signal !== undefined) {
      w.onAbort = () => {
        if (this.msgWait === w) this.failRead(w, abortReason(signal))
      }
      signal.addEventListener('abort', w.onAbort, { once: true })
    }
    this.msgWait = w
    this.reading = true
    // While the ciphers are held, the timer also comes back to release them once idle.
    const check = p.codec.holdsCiphers ? this.config.idleCipherReleaseMs : Number.POSITIVE_INFINITY
    this.armReadTimer(Math.min(this.config.readTimeoutMs, check))
    this.reader.startWaiting()
  }

  /** Bytes arrived or the stream ended while a message read waits: finish it if possible. */
  private pumpRead(): void {
    const w = this.msgWait
    if (w === undefined) return
    const r = this.reader
    let msg: RLPxMsg | undefined
    try {
      if (w.header === undefined && r.length >= FRAME_HEADER_SIZE)
        w.header = this.readHeader(w.codec, r.take(FRAME_HEADER_SIZE), w.limit)
      if (w.header !== undefined && r.length >= w.header.bodyLength)
        msg = this.readBody(w.codec, r.take(w.header.bodyLength))
      else if (r.endError !== undefined) throw r.endError
    } catch (err) {
      this.failRead(w, err instanceof Error ? err : new Error(String(err)))
      return
    }
    if (msg === undefined) return
    this.endWait(w)
    r.maybePause()
    // Last: the receiver may start the next read right away.
    w.receiver.onMsg(msg)
  }

  /** Arm the connection's read timer to fire in `ms`, unless it is armed to fire sooner. */
  private armReadTimer(ms: number): void {
    const due = this.clock.monotonic() + ms
    if (this.readTimer !== undefined) {
      if (this.readTimerDue <= due) return
      this.readTimer.cancel()
    }
    this.readTimerDue = due
    this.readTimer = this.clock.setTimeout(RLPxConn.readTimerFired, ms, this)
  }

  /** The connection's read timer fired: fail the waiting read if it is due, else re-arm. */
  private static readTimerFired(conn: RLPxConn): void {
    conn.onReadTimer()
  }
  private onReadTimer(): void {
    this.readTimer = undefined
    this.readTimerDue = Number.POSITIVE_INFINITY
    const s = this.state
    const idleMs = this.config.idleCipherReleaseMs
    const checkAgain = s.kind === 'open' && Number.isFinite(idleMs) && s.codec.releaseIfIdle()
    const w = this.msgWait
    if (w === undefined) return
    const left = w.deadline - this.clock.monotonic()
    if (left > 0) {
      this.armReadTimer(checkAgain ? Math.min(left, idleMs) : left)
      return
    }
    const ms = this.config.readTimeoutMs
    this.failRead(w, new TimeoutError(`RLPx frame read timed out after ${ms} ms`, ms))
  }

  /** The waiting read is over (whichever way). */
  private endWait(w: MsgWait): void {
    this.msgWait = undefined
    this.reading = false
    this.reader.waiting = false
    if (w.onAbort !== undefined) w.signal?.removeEventListener('abort', w.onAbort)
  }

  /** The waiting read failed: the connection fails with the same error. */
  private failRead(w: MsgWait, err: Error): void {
    this.endWait(w)
    this.fail(err, true)
    w.receiver.onReadError(err)
  }

  /** Check a frame header; the size limit is decided here, before the body is buffered. */
  private readHeader(codec: FrameCodec, bytes: Uint8Array, limit: number): FrameHeader {
    const header = codec.decodeHeader(bytes)
    if (header.frameSize > limit)
      throw new DecodeError('rlpx-frame', `frame size ${header.frameSize} exceeds the limit of ${limit}`)
    return header
  }

  private readBody(codec: FrameCodec, bytes: Uint8Array): RLPxMsg {
    const msg = codec.decodeBody(bytes)
    const size = msg.payload.length
    if (!this.snappyOn) return { code: msg.code, payload: msg.payload, size }
    let payload: Uint8Array
    try {
      payload = snappyDecompress(msg.payload, this.config.maxMessageSize, this.snappyCodec ?? defaultSnappy())
    } catch (err) {
      // @ethereumjs/devp2p (10.x) sends its Disconnect uncompressed even after snappy was
      // negotiated. A tiny Disconnect that does not decompress is passed on raw so its reason is
      // not lost (the peer layer decodes Disconnect leniently, never throwing); every other
      // message that does not decompress stays a DecodeError.
      if (msg.code === DISCONNECT_MSG_CODE && size <= MAX_RAW_DISCONNECT_SIZE)
        return { code: msg.code, payload: msg.payload, size }
      throw err
    }
    return { code: msg.code, payload, size }
  }

  /**
   * Send one message. Writes are queued and leave in call order; the promise resolves when the
   * socket accepted the frame (after `'drain'` if the socket asked to wait), with the payload size
   * on the wire (compressed size when snappy is on). Rejects (and closes the connection) with
   * `TimeoutError` after `writeTimeoutMs` (queueing included), `ConnectionClosedError`, or
   * `AbortError`. A payload over the limits is a `RangeError` and leaves the connection open, as
   * does a `signal` that is already aborted. When nothing is queued and the socket takes the
   * frame at once, no timer is armed.
   */
  async writeMsg(code: number, payload: Uint8Array, opts: RLPxIoOptions = {}): Promise<number> {
    if (this.state.kind !== 'open') throw this.notOpen()
    assertBytes('payload', payload)
    if (!Number.isSafeInteger(code) || code < 0) throw new RangeError(`code: ${code} is not a uint`)
    if (this.snappyOn && payload.length > MAX_UNCOMPRESSED_SIZE)
      throw new RangeError(`payload of ${payload.length} bytes exceeds the limit of ${MAX_UNCOMPRESSED_SIZE}`)
    if (opts.signal?.aborted) throw abortReason(opts.signal)
    const prev = this.writeTail
    if (prev === undefined) {
      // Idle: write now; only wait (under the deadline) if the socket asks for it.
      const sent = this.sendFrame(code, payload)
      if (sent.flushed) return sent.size
      return this.queueWrite(opts.signal, async () => {
        await this.waitDrain()
        return sent.size
      })
    }
    return this.queueWrite(opts.signal, async () => {
      await prev
      const sent = this.sendFrame(code, payload)
      if (!sent.flushed) await this.waitDrain()
      return sent.size
    })
  }

  /** Run `op` as the new tail of the write queue, under the write deadline. */
  private async queueWrite(signal: AbortSignal | undefined, op: () => Promise<number>): Promise<number> {
    let release!: () => void
    const mine = new Promise<void>((resolve) => {
      release = resolve
    })
    this.writeTail = mine
    try {
      return await this.deadline(this.config.writeTimeoutMs, 'RLPx frame write', signal, op)
    } catch (err) {
      const e = err instanceof Error ? err : new Error(String(err))
      if (!(e instanceof RangeError)) this.fail(e, true)
      throw e
    } finally {
      release()
      if (this.writeTail === mine) this.writeTail = undefined
    }
  }

  /** Encode (and compress) one frame and hand it to the socket. Throws before sending anything. */
  private sendFrame(code: number, payload: Uint8Array): { size: number; flushed: boolean } {
    const s = this.state
    if (s.kind !== 'open') throw this.notOpen()
    const data = this.snappyOn ? snappyCompress(payload, this.snappyCodec ?? defaultSnappy()) : payload
    const frame = s.codec.encodeFrame(code, data) // RangeError if the frame exceeds 2^24 − 1
    return { size: data.length, flushed: this.writeRaw(frame) }
  }

  // -------------------------------------------------------------------------------------------
  // Socket plumbing

  /**
   * Run `op` under a deadline on the injected clock (none when `ms` is not finite: the caller's
   * `signal` carries it) and the caller's `signal`. On timeout or abort
   * the returned promise rejects at once; the caller then closes the connection, which rejects
   * whatever `op` still waits on (a read or a drain).
   */
  private deadline<T>(
    ms: number,
    what: string,
    signal: AbortSignal | undefined,
    op: () => Promise<T>,
  ): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      let settled = false
      const finish = (): boolean => {
        if (settled) return false
        settled = true
        timer.cancel()
        signal?.removeEventListener('abort', onAbort)
        return true
      }
      const onAbort = (): void => {
        if (finish()) reject(abortReason(signal!))
      }
      const timer = Number.isFinite(ms)
        ? this.clock.setTimeout(() => {
            if (finish()) reject(new TimeoutError(`${what} timed out after ${ms} ms`, ms))
          }, ms)
        : NO_TIMER
      signal?.addEventListener('abort', onAbort, { once: true })
      op().then(
        (v) => {
          if (finish()) resolve(v)
        },
        (e: unknown) => {
          if (finish()) reject(e)
        },
      )
    })
  }

  /**
   * Hand bytes to the socket; false when its buffer is full (wait for `'drain'`). The socket is
   * corked until the end of the current tick, so the frames written in one tick (a burst of
   * small messages, or an ack and the Hello that follows it) leave in one `writev`.
   */
  private writeRaw(bytes: Uint8Array): boolean {
    const socket = this.socket
    if (socket.destroyed || socket.writableEnded) throw this.closedError()
    if (!this.corked) {
      this.corked = true
      socket.cork()
      process.nextTick(RLPxConn.uncork, this)
    }
    return socket.write(bytes)
  }

  private static uncork(conn: RLPxConn): void {
    conn.flushWrites()
  }

  /** Let corked writes go to the socket now (at the end of the tick, or before a destroy). */
  private flushWrites(): void {
    if (!this.corked) return
    this.corked = false
    this.socket.uncork()
  }

  /** Write bytes; resolve at once, or on `'drain'` when the socket's buffer is full. */
  private async writeBytes(bytes: Uint8Array): Promise<void> {
    if (!this.writeRaw(bytes)) await this.waitDrain()
  }

  /** Resolve on the socket's next `'drain'`; reject when the connection closes first. */
  private waitDrain(): Promise<void> {
    const socket = this.socket
    if (this.state.kind === 'closed') return Promise.reject(this.closedError())
    return new Promise<void>((resolve, reject) => {
      const onDrain = (): void => {
        socket.off('drain', onDrain)
        this.closeWaiters?.delete(onClose)
        resolve()
      }
      const onClose = (err: Error): void => {
        socket.off('drain', onDrain)
        this.closeWaiters?.delete(onClose)
        reject(err)
      }
      socket.on('drain', onDrain)
      this.closeWaiters ??= new Set()
      this.closeWaiters.add(onClose)
    })
  }

  private closedError(): Error {
    const s = this.state
    if (s.kind === 'closed')
      return s.error instanceof ConnectionClosedError
        ? s.error
        : new ConnectionClosedError(`connection closed: ${s.error.message}`, { cause: s.error })
    return new ConnectionClosedError('connection closed')
  }

  private notOpen(): Error {
    if (this.state.kind === 'closed') return this.closedError()
    return new Error(`connection is ${this.state.kind}, not open`)
  }

  /** The peer closed or the socket failed: keep buffered bytes readable, fail everything else. */
  private remoteClosed(err: ConnectionClosedError): void {
    const s = this.state
    if (s.kind === 'closed') {
      this.reader.end(err)
      return
    }
    this.state = {
      kind: 'closed',
      error: err,
      codec: s.kind === 'open' ? s.codec : undefined,
      remotePublicKey: s.kind === 'open' ? s.remotePublicKey : undefined,
    }
    this.cancelReadTimer()
    // A waiting read takes what is buffered, or fails with `err` (and clears the codec).
    this.reader.end(err)
    this.log.debug('rlpx connection closed by peer', { err })
    this.rejectWriters(err)
    if (!this.socket.destroyed) {
      this.flushWrites()
      this.socket.destroy()
    }
  }

  /** A local failure: close for good (nothing more is read), destroy the socket. */
  private fail(err: Error, logIt: boolean): void {
    const s = this.state
    const closed =
      err instanceof ConnectionClosedError ? err : new ConnectionClosedError(err.message, { cause: err })
    const w = this.msgWait
    if (w !== undefined) this.endWait(w)
    this.reader.fail(closed)
    this.cancelReadTimer()
    if (s.kind === 'closed') {
      // Already closed (for example by the peer): make buffered frames unreadable from now on.
      this.state = { ...s, codec: undefined }
    } else {
      this.state = { kind: 'closed', error: err, codec: undefined, remotePublicKey: this.remotePublicKey }
      if (logIt) this.log.debug('rlpx connection failed', { err })
      if (this.closeWaiters?.size) this.rejectWriters(this.closedError())
      // Frames written in this tick still go out (as they did before writes were corked).
      this.flushWrites()
      this.socket.destroy()
    }
    w?.receiver.onReadError(closed)
  }

  private cancelReadTimer(): void {
    if (this.readTimer !== undefined) {
      this.readTimer.cancel()
      this.readTimer = undefined
      this.readTimerDue = Number.POSITIVE_INFINITY
    }
  }

  private rejectWriters(err: Error): void {
    if (this.closeWaiters?.size) for (const w of [...this.closeWaiters]) w(err)
  }
}

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
      /** What reads fail with once the buffered bytes do not satisfy them. */
      readonly readError: ConnectionClosedError
      /** Left when the peer closed: frames it sent before closing can still be read. */
      readonly codec: FrameCodec | undefined
      readonly remotePublicKey: Uint8Array | undefined
    }

// The states without data are shared by every connection.
const STATE_NEW: ConnState = Object.freeze({ kind: 'new' })
const STATE_HANDSHAKING: ConnState = Object.freeze({ kind: 'handshaking' })

/** The chunk list while nothing is buffered: shared (frozen), so an idle connection holds no array. */
const NO_CHUNKS: readonly Uint8Array[] = Object.freeze([])

/** A promise read of exactly `n` bytes (the handshake). */
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

/** The abort signal of a waiting message read and its listener (only for reads given a signal). */
interface ReadAbort {
  readonly signal: AbortSignal
  readonly listener: () => void
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
  private state: ConnState = STATE_NEW
  private snappyOn = false

  // Reads: exact-size reads over the chunks the socket emits, kept here rather than in an
  // object of their own (one object fewer per connection). Memory follows bytes received:
  // nothing is allocated from a length a peer claims, chunks are only joined once a read is
  // complete. Two ways to wait for bytes: a promise for `n` bytes ({@link readBytes}: the
  // handshake), or a message read ({@link wait}), continued on every chunk by {@link pumpRead}.
  // Once the state is closed, its `readError` is what reads the buffer cannot satisfy fail with.

  // BOUNDED: the socket is paused once `buffered` passes the high-water mark with no read
  // waiting; while a read waits, it holds at most that read's size (checked by the caller first).
  // {@link NO_CHUNKS} while empty.
  private chunks: Uint8Array[] = NO_CHUNKS as Uint8Array[]
  /** Bytes of `chunks[0]` already taken. */
  private head = 0
  /** Bytes buffered (in `chunks`, after `head`). */
  private buffered = 0
  /** The handshake's read waiting for bytes, if any. */
  private pendingRead: PendingRead | undefined
  /** The receiver of the message read waiting for bytes; set exactly while one waits. */
  private readReceiver: RLPxMsgReceiver | undefined
  /** The waiting message read's frame-size limit. */
  private readLimit = 0
  /** The waiting message read's frame header, once read. */
  private readFrameHeader: FrameHeader | undefined
  /** When the waiting message read times out (monotonic ms). */
  private readDeadline = Number.POSITIVE_INFINITY
  /** The waiting message read's abort signal and listener, when it was given one. */
  private readAbort: ReadAbort | undefined
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

  // Socket listeners: Node calls them with the socket as `this` (a static's own `this`, the
  // class, is never used).
  private static onData(this: Duplex, chunk: Uint8Array): void {
    // biome-ignore lint/complexity/noThisInStatic: `this` is the socket (an event listener)
    connOf(this)?.onChunk(chunk)
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
        this.dropBuffered()
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
    this.state = STATE_HANDSHAKING
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
      (n) => this.readBytes(n),
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
      (n) => this.readBytes(n),
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
    let got: RLPxMsg | undefined
    try {
      got = this.tryRead(opts)
    } catch (err) {
      return Promise.reject(err)
    }
    if (got !== undefined) return Promise.resolve(got)
    return new Promise<RLPxMsg>((resolve, reject) => {
      this.wait({ onMsg: resolve, onReadError: reject }, opts.signal)
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
    if (got !== undefined) return got
    this.wait(receiver, opts.signal)
    return undefined
  }

  /**
   * The next message if it is buffered in full. Else undefined, with the read's limit and its
   * frame header (when read) left in `readLimit` and `readFrameHeader` for {@link wait}. Throws.
   */
  private tryRead(opts: RLPxIoOptions): RLPxMsg | undefined {
    const codec = this.readCodec()
    if (codec === undefined) throw this.notOpen()
    if (this.readReceiver !== undefined) throw new Error('readMsg: another read is in progress')
    const signal = opts.signal
    if (signal?.aborted) throw abortReason(signal)
    const limit = Math.min(opts.maxFrameSize ?? this.config.maxFrameSize, this.config.maxFrameSize)
    let header: FrameHeader | undefined
    try {
      if (this.buffered >= FRAME_HEADER_SIZE) {
        header = this.readHeader(codec, this.take(FRAME_HEADER_SIZE), limit)
        if (this.buffered >= header.bodyLength) return this.readBody(codec, this.take(header.bodyLength))
      }
      const endError = this.endError()
      if (endError !== undefined) throw endError
    } catch (err) {
      const e = err instanceof Error ? err : new Error(String(err))
      this.fail(e, true)
      throw e
    }
    this.readLimit = limit
    this.readFrameHeader = header
    return undefined
  }

  /**
   * Wait for the rest of the message {@link tryRead} started: `receiver` is told once, from a
   * socket event or a timer.
   */
  private wait(receiver: RLPxMsgReceiver, signal: AbortSignal | undefined): void {
    this.readDeadline = this.clock.monotonic() + this.config.readTimeoutMs
    if (signal !== undefined) {
      const a: ReadAbort = {
        signal,
        listener: () => {
          if (this.readAbort === a) this.failRead(receiver, abortReason(signal))
        },
      }
      this.readAbort = a
      signal.addEventListener('abort', a.listener, { once: true })
    }
    this.readReceiver = receiver
    // While the ciphers are held, the timer also comes back to release them once idle.
    const check = this.readCodec()?.holdsCiphers ? this.config.idleCipherReleaseMs : Number.POSITIVE_INFINITY
    this.armReadTimer(Math.min(this.config.readTimeoutMs, check))
    this.socket.resume()
  }

  /** Bytes arrived or the stream ended while a message read waits: finish it if possible. */
  private pumpRead(): void {
    const receiver = this.readReceiver
    if (receiver === undefined) return
    let msg: RLPxMsg | undefined
    try {
      // While a read waits the connection is open, or closed by the peer with its codec left.
      const codec = this.readCodec()
      if (codec === undefined) throw this.notOpen()
      let header = this.readFrameHeader
      if (header === undefined && this.buffered >= FRAME_HEADER_SIZE) {
        header = this.readHeader(codec, this.take(FRAME_HEADER_SIZE), this.readLimit)
        this.readFrameHeader = header
      }
      if (header !== undefined && this.buffered >= header.bodyLength)
        msg = this.readBody(codec, this.take(header.bodyLength))
      else {
        const endError = this.endError()
        if (endError !== undefined) throw endError
      }
    } catch (err) {
      this.failRead(receiver, err instanceof Error ? err : new Error(String(err)))
      return
    }
    if (msg === undefined) return
    this.endWait()
    this.maybePause()
    // Last: the receiver may start the next read right away.
    receiver.onMsg(msg)
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
    const receiver = this.readReceiver
    if (receiver === undefined) return
    const left = this.readDeadline - this.clock.monotonic()
    if (left > 0) {
      this.armReadTimer(checkAgain ? Math.min(left, idleMs) : left)
      return
    }
    const ms = this.config.readTimeoutMs
    this.failRead(receiver, new TimeoutError(`RLPx frame read timed out after ${ms} ms`, ms))
  }

  /** The waiting message read is over (whichever way). */
  private endWait(): void {
    this.readReceiver = undefined
    this.readFrameHeader = undefined
    const a = this.readAbort
    if (a !== undefined) {
      this.readAbort = undefined
      a.signal.removeEventListener('abort', a.listener)
    }
  }

  /** The waiting message read failed: the connection fails with the same error. */
  private failRead(receiver: RLPxMsgReceiver, err: Error): void {
    this.endWait()
    this.fail(err, true)
    receiver.onReadError(err)
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
  // Received bytes

  /** A chunk from the socket: buffer it, then let a waiting read take what it needs. */
  private onChunk(chunk: Uint8Array): void {
    // Closed with no codec left (failed, closed here, or closed before the handshake ended):
    // nothing more can be read, so later chunks are not kept.
    const s = this.state
    if (chunk.length === 0 || (s.kind === 'closed' && s.codec === undefined)) return
    if (this.chunks === NO_CHUNKS) this.chunks = [chunk]
    else this.chunks.push(chunk)
    this.buffered += chunk.length
    const p = this.pendingRead
    if (p !== undefined) {
      if (this.buffered >= p.n) {
        this.pendingRead = undefined
        p.resolve(this.take(p.n))
      }
    } else if (this.readReceiver !== undefined) this.pumpRead()
    this.maybePause()
  }

  /** Pause the socket while nobody waits and the buffer is above the high-water mark. */
  private maybePause(): void {
    if (
      this.pendingRead === undefined &&
      this.readReceiver === undefined &&
      this.buffered >= this.config.readHighWaterMark
    )
      this.socket.pause()
  }

  /** Exactly `n` bytes, once buffered (the handshake). */
  private readBytes(n: number): Promise<Uint8Array> {
    if (this.pendingRead !== undefined) return Promise.reject(new Error('concurrent read'))
    if (this.buffered >= n) return Promise.resolve(this.take(n))
    const endError = this.endError()
    if (endError !== undefined) return Promise.reject(endError)
    return new Promise<Uint8Array>((resolve, reject) => {
      this.pendingRead = { n, resolve, reject }
      this.socket.resume()
    })
  }

  /** Take exactly `n` bytes (`n <= buffered`): a view when one chunk holds them, else one copy. */
  private take(n: number): Uint8Array {
    this.buffered -= n
    const first = this.chunks[0]!
    if (first.length - this.head >= n) {
      const out = first.subarray(this.head, this.head + n)
      this.head += n
      if (this.head === first.length) this.shiftChunk()
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
      if (this.head === c.length) this.shiftChunk()
    }
    return out
  }

  /** The first chunk is all taken: drop it (the last one: back to the shared empty list). */
  private shiftChunk(): void {
    if (this.chunks.length === 1) this.chunks = NO_CHUNKS as Uint8Array[]
    else this.chunks.shift()
    this.head = 0
  }

  /** Drop what is buffered (later chunks are ignored once the codec is gone). */
  private dropBuffered(): void {
    this.chunks = NO_CHUNKS as Uint8Array[]
    this.head = 0
    this.buffered = 0
  }

  /** No more bytes will arrive: reads the buffer cannot satisfy fail with the state's `readError`. */
  private endReads(): void {
    const p = this.pendingRead
    if (p !== undefined) {
      this.pendingRead = undefined
      p.reject(this.endError()!)
    }
    // A waiting message read takes what is buffered, or fails.
    if (this.readReceiver !== undefined) this.pumpRead()
  }

  /** Set once no more bytes will arrive (the connection is closed): why. */
  private endError(): ConnectionClosedError | undefined {
    const s = this.state
    return s.kind === 'closed' ? s.readError : undefined
  }

  /** The codec messages are read with: the open connection's, or the one left after the peer closed. */
  private readCodec(): FrameCodec | undefined {
    const s = this.state
    return s.kind === 'open' || s.kind === 'closed' ? s.codec : undefined
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
    if (s.kind === 'closed') return
    this.state = {
      kind: 'closed',
      error: err,
      readError: err,
      codec: s.kind === 'open' ? s.codec : undefined,
      remotePublicKey: s.kind === 'open' ? s.remotePublicKey : undefined,
    }
    this.cancelReadTimer()
    // A waiting read takes what is buffered, or fails with `err` (and clears the codec).
    this.endReads()
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
    const receiver = this.readReceiver
    if (receiver !== undefined) this.endWait()
    this.dropBuffered()
    this.cancelReadTimer()
    // Already closed (for example by the peer): make buffered frames unreadable from now on.
    this.state =
      s.kind === 'closed'
        ? { ...s, readError: closed, codec: undefined }
        : {
            kind: 'closed',
            error: err,
            readError: closed,
            codec: undefined,
            remotePublicKey: this.remotePublicKey,
          }
    // A handshake read fails with `closed` (a waiting message read was ended above: told last).
    this.endReads()
    if (s.kind !== 'closed') {
      if (logIt) this.log.debug('rlpx connection failed', { err })
      if (this.closeWaiters?.size) this.rejectWriters(this.closedError())
      // Frames written in this tick still go out (as they did before writes were corked).
      this.flushWrites()
      this.socket.destroy()
    }
    receiver?.onReadError(closed)
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

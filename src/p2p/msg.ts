/**
 * Messages and the reader/writer interface protocols use (geth's `message.go`), a bounded
 * async queue with backpressure, and the public test seams {@link msgPipe} and {@link expectMsg}.
 */

import type { RlpInput, RlpValue } from '../rlp/index.js'
import { encode } from '../rlp/index.js'
import { abortReason, DevP2PError, equalBytes, toHex } from '../util/index.js'
import { PeerClosedError } from './peer-error.js'

/** One message as a protocol sees it: code relative to the protocol, RLP payload. */
export interface Msg {
  readonly code: number
  /** The message payload (RLP), already decompressed. */
  readonly payload: Uint8Array
  /** Payload size in bytes. */
  readonly size: number
  /** When it was received (ms, from the peer's clock). */
  readonly receivedAt: number
}

/** Options of every read and write. */
export interface MsgOptions {
  readonly signal?: AbortSignal
}

/** Reads messages. Safe to call from many async callers: each call takes the next message. */
export interface MsgReader {
  readMsg(opts?: MsgOptions): Promise<Msg>
}

/**
 * Writes messages. Safe to call from many async callers: writes are serialised in call order
 * and each resolves once its frame is handed to the socket.
 */
export interface MsgWriter {
  writeMsg(code: number, payload: Uint8Array, opts?: MsgOptions): Promise<void>
}

/** Both directions. */
export interface MsgReadWriter extends MsgReader, MsgWriter {}

/** RLP-encode `value` and write it as message `code` (geth's `p2p.Send`). */
export function send(w: MsgWriter, code: number, value: RlpInput, opts?: MsgOptions): Promise<void> {
  return w.writeMsg(code, encode(value), opts)
}

/** The queue was closed; pending and later operations fail with its cause. */
export class QueueClosedError extends DevP2PError {
  override name = 'QueueClosedError' as const
}

interface Waiter<T> {
  resolve(v: T): void
  reject(e: unknown): void
  signal: AbortSignal | undefined
  onAbort: (() => void) | undefined
}

const NO_PUSHERS: readonly unknown[] = Object.freeze([])
const NO_ITEMS: readonly unknown[] = Object.freeze([])

/**
 * A FIFO of at most `capacity` items. `push` waits while full (this is how a protocol's slow
 * reader pauses the socket); `shift` waits while empty. Both honour an AbortSignal. `close`
 * fails every waiter and every later call with `reason`.
 */
export class BoundedQueue<T> {
  // BOUNDED: at most `capacity` items. The shared frozen empty array until the first item that
  // has no taker waiting for it (an idle protocol, which waits, never needs one).
  private items: T[] = NO_ITEMS as T[]
  // BOUNDED: one entry per pending shift() call; callers are the bounded set of protocol readers.
  private readonly takers: Waiter<T>[] = []
  // BOUNDED: one entry per pending push(); the peer read loop pushes one at a time. Shared
  // (empty, frozen) until the first push that waits: most queues never have one.
  private pushers: { item: T; w: Waiter<void> }[] = NO_PUSHERS as { item: T; w: Waiter<void> }[]
  private closedWith: unknown = undefined
  private closed = false

  constructor(readonly capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1)
      throw new RangeError('capacity: expected an integer >= 1')
  }

  /** Number of queued items. */
  get length(): number {
    return this.items.length
  }

  /** True once closed. */
  get isClosed(): boolean {
    return this.closed
  }

  /** Add an item; waits while the queue is full. */
  push(item: T, signal?: AbortSignal): Promise<void> {
    if (this.closed) return Promise.reject(this.closedWith)
    if (this.tryPush(item)) return Promise.resolve()
    return new Promise<void>((resolve, reject) => {
      const entry = { item, w: { resolve, reject, signal, onAbort: undefined as (() => void) | undefined } }
      attach(entry.w, () => {
        const i = this.pushers.indexOf(entry)
        if (i >= 0) this.pushers.splice(i, 1)
      })
      if (this.pushers === NO_PUSHERS) this.pushers = []
      this.pushers.push(entry)
    })
  }

  /**
   * Add an item without waiting: false (and nothing added) when the queue is full or closed,
   * where {@link push} would wait or fail.
   */
  tryPush(item: T): boolean {
    if (this.closed) return false
    const taker = this.takers.shift()
    if (taker) {
      detach(taker)
      taker.resolve(item)
      return true
    }
    if (this.items.length < this.capacity) {
      if (this.items === NO_ITEMS) this.items = []
      this.items.push(item)
      return true
    }
    return false
  }

  /** Take the next item; waits while the queue is empty. */
  shift(signal?: AbortSignal): Promise<T> {
    if (this.items.length > 0) {
      const item = this.items.shift() as T
      const p = this.pushers.length > 0 ? this.pushers.shift() : undefined
      if (p) {
        detach(p.w)
        this.items.push(p.item)
        p.w.resolve()
      }
      return Promise.resolve(item)
    }
    if (this.closed) return Promise.reject(this.closedWith)
    return new Promise<T>((resolve, reject) => {
      const w: Waiter<T> = { resolve, reject, signal, onAbort: undefined }
      attach(w, () => {
        const i = this.takers.indexOf(w)
        if (i >= 0) this.takers.splice(i, 1)
      })
      this.takers.push(w)
    })
  }

  /**
   * Close: waiting takers and pushers fail with `reason`; queued items can still be taken
   * unless `drop` is set.
   */
  close(reason: unknown, drop = false): void {
    if (this.closed) return
    this.closed = true
    this.closedWith = reason
    if (drop && this.items.length > 0) this.items.length = 0
    for (const w of this.takers.splice(0)) {
      detach(w)
      w.reject(reason)
    }
    // (splice on the shared frozen empty array would throw)
    for (const p of this.pushers.length > 0 ? this.pushers.splice(0) : []) {
      detach(p.w)
      p.w.reject(reason)
    }
  }
}

function attach<T>(w: Waiter<T>, remove: () => void): void {
  const s = w.signal
  if (!s) return
  if (s.aborted) {
    remove()
    w.reject(abortReason(s))
    return
  }
  w.onAbort = () => {
    remove()
    w.reject(abortReason(s))
  }
  s.addEventListener('abort', w.onAbort, { once: true })
}

function detach<T>(w: Waiter<T>): void {
  if (w.signal && w.onAbort) w.signal.removeEventListener('abort', w.onAbort)
}

/** One end of a {@link msgPipe}. */
export interface MsgPipeEnd extends MsgReadWriter {
  /** Close both ends: pending and later reads and writes fail with {@link PeerClosedError}. */
  close(): void
}

/**
 * Two connected in-memory ends (geth's `MsgPipe`): what one writes the other reads. A write
 * resolves when the other end has read the message, so tests see real backpressure.
 */
export function msgPipe(now: () => number = Date.now): [MsgPipeEnd, MsgPipeEnd] {
  interface Entry {
    msg: Msg
    delivered(): void
    failed(e: unknown): void
  }
  const aToB = new BoundedQueue<Entry>(1)
  const bToA = new BoundedQueue<Entry>(1)
  // BOUNDED: one entry per write in flight; a write stays here until read or closed.
  const inFlight = new Set<Entry>()
  const closeAll = (): void => {
    const err = new PeerClosedError('message pipe closed')
    aToB.close(err, true)
    bToA.close(err, true)
    for (const e of inFlight) e.failed(err)
    inFlight.clear()
  }
  const end = (out: BoundedQueue<Entry>, inq: BoundedQueue<Entry>): MsgPipeEnd => ({
    writeMsg(code, payload, opts) {
      return new Promise<void>((resolve, reject) => {
        const entry: Entry = {
          msg: { code, payload, size: payload.length, receivedAt: 0 },
          delivered: () => {
            inFlight.delete(entry)
            resolve()
          },
          failed: reject,
        }
        inFlight.add(entry)
        out.push(entry, opts?.signal).catch((e: unknown) => {
          inFlight.delete(entry)
          reject(e)
        })
      })
    },
    async readMsg(opts) {
      const entry = await inq.shift(opts?.signal)
      entry.delivered()
      return { ...entry.msg, receivedAt: now() }
    },
    close: closeAll,
  })
  return [end(aToB, bToA), end(bToA, aToB)]
}

/** A message as a {@link MsgTransport} reads it (code still offset, payload decompressed). */
export interface TransportMsg {
  readonly code: number
  readonly payload: Uint8Array
}

/** Where {@link MsgTransport.readMsgOrWait} delivers a message it waited for, or the error. */
export interface TransportMsgReceiver {
  onMsg(msg: TransportMsg): void
  onReadError(err: Error): void
}

/**
 * The minimal transport the base protocol runs on (an RLPx connection, or a pipe in tests).
 * Implementations may be class instances: wrap one by delegating its methods, not by spreading.
 */
export interface MsgTransport {
  readMsg(opts?: { signal?: AbortSignal; maxFrameSize?: number }): Promise<TransportMsg>
  /**
   * Optional, a read without a promise for the peer's read loop: the next message if it is
   * buffered, else undefined and `receiver` is told later, once (never from inside this call).
   * An error known at once is thrown. RLPx connections have it; {@link Peer} uses it when there.
   */
  readMsgOrWait?(receiver: TransportMsgReceiver): TransportMsg | undefined
  writeMsg(code: number, payload: Uint8Array, opts?: { signal?: AbortSignal }): Promise<void>
  /** Switch snappy compression on (both Hellos have version >= 5). */
  setSnappy(enabled: boolean): void
  /** Close the underlying socket at once. */
  close(err?: Error): void
  /** Optional: flush queued writes (a Disconnect), then close within `timeoutMs`. */
  closeGracefully?(timeoutMs: number): Promise<void>
}

/**
 * Two connected in-memory {@link MsgTransport}s over a {@link msgPipe}, for testing peers and
 * protocols without sockets. `close()` on either end closes both.
 */
export function transportPipe(now?: () => number): [MsgTransport, MsgTransport] {
  const [a, b] = msgPipe(now)
  const wrap = (e: MsgPipeEnd): MsgTransport => ({
    readMsg: (opts) => e.readMsg(opts),
    writeMsg: (code, payload, opts) => e.writeMsg(code, payload, opts),
    setSnappy: () => {},
    close: () => e.close(),
  })
  return [wrap(a), wrap(b)]
}

/** A message did not match what {@link expectMsg} expected. */
export class UnexpectedMsgError extends DevP2PError {
  override name = 'UnexpectedMsgError' as const
}

/**
 * Read one message and check its code and, if given, its payload (bytes, or a value that is
 * RLP-encoded first). geth's `ExpectMsg`.
 */
export async function expectMsg(
  r: { readMsg(opts?: MsgOptions): Promise<{ readonly code: number; readonly payload: Uint8Array }> },
  code: number,
  content?: Uint8Array | RlpValue,
  opts?: MsgOptions,
): Promise<{ readonly code: number; readonly payload: Uint8Array }> {
  const msg = await r.readMsg(opts)
  if (msg.code !== code) throw new UnexpectedMsgError(`message code mismatch: got ${msg.code}, want ${code}`)
  if (content !== undefined) {
    const want = content instanceof Uint8Array ? content : encode(content)
    if (!equalBytes(want, msg.payload))
      throw new UnexpectedMsgError(
        `message payload mismatch:\ngot:  ${toHex(msg.payload)}\nwant: ${toHex(want)}`,
      )
  }
  return msg
}

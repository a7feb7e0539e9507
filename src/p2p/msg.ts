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

const NO_PUSHERS: readonly unknown[] = Object.freeze([])
const NO_ITEMS: readonly unknown[] = Object.freeze([])
/** `closedWith` of an open queue (any value, `undefined` too, can be a close reason). */
const OPEN: unique symbol = Symbol('BoundedQueue.open')

/**
 * A waiting call that needs an object of its own: a shift() with an AbortSignal or behind the
 * first waiting one, a push() while full. It is its own abort listener ({@link handleEvent}),
 * so an abortable wait costs this object and no closure.
 */
abstract class Waiter<T, V> {
  constructor(
    /** The queue it waits on, which it leaves when the signal aborts. */
    readonly q: BoundedQueue<T>,
    readonly resolve: (v: V) => void,
    readonly reject: (e: unknown) => void,
    readonly signal: AbortSignal | undefined,
  ) {}

  /** Listen for the abort (the signal must not be aborted yet). */
  listen(): void {
    this.signal?.addEventListener('abort', this, { once: true })
  }

  /** Served or failed otherwise: stop listening, so the signal keeps no reference to the queue. */
  unlisten(): void {
    this.signal?.removeEventListener('abort', this)
  }

  /** The signal aborted: leave the queue, fail with its reason. */
  handleEvent(): void {
    this.leave()
    this.reject(abortReason(this.signal!))
  }

  protected abstract leave(): void
}

/** A waiting shift(). */
class Taker<T> extends Waiter<T, T> {
  protected leave(): void {
    // (bracket access: a private method of the queue, for its own waiters only)
    this.q['dropTaker'](this)
  }
}

/** A push() waiting for room, with its item. */
class Pusher<T> extends Waiter<T, void> {
  constructor(
    q: BoundedQueue<T>,
    resolve: () => void,
    reject: (e: unknown) => void,
    signal: AbortSignal | undefined,
    readonly item: T,
  ) {
    super(q, resolve, reject, signal)
  }
  protected leave(): void {
    this.q['dropPusher'](this)
  }
}

/**
 * A FIFO of at most `capacity` items. `push` waits while full (this is how a protocol's slow
 * reader pauses the socket); `shift` waits while empty. Both honour an AbortSignal. `close`
 * fails every waiter and every later call with `reason`.
 */
export class BoundedQueue<T> {
  // BOUNDED: at most `capacity` items. The shared frozen empty array until the first item that
  // has no taker waiting for it (an idle protocol, which waits, never needs one).
  private items: T[] = NO_ITEMS as T[]
  // The first waiting shift(), in fields of the queue: an idle protocol's reader is the one
  // waiting taker, and costs no array and, without a signal, no object. `takeWaiter` is the
  // Taker that listens to its signal, when it has one. All undefined when no shift() waits.
  private takeResolve: ((v: T) => void) | undefined = undefined
  private takeReject: ((e: unknown) => void) | undefined = undefined
  private takeWaiter: Taker<T> | undefined = undefined
  // BOUNDED: the shift() calls waiting behind the first one, in call order; callers are the
  // bounded set of protocol readers. Undefined unless two or more wait at once (rare), and
  // again once they are down to one.
  private takers: Taker<T>[] | undefined = undefined
  // BOUNDED: one entry per pending push(); the peer read loop pushes one at a time. Shared
  // (empty, frozen) until the first push that waits: most queues never have one.
  private pushers: Pusher<T>[] = NO_PUSHERS as Pusher<T>[]
  /** {@link OPEN}, or the reason it was closed with. */
  private closedWith: unknown = OPEN

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
    return this.closedWith !== OPEN
  }

  /** Add an item; waits while the queue is full. */
  push(item: T, signal?: AbortSignal): Promise<void> {
    if (this.closedWith !== OPEN) return Promise.reject(this.closedWith)
    if (this.tryPush(item)) return Promise.resolve()
    if (signal?.aborted) return Promise.reject(abortReason(signal))
    return new Promise<void>((resolve, reject) => {
      const p = new Pusher(this, resolve, reject, signal, item)
      p.listen()
      if (this.pushers === NO_PUSHERS) this.pushers = []
      this.pushers.push(p)
    })
  }

  /**
   * Add an item without waiting: false (and nothing added) when the queue is full or closed,
   * where {@link push} would wait or fail.
   */
  tryPush(item: T): boolean {
    if (this.closedWith !== OPEN) return false
    const resolve = this.takeResolve
    if (resolve !== undefined) {
      this.takeWaiter?.unlisten()
      this.nextTaker()
      resolve(item)
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
        p.unlisten()
        this.items.push(p.item)
        p.resolve()
      }
      return Promise.resolve(item)
    }
    if (this.closedWith !== OPEN) return Promise.reject(this.closedWith)
    if (signal?.aborted) return Promise.reject(abortReason(signal))
    return new Promise<T>((resolve, reject) => {
      if (this.takeResolve === undefined) {
        // The first taker: its functions in the queue's fields; an object only for a signal.
        this.takeResolve = resolve
        this.takeReject = reject
        if (signal !== undefined) {
          this.takeWaiter = new Taker(this, resolve, reject, signal)
          this.takeWaiter.listen()
        }
        return
      }
      const t = new Taker(this, resolve, reject, signal)
      t.listen()
      if (this.takers === undefined) this.takers = [t]
      else this.takers.push(t)
    })
  }

  /**
   * Close: waiting takers and pushers fail with `reason`; queued items can still be taken
   * unless `drop` is set.
   */
  close(reason: unknown, drop = false): void {
    if (this.closedWith !== OPEN) return
    this.closedWith = reason
    if (drop && this.items.length > 0) this.items.length = 0
    const reject = this.takeReject
    if (reject !== undefined) {
      const rest = this.takers
      this.takeWaiter?.unlisten()
      this.takeResolve = this.takeReject = this.takeWaiter = this.takers = undefined
      reject(reason)
      for (const t of rest ?? []) {
        t.unlisten()
        t.reject(reason)
      }
    }
    // (splice on the shared frozen empty array would throw)
    for (const p of this.pushers.length > 0 ? this.pushers.splice(0) : []) {
      p.unlisten()
      p.reject(reason)
    }
  }

  /** The first taker is served or gone: the next one in order (if any) becomes the first. */
  private nextTaker(): void {
    const rest = this.takers
    const t = rest?.shift()
    if (t === undefined) {
      this.takeResolve = this.takeReject = this.takeWaiter = undefined
      return
    }
    if (rest!.length === 0) this.takers = undefined
    this.takeResolve = t.resolve
    this.takeReject = t.reject
    this.takeWaiter = t.signal === undefined ? undefined : t
  }

  /** A taker's signal aborted (called by {@link Taker}): it leaves the line. */
  // biome-ignore lint/correctness/noUnusedPrivateClassMembers: called by its Taker, the abort listener
  private dropTaker(t: Taker<T>): void {
    if (t === this.takeWaiter) {
      this.nextTaker()
      return
    }
    const rest = this.takers
    const i = rest === undefined ? -1 : rest.indexOf(t)
    if (i < 0) return
    rest!.splice(i, 1)
    if (rest!.length === 0) this.takers = undefined
  }

  /** A pusher's signal aborted (called by {@link Pusher}): it leaves the line, its item unqueued. */
  // biome-ignore lint/correctness/noUnusedPrivateClassMembers: called by its Pusher, the abort listener
  private dropPusher(p: Pusher<T>): void {
    const i = this.pushers.indexOf(p)
    if (i >= 0) this.pushers.splice(i, 1)
  }
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

/**
 * Time, injected. Library code never calls the global timers directly: it takes a {@link Clock}.
 * {@link SystemClock} uses the real timers; {@link SimulatedClock} runs timers when a test advances
 * time, in deadline order, so tests never sleep.
 */
import { AbortError } from './errors.js'

/** A scheduled timer; `cancel()` is idempotent. */
export interface Timer {
  cancel(): void
}

/** The time source and timer service every component takes. */
export interface Clock {
  /** Milliseconds since the Unix epoch (wall time, used for expirations). */
  now(): number
  /** Monotonic milliseconds (used for durations and deadlines). */
  monotonic(): number
  /**
   * Run `fn` once after `ms`. With `arg`, `fn` is called with it: long-lived objects pass a
   * shared function and themselves rather than a closure of their own.
   */
  setTimeout(fn: () => void, ms: number): Timer
  setTimeout<A>(fn: (arg: A) => void, ms: number, arg: A): Timer
  /** Run `fn` every `ms` until cancelled (with `arg`, as {@link setTimeout}). */
  setInterval(fn: () => void, ms: number): Timer
  setInterval<A>(fn: (arg: A) => void, ms: number, arg: A): Timer
  /** Resolve after `ms`; rejects with {@link AbortError} when `signal` aborts. */
  sleep(ms: number, signal?: AbortSignal): Promise<void>
}

function sleepWith(clock: Clock, ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    if (signal?.aborted) {
      reject(new AbortError('sleep aborted', { cause: signal.reason }))
      return
    }
    const onAbort = (): void => {
      t.cancel()
      reject(new AbortError('sleep aborted', { cause: signal?.reason }))
    }
    const t = clock.setTimeout(() => {
      signal?.removeEventListener('abort', onAbort)
      resolve()
    }, ms)
    signal?.addEventListener('abort', onAbort, { once: true })
  })
}

/** What a {@link TimerQueue} runs on: a monotonic clock and one host timer (Node's, normally). */
export interface TimerHost {
  /** Monotonic milliseconds. */
  now(): number
  /** Arm the host timer to call `fire` in `ms` (replacing any armed one). */
  arm(fire: () => void, ms: number): void
  /** Disarm the host timer. */
  disarm(): void
  /** A timer callback threw: report it (the system clock rethrows it as uncaught, as Node would). */
  error(err: unknown): void
}

/** Longest delay Node's timers take (2^31 − 1 ms); longer waits re-arm when it fires. */
const MAX_HOST_DELAY = 2 ** 31 - 1

/** A timer of a {@link TimerQueue}: one small object, its own handle. */
class QueuedTimer implements Timer {
  /** Position in the queue's heap; −1 when not queued. */
  index = -1
  constructor(
    private readonly queue: TimerQueue,
    public at: number,
    public seq: number,
    readonly fn: (arg: unknown) => void,
    readonly arg: unknown,
    readonly every: number | undefined,
  ) {}
  cancel(): void {
    this.queue.remove(this)
  }
}

function earlier(a: QueuedTimer, b: QueuedTimer): boolean {
  return a.at < b.at || (a.at === b.at && a.seq < b.seq)
}

/**
 * Every timer of the system clock in one binary heap (deadline, then creation order), behind a
 * single host timer armed for the earliest. A pending timer then costs one small object, where a
 * Node `Timeout` costs about 200 bytes with its argument array and our handle: a connected peer
 * holds two timers for its whole life (its ping and its read deadline). Deadlines are exact: a
 * timer fires at the first host wake-up at or after its time, never early.
 */
export class TimerQueue {
  // BOUNDED: one entry per pending timer; each is removed when it fires (one-shot) or is cancelled.
  private readonly heap: QueuedTimer[] = []
  private seq = 0
  /** Deadline the host timer is armed for (Infinity: disarmed). */
  private armedFor = Number.POSITIVE_INFINITY
  private readonly fire = (): void => this.runDue()

  constructor(private readonly host: TimerHost) {}

  /** Number of pending timers. */
  get size(): number {
    return this.heap.length
  }

  /** Call `fn(arg)` after `ms` (and every `every` ms after that, when given). */
  add(fn: (arg: unknown) => void, arg: unknown, ms: number, every?: number): Timer {
    const delay = Math.max(0, ms || 0) // NaN and negative delays: 0
    const t = new QueuedTimer(this, this.host.now() + delay, ++this.seq, fn, arg, every)
    this.push(t)
    this.rearm()
    return t
  }

  /** Take `t` out (a no-op when it already fired or was cancelled). */
  remove(t: QueuedTimer): void {
    const i = t.index
    if (i < 0) return
    t.index = -1
    const last = this.heap.pop()!
    if (i < this.heap.length) {
      this.heap[i] = last
      last.index = i
      this.siftDown(i)
      this.siftUp(last.index)
    }
    // The host timer may stay armed for an earlier deadline: it then finds nothing due and re-arms.
    if (this.heap.length === 0) this.disarm()
  }

  /** The host timer fired: run what is due, in order, then re-arm for the next. */
  private runDue(): void {
    this.armedFor = Number.POSITIVE_INFINITY
    const now = this.host.now()
    // Timers created while running wait for the next pass, even with a zero delay.
    const lastSeq = this.seq
    for (;;) {
      const t = this.heap[0]
      if (t === undefined || t.at > now || t.seq > lastSeq) break
      this.remove(t)
      if (t.every !== undefined) {
        t.at = now + Math.max(1, t.every)
        t.seq = ++this.seq
        this.push(t)
      }
      try {
        t.fn(t.arg)
      } catch (err) {
        this.host.error(err)
      }
    }
    this.rearm()
  }

  private rearm(): void {
    const head = this.heap[0]
    if (head === undefined) {
      this.disarm()
      return
    }
    if (head.at >= this.armedFor) return
    this.armedFor = head.at
    const ms = Math.min(MAX_HOST_DELAY, Math.max(0, Math.ceil(head.at - this.host.now())))
    this.host.arm(this.fire, ms)
  }

  private disarm(): void {
    if (this.armedFor === Number.POSITIVE_INFINITY) return
    this.armedFor = Number.POSITIVE_INFINITY
    this.host.disarm()
  }

  private push(t: QueuedTimer): void {
    t.index = this.heap.length
    this.heap.push(t)
    this.siftUp(t.index)
  }

  private siftUp(i: number): void {
    const h = this.heap
    const t = h[i]!
    while (i > 0) {
      const p = (i - 1) >> 1
      const parent = h[p]!
      if (!earlier(t, parent)) break
      h[i] = parent
      parent.index = i
      i = p
    }
    h[i] = t
    t.index = i
  }

  private siftDown(i: number): void {
    const h = this.heap
    const n = h.length
    const t = h[i]!
    for (;;) {
      const l = 2 * i + 1
      if (l >= n) break
      const r = l + 1
      const c = r < n && earlier(h[r]!, h[l]!) ? r : l
      const child = h[c]!
      if (!earlier(child, t)) break
      h[i] = child
      child.index = i
      i = c
    }
    h[i] = t
    t.index = i
  }
}

/** Node's timers as a {@link TimerHost}: one Node timer at a time, for the whole process. */
function nodeTimerHost(): TimerHost {
  let handle: ReturnType<typeof setTimeout> | undefined
  return {
    now: () => performance.now(),
    arm(fire, ms) {
      if (handle !== undefined) clearTimeout(handle)
      handle = setTimeout(fire, ms)
    },
    disarm() {
      if (handle !== undefined) clearTimeout(handle)
      handle = undefined
    },
    error(err) {
      // As an exception thrown by a Node timer callback: uncaught.
      queueMicrotask(() => {
        throw err
      })
    },
  }
}

/** The queue behind every {@link SystemClock}. */
const systemTimers = new TimerQueue(nodeTimerHost())

/**
 * The real clock: `Date.now()`, `performance.now()`, and timers on one process-wide
 * {@link TimerQueue} over a single Node timer (which, like Node's own, keeps the process alive
 * while a timer is pending).
 */
export class SystemClock implements Clock {
  now(): number {
    return Date.now()
  }
  monotonic(): number {
    return performance.now()
  }
  setTimeout(fn: () => void, ms: number): Timer
  setTimeout<A>(fn: (arg: A) => void, ms: number, arg: A): Timer
  setTimeout<A>(fn: (arg: A) => void, ms: number, arg?: A): Timer {
    return systemTimers.add(fn as (arg: unknown) => void, arg, ms)
  }
  setInterval(fn: () => void, ms: number): Timer
  setInterval<A>(fn: (arg: A) => void, ms: number, arg: A): Timer
  setInterval<A>(fn: (arg: A) => void, ms: number, arg?: A): Timer {
    return systemTimers.add(fn as (arg: unknown) => void, arg, ms, ms)
  }
  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    return sleepWith(this, ms, signal)
  }
}

/** A shared default instance of {@link SystemClock}. */
export const systemClock: Clock = new SystemClock()

interface SimTimer {
  id: number
  at: number
  fn: (arg: unknown) => void
  arg: unknown
  every: number | undefined
  cancelled: boolean
}

/**
 * A clock for tests: time moves only through {@link SimulatedClock.advance}. Timers fire in
 * deadline order (ties in creation order); timers created while advancing fire in the same
 * advance if their deadline falls within it. Microtasks are flushed between timers so
 * promise chains settle as they would in real time.
 */
export class SimulatedClock implements Clock {
  private t: number
  private readonly start: number
  private seq = 0
  // BOUNDED: holds only live timers; cancelled and fired one-shot timers are removed.
  private readonly timers = new Map<number, SimTimer>()

  constructor(startMs = 1_700_000_000_000) {
    this.t = startMs
    this.start = startMs
  }
  now(): number {
    return this.t
  }
  monotonic(): number {
    return this.t - this.start
  }
  /** Number of pending timers (for leak checks in tests). */
  get pendingTimers(): number {
    return this.timers.size
  }
  setTimeout(fn: () => void, ms: number): Timer
  setTimeout<A>(fn: (arg: A) => void, ms: number, arg: A): Timer
  setTimeout<A>(fn: (arg: A) => void, ms: number, arg?: A): Timer {
    return this.add(fn as (arg: unknown) => void, arg, ms, undefined)
  }
  setInterval(fn: () => void, ms: number): Timer
  setInterval<A>(fn: (arg: A) => void, ms: number, arg: A): Timer
  setInterval<A>(fn: (arg: A) => void, ms: number, arg?: A): Timer {
    return this.add(fn as (arg: unknown) => void, arg, ms, Math.max(1, ms))
  }
  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    return sleepWith(this, ms, signal)
  }
  private add(fn: (arg: unknown) => void, arg: unknown, ms: number, every: number | undefined): Timer {
    const id = ++this.seq
    const timer: SimTimer = { id, at: this.t + Math.max(0, ms), fn, arg, every, cancelled: false }
    this.timers.set(id, timer)
    return {
      cancel: () => {
        timer.cancelled = true
        this.timers.delete(id)
      },
    }
  }
  private next(limit: number): SimTimer | undefined {
    let best: SimTimer | undefined
    for (const t of this.timers.values()) {
      if (t.at > limit) continue
      if (!best || t.at < best.at || (t.at === best.at && t.id < best.id)) best = t
    }
    return best
  }
  /** Move time forward by `ms`, firing due timers in order; awaits microtasks between them. */
  async advance(ms: number): Promise<void> {
    const end = this.t + ms
    await flushMicrotasks()
    for (;;) {
      const t = this.next(end)
      if (!t) break
      this.t = Math.max(this.t, t.at)
      if (t.every !== undefined) t.at += t.every
      else this.timers.delete(t.id)
      t.fn(t.arg)
      await flushMicrotasks()
    }
    this.t = end
    await flushMicrotasks()
  }
  /** Advance to the next pending timer and fire it (and its ties). Returns false if none. */
  async tick(): Promise<boolean> {
    let best: SimTimer | undefined
    for (const t of this.timers.values()) if (!best || t.at < best.at) best = t
    if (!best) return false
    await this.advance(best.at - this.t)
    return true
  }
}

/** Let pending promise reactions run (a few macrotask-free turns of the microtask queue). */
export async function flushMicrotasks(rounds = 20): Promise<void> {
  for (let i = 0; i < rounds; i++) await Promise.resolve()
}

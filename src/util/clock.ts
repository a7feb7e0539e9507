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

/** A Node timer as a {@link Timer}: one small object, no closure (a peer holds a few of these). */
class NodeTimer implements Timer {
  constructor(private readonly handle: ReturnType<typeof setTimeout>) {}
  cancel(): void {
    // clearTimeout clears intervals too.
    clearTimeout(this.handle)
  }
}

/** The real clock: `Date.now()`, `performance.now()` and Node's timers. */
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
    return new NodeTimer(arg === undefined ? setTimeout(fn as () => void, ms) : setTimeout(fn, ms, arg))
  }
  setInterval(fn: () => void, ms: number): Timer
  setInterval<A>(fn: (arg: A) => void, ms: number, arg: A): Timer
  setInterval<A>(fn: (arg: A) => void, ms: number, arg?: A): Timer {
    return new NodeTimer(arg === undefined ? setInterval(fn as () => void, ms) : setInterval(fn, ms, arg))
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

/** AbortSignal helpers: deadlines on the injected clock, combination, and racing a promise. */
import type { Clock } from './clock.js'
import { AbortError, TimeoutError } from './errors.js'

/** A signal that aborts with a {@link TimeoutError} after `ms` on `clock`, and a disposer. */
export function timeoutSignal(
  clock: Clock,
  ms: number,
  what = 'operation',
): { signal: AbortSignal; dispose(): void } {
  const ac = new AbortController()
  const t = clock.setTimeout(() => ac.abort(new TimeoutError(`${what} timed out after ${ms} ms`, ms)), ms)
  return { signal: ac.signal, dispose: () => t.cancel() }
}

/** Combine signals; `undefined` entries are ignored. */
export function anySignal(...signals: (AbortSignal | undefined)[]): AbortSignal {
  const list = signals.filter((s): s is AbortSignal => s !== undefined)
  if (list.length === 1) return list[0]!
  return AbortSignal.any(list)
}

/** The error to throw for an aborted signal: its reason if ours, else an {@link AbortError}. */
export function abortReason(signal: AbortSignal): Error {
  const r: unknown = signal.reason
  if (r instanceof TimeoutError || r instanceof AbortError) return r
  return new AbortError('operation aborted', { cause: r })
}

/** Throw if `signal` is aborted. */
export function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw abortReason(signal)
}

/**
 * Run `fn` with a signal that aborts when `signal` aborts or `ms` passes on `clock`; the
 * timer is cleaned up when `fn` settles. Rejects with {@link TimeoutError} or {@link AbortError}.
 */
export async function withTimeout<T>(
  clock: Clock,
  ms: number,
  what: string,
  signal: AbortSignal | undefined,
  fn: (signal: AbortSignal) => Promise<T>,
): Promise<T> {
  const t = timeoutSignal(clock, ms, what)
  const s = anySignal(signal, t.signal)
  try {
    return await raceAbort(fn(s), s)
  } finally {
    t.dispose()
  }
}

/** Settle with `p`, or reject as soon as `signal` aborts. */
export function raceAbort<T>(p: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) {
    p.catch(() => {})
    return Promise.reject(abortReason(signal))
  }
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(abortReason(signal))
    signal.addEventListener('abort', onAbort, { once: true })
    p.then(
      (v) => {
        signal.removeEventListener('abort', onAbort)
        resolve(v)
      },
      (e: unknown) => {
        signal.removeEventListener('abort', onAbort)
        reject(e)
      },
    )
  })
}

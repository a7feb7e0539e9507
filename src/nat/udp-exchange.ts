/**
 * One UDP request/reply exchange with retransmission (used by NAT-PMP and STUN): send, resend
 * after an interval that doubles each time, stop after a number of tries or a timeout, and settle
 * with the first datagram the caller accepts. Time runs on the injected clock.
 */
import { abortReason, withTimeout } from '../util/abort.js'
import type { Clock, Timer } from '../util/clock.js'
import { TimeoutError } from '../util/errors.js'
import type { UdpPeer, UdpSocketFactory } from './nat.js'

/** Parameters of {@link udpExchange}. */
export interface UdpExchangeOptions<T> {
  /** Destination host (an IP or a name the socket resolves) and port. */
  readonly host: string
  readonly port: number
  /** The datagram to send (and resend). */
  readonly request: Uint8Array
  /**
   * Inspect a received datagram: return the result to settle, `undefined` to ignore it (wrong
   * source, wrong transaction), or throw to fail the exchange (e.g. an error result code).
   */
  readonly accept: (data: Uint8Array, from: UdpPeer) => T | undefined
  /** First retransmission interval; doubled after every send. */
  readonly initialRtoMs: number
  /** Sends in total (at least 1); after the last, one more interval is waited for a reply. */
  readonly maxTries: number
  /** Bound on the whole exchange. */
  readonly timeoutMs: number
  /** For error messages, e.g. `NAT-PMP external address`. */
  readonly what: string
  readonly signal?: AbortSignal
}

/**
 * Run one exchange on a fresh socket (closed afterwards). Rejects with `TimeoutError` when no
 * acceptable reply arrives, `AbortError` when `signal` aborts, or the error `accept` or the
 * socket threw.
 */
export function udpExchange<T>(clock: Clock, udp: UdpSocketFactory, o: UdpExchangeOptions<T>): Promise<T> {
  return withTimeout(clock, o.timeoutMs, o.what, o.signal, async (signal) => {
    const sock = await udp()
    let timer: Timer | undefined
    let onAbort: (() => void) | undefined
    try {
      return await new Promise<T>((resolve, reject) => {
        let done = false
        let tries = 0
        let rto = Math.max(1, o.initialRtoMs)
        const started = clock.monotonic()
        const fail = (e: unknown): void => {
          if (done) return
          done = true
          reject(e)
        }
        onAbort = () => fail(abortReason(signal))
        signal.addEventListener('abort', onAbort, { once: true })
        sock.onMessage((data, from) => {
          if (done) return
          let r: T | undefined
          try {
            r = o.accept(data, from)
          } catch (e) {
            fail(e)
            return
          }
          if (r === undefined) return
          done = true
          resolve(r)
        })
        const send = (): void => {
          if (done) return
          tries++
          sock.send(o.request, o.port, o.host).catch(fail)
          const last = tries >= Math.max(1, o.maxTries)
          timer = clock.setTimeout(
            last
              ? () => {
                  const ms = clock.monotonic() - started
                  fail(
                    new TimeoutError(`${o.what}: no reply from ${o.host}:${o.port} after ${tries} tries`, ms),
                  )
                }
              : send,
            rto,
          )
          rto *= 2
        }
        if (signal.aborted) onAbort()
        else send()
      })
    } finally {
      timer?.cancel()
      if (onAbort) signal.removeEventListener('abort', onAbort)
      sock.close()
    }
  })
}

/**
 * Router auto-discovery behind a {@link Nat} (`any`, `upnp`, and `pmp` without a gateway): the
 * first call starts discovery (bounded by `discoveryTimeoutMs`) and every call waits for it; `any`
 * probes UPnP and NAT-PMP in parallel and the first usable router wins. A failed discovery is
 * forgotten, so a later call tries again (geth tries only once).
 */
import { abortReason, raceAbort, withTimeout } from '../util/abort.js'
import { NoRouterError } from './errors.js'
import type { Nat, NatCallOptions, NatDeps, NatOptions, NatProtocol } from './nat.js'
import { discoverPmp } from './natpmp.js'
import { discoverUpnp } from './upnp.js'

/** What {@link AutoNat} looks for. */
export type AutoNatKind = 'any' | 'upnp' | 'pmp'

const WHAT: Readonly<Record<AutoNatKind, string>> = { any: 'UPnP or NAT-PMP', upnp: 'UPnP', pmp: 'NAT-PMP' }

/**
 * Race UPnP and NAT-PMP discovery: resolve with the first router found, abort the other search;
 * reject with {@link NoRouterError} carrying both reasons when neither finds one.
 */
export async function discoverAny(deps: NatDeps, options: NatOptions, signal?: AbortSignal): Promise<Nat> {
  const stop = new AbortController()
  const s = signal ? AbortSignal.any([signal, stop.signal]) : stop.signal
  try {
    return await Promise.any<Nat>([discoverUpnp(deps, options, s), discoverPmp(deps, options, s)])
  } catch (e) {
    if (signal?.aborted) throw abortReason(signal)
    const errs = e instanceof AggregateError ? e.errors : [e]
    const [u, p] = errs.map((x: unknown) => (x instanceof Error ? x.message : String(x)))
    throw new NoRouterError(`no UPnP or NAT-PMP router found (upnp: ${u}; pmp: ${p})`)
  } finally {
    stop.abort()
  }
}

/** A {@link Nat} that discovers its router on first use. */
export class AutoNat implements Nat {
  readonly mechanism: AutoNatKind
  readonly supportsMapping = true
  readonly spec: string
  private readonly deps: NatDeps
  private readonly options: NatOptions
  private found: Nat | undefined
  private inflight: Promise<Nat> | undefined
  private readonly closed = new AbortController()

  constructor(kind: AutoNatKind, deps: NatDeps, options: NatOptions) {
    this.mechanism = kind
    this.spec = kind
    this.deps = deps
    this.options = options
  }

  /** The router found so far, if any. */
  get discovered(): Nat | undefined {
    return this.found
  }

  get gateway(): string | undefined {
    return this.found?.gateway
  }

  toString(): string {
    return this.found ? this.found.toString() : WHAT[this.mechanism]
  }

  /** Discover (or return the router already found). Concurrent callers share one discovery. */
  discover(opts?: NatCallOptions): Promise<Nat> {
    if (this.found) return Promise.resolve(this.found)
    if (!this.inflight) {
      const { clock } = this.deps
      const run = (s: AbortSignal): Promise<Nat> =>
        this.mechanism === 'upnp'
          ? discoverUpnp(this.deps, this.options, s)
          : this.mechanism === 'pmp'
            ? discoverPmp(this.deps, this.options, s)
            : discoverAny(this.deps, this.options, s)
      const p = withTimeout(
        clock,
        this.options.discoveryTimeoutMs,
        `${WHAT[this.mechanism]} discovery`,
        this.closed.signal,
        run,
      )
      this.inflight = p
      p.then(
        (nat) => {
          this.found = nat
          this.deps.logger.debug('NAT router discovered', { nat: nat.toString() })
        },
        (e: unknown) => {
          this.deps.logger.debug('NAT router discovery failed', { what: WHAT[this.mechanism], err: e })
        },
      ).finally(() => {
        if (this.inflight === p) this.inflight = undefined
      })
    }
    const p = this.inflight
    return opts?.signal ? raceAbort(p, opts.signal) : p
  }

  /** Abort a discovery in progress (calls waiting on it reject). */
  close(): void {
    this.closed.abort()
  }

  private op<T>(
    what: string,
    opts: NatCallOptions | undefined,
    fn: (nat: Nat, s: AbortSignal) => Promise<T>,
  ): Promise<T> {
    return withTimeout(this.deps.clock, this.options.operationTimeoutMs, what, opts?.signal, async (s) =>
      fn(await this.discover({ signal: s }), s),
    )
  }

  externalIP(opts?: NatCallOptions): Promise<Uint8Array> {
    return this.op('external IP', opts, (nat, s) => nat.externalIP({ signal: s }))
  }

  addMapping(
    protocol: NatProtocol,
    extPort: number,
    intPort: number,
    name: string,
    lifetimeSec: number,
    opts?: NatCallOptions,
  ): Promise<number> {
    return this.op('add mapping', opts, (nat, s) =>
      nat.addMapping(protocol, extPort, intPort, name, lifetimeSec, { signal: s }),
    )
  }

  deleteMapping(
    protocol: NatProtocol,
    extPort: number,
    intPort: number,
    opts?: NatCallOptions,
  ): Promise<void> {
    return this.op('delete mapping', opts, (nat, s) =>
      nat.deleteMapping(protocol, extPort, intPort, { signal: s }),
    )
  }
}

/**
 * The port-mapping loop a server runs for each listener (geth's `server_nat.go`): map the port,
 * refresh it before its lifetime ends, retry later after a failure, keep the alternative external
 * port a router chose, poll the external IP and refresh at once when it changes, give the mapping
 * up after too many failed refreshes, and delete it on stop. All timings are injectable; time runs
 * on the given {@link Clock}. Also {@link shouldMapPort}, the rule for which listeners get one.
 */
import { ipEqual, isLoopback } from '../netutil/index.js'
import { withTimeout } from '../util/abort.js'
import { assertInt, assertPort, assertString } from '../util/assert.js'
import { type Clock, systemClock } from '../util/clock.js'
import { formatIP, tryParseIP } from '../util/index.js'
import { type Logger, silentLogger } from '../util/logger.js'
import type { Nat, NatProtocol } from './nat.js'

/** The loop's timings, geth's values (`server_nat.go`). All in milliseconds except `maxRetries`. */
export const PORT_MAPPING_DEFAULTS = Object.freeze({
  /** Requested mapping lifetime: 10 min (`portMapDuration`). */
  lifetime: 10 * 60_000,
  /** Refresh a live mapping this long after it was made: 8 min (`portMapRefreshInterval`). */
  refresh: 8 * 60_000,
  /** Try again this long after a failed add or refresh: 5 min (`portMapRetryInterval`). */
  retryAfter: 5 * 60_000,
  /** Poll the external IP this often: 2 min (`extipRetryInterval`). */
  extIPInterval: 2 * 60_000,
  /** Failed refreshes tolerated before the mapping is deleted and started over: 5. */
  maxRetries: 5,
  /** Bound on one NAT call made by the loop. */
  operationTimeout: 30_000,
})

/** Everything {@link startPortMapping} takes: services, the port, timings and callbacks. */
export interface PortMappingOptions {
  /** The NAT to map through. */
  readonly nat: Nat
  /** Time source. @default systemClock */
  readonly clock?: Clock
  /** Logger. @default silentLogger */
  readonly logger?: Logger
  readonly protocol: NatProtocol
  /** The local port (1-65535). */
  readonly intPort: number
  /** The external port to ask for first. @default intPort */
  readonly extPort?: number
  /** Mapping description shown by the router, e.g. `ethereum p2p`. */
  readonly name: string
  /** Requested lifetime in ms (sent to the router in whole seconds, at least 1). */
  readonly lifetime?: number
  /** Refresh interval in ms. */
  readonly refresh?: number
  /** Retry interval after a failure, in ms. */
  readonly retryAfter?: number
  /** External-IP polling interval in ms. */
  readonly extIPInterval?: number
  /** Failed refreshes tolerated before giving the mapping up. */
  readonly maxRetries?: number
  /** Bound on one NAT call, in ms. */
  readonly operationTimeout?: number
  /**
   * Called when a mapping is made or changes: a new external port, or a new external IP while
   * mapped (`undefined` when the IP is unknown). geth sets the ENR `tcp` / fallback UDP port here.
   */
  readonly onMapped?: (extIP: Uint8Array | undefined, extPort: number) => void
  /** Called when a mapping is lost: given up after failed refreshes, or deleted on stop. */
  readonly onUnmapped?: () => void
  /** Called when the polled external IP changes (`undefined` after an error). */
  readonly onExternalIP?: (ip: Uint8Array | undefined) => void
}

/** Where a mapping loop is. */
export type PortMappingState =
  | { readonly kind: 'pending'; readonly lastError?: unknown }
  | { readonly kind: 'mapped'; readonly extPort: number }
  | { readonly kind: 'stopped' }

/** A running mapping loop. */
export interface PortMapping {
  /** Current state. */
  readonly state: PortMappingState
  /** The last external IP seen, if any. */
  readonly externalIP: Uint8Array | undefined
  /** Stop the loop and delete the mapping (bounded; idempotent). Never rejects. */
  stop(opts?: { readonly signal?: AbortSignal }): Promise<void>
}

/**
 * Whether a listener bound to `ip` should get a port mapping: every address but loopback (and
 * unparseable text). The unspecified address (`0.0.0.0`, `::`) and LAN addresses are mapped:
 * a node bound to its LAN address behind a router is the case NAT traversal exists for. (geth
 * also skips private addresses; we follow the project's rule, "only for listeners not bound to
 * loopback", and say so in docs/LIMITS.md.)
 */
export function shouldMapPort(ip: Uint8Array | string): boolean {
  const b = typeof ip === 'string' ? tryParseIP(ip) : ip
  if (!b || (b.length !== 4 && b.length !== 16)) return false
  return !isLoopback(b)
}

function sameIP(a: Uint8Array | undefined, b: Uint8Array | undefined): boolean {
  if (a === undefined || b === undefined) return a === b
  return ipEqual(a, b)
}

class PortMappingLoop implements PortMapping {
  private readonly o: PortMappingOptions
  private readonly clock: Clock
  private readonly log: Logger
  private readonly t: {
    lifetime: number
    refresh: number
    retryAfter: number
    extIPInterval: number
    maxRetries: number
    operationTimeout: number
  }
  private readonly preferredExtPort: number
  private readonly stopCtl = new AbortController()
  private readonly done: Promise<void>
  private stopping: Promise<void> | undefined
  private current: PortMappingState = { kind: 'pending' }
  private extIP: Uint8Array | undefined
  private extPort = 0
  private retries = 0
  private inflightPort = 0
  private notified: { ip: Uint8Array | undefined; port: number } | undefined

  constructor(o: PortMappingOptions) {
    this.o = o
    this.clock = o.clock ?? systemClock
    this.t = {
      lifetime: o.lifetime ?? PORT_MAPPING_DEFAULTS.lifetime,
      refresh: o.refresh ?? PORT_MAPPING_DEFAULTS.refresh,
      retryAfter: o.retryAfter ?? PORT_MAPPING_DEFAULTS.retryAfter,
      extIPInterval: o.extIPInterval ?? PORT_MAPPING_DEFAULTS.extIPInterval,
      maxRetries: o.maxRetries ?? PORT_MAPPING_DEFAULTS.maxRetries,
      operationTimeout: o.operationTimeout ?? PORT_MAPPING_DEFAULTS.operationTimeout,
    }
    for (const [k, v] of Object.entries(this.t)) assertInt(k, v, k === 'maxRetries' ? 0 : 1, 2 ** 31 - 1)
    this.preferredExtPort = o.extPort === undefined || o.extPort === 0 ? o.intPort : o.extPort
    this.log = (o.logger ?? silentLogger).child({
      proto: o.protocol,
      intport: o.intPort,
      interface: o.nat.toString(),
    })
    this.done = this.run().catch((e: unknown) => this.log.error('NAT mapping loop failed', { err: e }))
  }

  get state(): PortMappingState {
    return this.current
  }

  get externalIP(): Uint8Array | undefined {
    return this.extIP
  }

  private call<T>(
    what: string,
    fn: (s: AbortSignal) => Promise<T>,
    signal: AbortSignal | undefined,
  ): Promise<T> {
    return withTimeout(this.clock, this.t.operationTimeout, what, signal, fn)
  }

  private safe(what: string, fn: () => void): void {
    try {
      fn()
    } catch (e) {
      this.log.warn(`NAT ${what} callback threw`, { err: e })
    }
  }

  private async run(): Promise<void> {
    const { clock } = this
    const stop = this.stopCtl.signal
    let nextIP = clock.monotonic()
    let nextMap = clock.monotonic()
    while (!stop.aborted) {
      if (clock.monotonic() >= nextIP) {
        nextIP = clock.monotonic() + this.t.extIPInterval
        if (await this.checkExternalIP()) nextMap = clock.monotonic()
      }
      if (stop.aborted) break
      if (clock.monotonic() >= nextMap) {
        const delay = await this.map()
        nextMap = clock.monotonic() + delay
      }
      const wait = Math.min(nextIP, nextMap) - clock.monotonic()
      if (wait > 0) {
        try {
          await clock.sleep(wait, stop)
        } catch {
          break
        }
      }
    }
  }

  /** Poll the external IP; true when it changed (an error counts as "unknown"). */
  private async checkExternalIP(): Promise<boolean> {
    let ip: Uint8Array | undefined
    try {
      ip = await this.call(
        'NAT external IP',
        (s) => this.o.nat.externalIP({ signal: s }),
        this.stopCtl.signal,
      )
    } catch (e) {
      if (this.stopCtl.signal.aborted) return false
      this.log.debug("Couldn't get external IP", { err: e })
      ip = undefined
    }
    if (sameIP(ip, this.extIP)) return false
    this.log.debug('External IP changed', { ip: ip ? formatIP(ip) : 'none' })
    this.extIP = ip
    this.safe('onExternalIP', () => this.o.onExternalIP?.(ip))
    return true
  }

  /** Add or refresh the mapping; returns the delay until the next attempt. */
  private async map(): Promise<number> {
    const { nat, protocol, intPort, name } = this.o
    const want = this.extPort || this.preferredExtPort
    const lifetimeSec = Math.max(1, Math.floor(this.t.lifetime / 1000))
    let port: number
    this.inflightPort = want
    try {
      port = await this.call(
        'NAT add mapping',
        (s) => nat.addMapping(protocol, want, intPort, name, lifetimeSec, { signal: s }),
        this.stopCtl.signal,
      )
    } catch (e) {
      if (this.stopCtl.signal.aborted) return 0
      this.inflightPort = 0
      if (this.extPort === 0) {
        this.log.debug("Couldn't add port mapping", { extport: want, err: e })
        this.current = { kind: 'pending', lastError: e }
      } else {
        // A failed refresh need not mean the mapping is gone (routers are buggy and the
        // lifetime outlasts the retry interval): keep the port, retry sooner.
        this.log.debug("Couldn't refresh port mapping", { extport: this.extPort, err: e })
        this.retries++
        if (this.retries > this.t.maxRetries) {
          this.retries = 0
          const old = this.extPort
          try {
            await this.call(
              'NAT delete mapping',
              (s) => nat.deleteMapping(protocol, old, intPort, { signal: s }),
              this.stopCtl.signal,
            )
          } catch (e2) {
            this.log.debug("Couldn't delete port mapping", { extport: old, err: e2 })
          }
          this.extPort = 0
          this.notified = undefined
          this.current = { kind: 'pending', lastError: e }
          this.safe('onUnmapped', () => this.o.onUnmapped?.())
        }
      }
      return this.t.retryAfter
    }
    this.inflightPort = 0
    this.retries = 0
    if (port !== this.extPort) {
      this.extPort = port
      this.log.info(port !== intPort ? 'NAT mapped alternative port' : 'NAT mapped port', { extport: port })
    }
    this.current = { kind: 'mapped', extPort: port }
    const n = this.notified
    if (!n || n.port !== port || !sameIP(n.ip, this.extIP)) {
      const ip = this.extIP
      this.notified = { ip, port }
      this.safe('onMapped', () => this.o.onMapped?.(ip, port))
    }
    return this.t.refresh
  }

  stop(opts?: { readonly signal?: AbortSignal }): Promise<void> {
    if (!this.stopping) this.stopping = this.doStop(opts?.signal)
    return this.stopping
  }

  private async doStop(signal: AbortSignal | undefined): Promise<void> {
    this.stopCtl.abort()
    await this.done
    const { nat, protocol, intPort } = this.o
    // Delete what we hold, and what an add cut short by stop may have created.
    const ports = [...new Set([this.extPort, this.inflightPort].filter((p) => p !== 0))]
    for (const port of ports) {
      this.log.debug('Deleting port mapping', { extport: port })
      try {
        await this.call(
          'NAT delete mapping',
          (s) => nat.deleteMapping(protocol, port, intPort, { signal: s }),
          signal,
        )
      } catch (e) {
        this.log.debug("Couldn't delete port mapping", { extport: port, err: e })
      }
    }
    const wasMapped = this.extPort !== 0
    this.extPort = 0
    this.inflightPort = 0
    this.current = { kind: 'stopped' }
    if (wasMapped) this.safe('onUnmapped', () => this.o.onUnmapped?.())
  }
}

/**
 * Start the mapping loop for one port. It checks the external IP, maps the port at once, then
 * refreshes every `refresh` ms (retrying after `retryAfter` on failure) until
 * {@link PortMapping.stop}. Throws `TypeError`/`RangeError` on bad arguments.
 */
export function startPortMapping(opts: PortMappingOptions): PortMapping {
  if (opts.protocol !== 'tcp' && opts.protocol !== 'udp')
    throw new TypeError(`protocol: expected 'tcp' or 'udp'`)
  assertPort('intPort', opts.intPort)
  if (opts.intPort === 0) throw new RangeError('intPort: must not be 0')
  if (opts.extPort !== undefined) assertPort('extPort', opts.extPort)
  assertString('name', opts.name)
  return new PortMappingLoop(opts)
}

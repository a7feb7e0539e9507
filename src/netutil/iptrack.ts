/**
 * {@link IPTracker}: predicts our external endpoint from what other hosts tell us it is (discovery
 * PONGs), and whether we sit behind a full-cone NAT (a statement arrives from a host we never
 * contacted). geth's `netutil.IPTracker`; time comes from an injected {@link Clock}.
 */
import { assertInt } from '../util/assert.js'
import type { Clock } from '../util/clock.js'

/** Options of {@link IPTracker}. */
export interface IPTrackerOptions {
  /** How long a statement counts, in ms. geth's LocalNode uses 5 min. */
  readonly window: number
  /** How long a contact is remembered, in ms. geth's LocalNode uses 10 min. */
  readonly contactWindow: number
  /** Statements needed for an endpoint before it is predicted. geth's LocalNode uses 10. */
  readonly minStatements: number
  /** Time source (monotonic time is used). */
  readonly clock: Clock
  /**
   * Most hosts remembered per table (statements, contacts); the oldest entry is dropped beyond it.
   * @default 1000
   */
  readonly maxHosts?: number
}

/** The values geth's `LocalNode` uses: 5 min window, 10 min contact window, 10 statements. */
export const IPTRACKER_DEFAULTS = {
  window: 5 * 60_000,
  contactWindow: 10 * 60_000,
  minStatements: 10,
  maxHosts: 1000,
} as const

interface Statement {
  readonly endpoint: string
  readonly time: number
}

/** Predicts the local host's external endpoint from statements made by other hosts. */
export class IPTracker {
  private readonly window: number
  private readonly contactWindow: number
  private readonly minStatements: number
  private readonly maxHosts: number
  private readonly clock: Clock
  // BOUNDED: one entry per reporting host, kept in update order; entries older than `window` are
  // dropped on every call and at most `maxHosts` are kept (the oldest is evicted).
  private readonly statements = new Map<string, Statement>()
  // BOUNDED: one entry per contacted host, in update order; older than `contactWindow` dropped,
  // at most `maxHosts` kept.
  private readonly contacts = new Map<string, number>()

  constructor(opts: IPTrackerOptions) {
    assertInt('window', opts.window, 0, Number.MAX_SAFE_INTEGER)
    assertInt('contactWindow', opts.contactWindow, 0, Number.MAX_SAFE_INTEGER)
    assertInt('minStatements', opts.minStatements, 0, Number.MAX_SAFE_INTEGER)
    const maxHosts = opts.maxHosts ?? IPTRACKER_DEFAULTS.maxHosts
    assertInt('maxHosts', maxHosts, 1, Number.MAX_SAFE_INTEGER)
    this.window = opts.window
    this.contactWindow = opts.contactWindow
    this.minStatements = opts.minStatements
    this.maxHosts = maxHosts
    this.clock = opts.clock
  }

  /** Record that `host` says our external endpoint is `endpoint` (its latest statement wins). */
  addStatement(host: string, endpoint: string): void {
    const now = this.clock.monotonic()
    this.statements.delete(host)
    this.statements.set(host, { endpoint, time: now })
    this.gc(now)
  }

  /** Record that we sent our endpoint to `host` (e.g. a PING). */
  addContact(host: string): void {
    const now = this.clock.monotonic()
    this.contacts.delete(host)
    this.contacts.set(host, now)
    this.gc(now)
  }

  /**
   * The endpoint with the most statements in the window, if it has at least `minStatements`;
   * ties go to the endpoint that reached the count first in statement order.
   */
  predictEndpoint(): string | undefined {
    this.gc(this.clock.monotonic())
    const counts = new Map<string, number>()
    let best: string | undefined
    let bestCount = 0
    for (const s of this.statements.values()) {
      const c = (counts.get(s.endpoint) ?? 0) + 1
      counts.set(s.endpoint, c)
      if (c > bestCount && c >= this.minStatements) {
        best = s.endpoint
        bestCount = c
      }
    }
    return best
  }

  /**
   * Whether a statement came from a host we had not contacted before it spoke: then unsolicited
   * packets reach us, i.e. full-cone NAT (or no NAT).
   */
  predictFullConeNAT(): boolean {
    this.gc(this.clock.monotonic())
    for (const [host, st] of this.statements) {
      const c = this.contacts.get(host)
      if (c === undefined || c > st.time) return true
    }
    return false
  }

  /** Number of hosts with a live statement. */
  get statementCount(): number {
    return this.statements.size
  }

  private gc(now: number): void {
    prune(this.statements, now - this.window, this.maxHosts, (s) => s.time)
    prune(this.contacts, now - this.contactWindow, this.maxHosts, (t) => t)
  }
}

// Maps are in update order, so expired entries are at the front.
function prune<V>(m: Map<string, V>, cutoff: number, max: number, time: (v: V) => number): void {
  for (const [k, v] of m) {
    if (time(v) >= cutoff && m.size <= max) break
    m.delete(k)
  }
}

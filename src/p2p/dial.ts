/**
 * The dial scheduler (geth's `p2p/dial.go`): decides which nodes to connect to and when. It owns
 * the dial slots, the static-node set and its pool of nodes ready to dial, the 35 s dial
 * history, the reads from dial-candidate iterators (discovery and protocol sources, mixed
 * fairly), the resolution of static nodes without an address (DNS, then discovery with a 60 s
 * to 1 h backoff), and the bootnode fallback of old geth's `dialstate`. It does not open
 * connections itself: the injected {@link DialDeps.dial} does, and the server reports peers
 * back with {@link DialScheduler.peerAdded} / {@link DialScheduler.peerRemoved}.
 *
 * All state changes happen synchronously in one method call: a check and the dial it allows
 * are never separated by an `await`.
 */
import { lookup } from 'node:dns/promises'
import type { Node } from '../enode/index.js'
import type { Netlist } from '../netutil/index.js'
import {
  AbortError,
  anySignal,
  type Clock,
  equalBytes,
  HandshakeError,
  type Logger,
  type RandomSource,
  raceAbort,
  silentLogger,
  type Timer,
  timeoutSignal,
  toHex,
  tryParseIP,
  withTimeout,
} from '../util/index.js'
import { DisconnectError, dispositionOf, PeerProtocolError } from './peer-error.js'

/** Most bootnodes {@link DialScheduler.setBootnodes} keeps; the rest are ignored. */
export const MAX_BOOTNODES = 1024

/**
 * After this many candidates in a row from one iterator fail {@link DialRejection} checks, the
 * next read from it waits for a zero-delay timer, so an iterator that yields only unusable
 * nodes cannot starve the event loop.
 */
export const DISCARD_BURST = 64

/** Most distinct outcome labels counted in {@link DialStats.outcomes}; later ones count as `other`. */
const MAX_OUTCOME_LABELS = 64

/** Options of the {@link DialScheduler}. Times in milliseconds; defaults in {@link DIAL_DEFAULTS}. */
export interface DialConfig {
  /**
   * Most peers we keep from our own dials (geth's `MaxDialedConns()`: MaxPeers / DialRatio, see
   * `maxDialedConns` in `config.ts`). 0 disables dialing. Default 16 (geth's 50 / 3).
   */
  readonly maxDialPeers: number
  /** Most dials in flight (geth's MaxPendingPeers, default 50). */
  readonly maxActiveDials: number
  /** How long a dialed node is not dialed again (geth: inboundThrottleTime + 5 s = 35 s). */
  readonly historyExpirationMs: number
  /** Most entries in the dial history; when full the oldest entry is dropped early. */
  readonly maxHistory: number
  /** First wait between discovery resolutions of a static node (geth: 60 s); doubles on failure. */
  readonly initialResolveDelayMs: number
  /** Cap of that wait (geth: 1 h). */
  readonly maxResolveDelayMs: number
  /** Deadline of one {@link DialDeps.resolve} call (ours; geth relies on the lookup's own limits). */
  readonly resolveTimeoutMs: number
  /** Deadline of the DNS lookup of a static node's hostname (geth: 5 s). */
  readonly dnsTimeoutMs: number
  /** Deadline handed to each {@link DialDeps.dial} call through its signal (geth's dialer: 15 s). */
  readonly dialTimeoutMs: number
  /**
   * Dial bootnodes, one at a time, when we have had no peer at all for
   * {@link DialConfig.bootnodeFallbackDelayMs} (old geth's `dialstate` fallback, removed from
   * geth in the 2020 dialer rewrite; kept here because it rescues a node whose discovery table
   * holds only bad entries). Default true.
   */
  readonly bootnodeFallback: boolean
  /** How long without any peer before the bootnode fallback starts (old geth: 20 s). */
  readonly bootnodeFallbackDelayMs: number
  /** Most static nodes ({@link DialScheduler.addStatic} refuses more). */
  readonly maxStaticNodes: number
  /** Most candidate iterators ({@link DialScheduler.addIterator} throws beyond). */
  readonly maxIterators: number
  /** Interval of the "Looking for peers" log (geth: 10 s). */
  readonly statsLogIntervalMs: number
  /** When set, only nodes with an IP inside the list are dialed (geth's NetRestrict). */
  readonly netRestrict?: Netlist | undefined
}

/** Defaults of {@link DialConfig}: geth's values. */
export const DIAL_DEFAULTS: Readonly<DialConfig> = Object.freeze({
  maxDialPeers: 16,
  maxActiveDials: 50,
  historyExpirationMs: 35_000,
  maxHistory: 10_000,
  initialResolveDelayMs: 60_000,
  maxResolveDelayMs: 3_600_000,
  resolveTimeoutMs: 30_000,
  dnsTimeoutMs: 5_000,
  dialTimeoutMs: 15_000,
  bootnodeFallback: true,
  bootnodeFallbackDelayMs: 20_000,
  maxStaticNodes: 10_000,
  maxIterators: 16,
  statsLogIntervalMs: 10_000,
  netRestrict: undefined,
})

const COUNT_FIELDS = [
  'maxDialPeers',
  'maxActiveDials',
  'historyExpirationMs',
  'maxHistory',
  'initialResolveDelayMs',
  'maxResolveDelayMs',
  'resolveTimeoutMs',
  'dnsTimeoutMs',
  'dialTimeoutMs',
  'bootnodeFallbackDelayMs',
  'maxStaticNodes',
  'maxIterators',
  'statsLogIntervalMs',
] as const

/**
 * A complete, frozen {@link DialConfig}: `partial` over {@link DIAL_DEFAULTS} (`undefined` fields
 * take the default). `RangeError` for a negative or non-integer number, for
 * `maxResolveDelayMs < initialResolveDelayMs`, or for `maxHistory`/`initialResolveDelayMs` of 0.
 */
export function resolveDialConfig(partial: Partial<DialConfig> = {}): Readonly<DialConfig> {
  const c: Record<string, unknown> = { ...DIAL_DEFAULTS }
  for (const [k, v] of Object.entries(partial)) if (v !== undefined) c[k] = v
  const out = c as unknown as DialConfig
  for (const k of COUNT_FIELDS) {
    const v = out[k]
    if (!Number.isSafeInteger(v) || v < 0) throw new RangeError(`dial config ${k}: expected an integer >= 0`)
  }
  if (out.maxHistory < 1) throw new RangeError('dial config maxHistory: expected >= 1')
  if (out.initialResolveDelayMs < 1) throw new RangeError('dial config initialResolveDelayMs: expected >= 1')
  if (out.maxResolveDelayMs < out.initialResolveDelayMs)
    throw new RangeError('dial config maxResolveDelayMs: expected >= initialResolveDelayMs')
  if (typeof out.bootnodeFallback !== 'boolean')
    throw new TypeError('dial config bootnodeFallback: expected a boolean')
  return Object.freeze(out)
}

/** Why a dial was started: a static node, a candidate from an iterator, or the bootnode fallback. */
export type DialKind = 'static' | 'dynamic' | 'bootnode'

/** How a connected peer came to us: one of our {@link DialKind}s, or an inbound connection. */
export type PeerKind = DialKind | 'inbound'

/** Why a node may not be dialed now, checked in geth's order. */
export type DialRejection =
  | 'self'
  | 'no-tcp-port'
  | 'already-dialing'
  | 'already-connected'
  | 'pending-inbound'
  | 'net-restrict'
  | 'recently-dialed'

/**
 * How a dial task ended: `success`; `aborted` (scheduler stopped); `timeout` (the dial deadline
 * passed); `no-address` (no usable IP and TCP port, nothing dialed); `net-restrict` (a resolved
 * address is outside NetRestrict); `resolve-throttled` / `resolve-failed` (a static node without
 * an IP could not be resolved, nothing dialed); else the label of {@link dispositionOf} for the
 * dial's error (`network-error`, `handshake-enc`, `local-TooManyPeers`...).
 */
export type DialOutcome =
  | 'success'
  | 'aborted'
  | 'timeout'
  | 'no-address'
  | 'net-restrict'
  | 'resolve-throttled'
  | 'resolve-failed'
  | (string & Record<never, never>)

/** One finished dial task, for metrics ({@link DialDeps.onDialResult}). */
export interface DialResult {
  /** The node as last dialed (resolved address included). */
  readonly node: Node
  /** Why the node was dialed. */
  readonly kind: DialKind
  /** How the task ended. */
  readonly outcome: DialOutcome
  /** From the start of the task (including resolution) to its end, on the injected clock. */
  readonly durationMs: number
  /** The error of a failed dial, if any. */
  readonly error?: unknown
}

/** Options of {@link DialDeps.dial}. */
export interface DialOptions {
  /** Why the node is dialed (the server records it as the connection's flag). */
  readonly kind: DialKind
  /** Aborts when the dial deadline passes or the scheduler stops. */
  readonly signal: AbortSignal
}

/** The services the scheduler runs on. */
export interface DialDeps {
  /** Time and timers (history, deadlines, the bootnode fallback). */
  readonly clock: Clock
  /** Picks static nodes at random. */
  readonly random: RandomSource
  /** Silent when absent. */
  readonly logger?: Logger
  /** Our own node id (never dialed). */
  readonly selfId: Uint8Array
  /**
   * Connect to `node` and run both handshakes. Resolve once the peer is set up (the server
   * reports it with {@link DialScheduler.peerAdded} itself), reject on failure. Must give up
   * when `signal` aborts; the scheduler stops waiting for it at that moment anyway.
   */
  dial(node: Node, opts: DialOptions): Promise<void>
  /**
   * Find the current endpoint of a node known only by its key (discovery's `resolve`). Used for
   * static nodes without an IP, and once after a static dial fails to connect.
   */
  resolve?(node: Node, opts: { readonly signal: AbortSignal }): Promise<Node | undefined>
  /**
   * Resolve a static node's DNS name to IP texts (default: `node:dns` lookup). IPv4 is
   * preferred, as in geth.
   */
  lookupHost?(hostname: string, opts: { readonly signal: AbortSignal }): Promise<readonly string[]>
  /** Called when a dial task ends (for metrics); must not throw. */
  onDialResult?(result: DialResult): void
}

/** A candidate source: an async iterable, or a function that gets the scheduler's stop signal. */
export type NodeSource = AsyncIterable<Node> | ((signal: AbortSignal) => AsyncIterable<Node>)

/** A snapshot of the scheduler's counters ({@link DialScheduler.stats}). */
export interface DialStats {
  /** Dial tasks in flight. */
  readonly dialing: number
  /** Connected peers we dialed (any {@link DialKind}). */
  readonly dialedPeers: number
  /** Connected peers of every kind. */
  readonly peers: number
  /** Static nodes known. */
  readonly staticNodes: number
  /** Static nodes ready to dial now. */
  readonly staticPool: number
  /** Entries in the dial history. */
  readonly history: number
  /** Candidate iterators attached. */
  readonly iterators: number
  /** Finished dial tasks by {@link DialOutcome}. */
  readonly outcomes: Readonly<Record<string, number>>
  /** Candidates from iterators dropped by {@link DialRejection}. */
  readonly discarded: Readonly<Record<string, number>>
}

type SchedulerState = 'idle' | 'running' | 'stopping' | 'stopped'

interface StaticTask {
  node: Node
  /** Index in the static pool, -1 when not in it. */
  poolIndex: number
  /** Discovery resolutions failed in a row (sets the wait before the next one). */
  resolveFailures: number
  lastResolvedAt: number | undefined
}

interface ActiveDial {
  readonly node: Node
  readonly kind: DialKind
  /** Settles (never rejects) when the task is over. */
  done: Promise<void>
}

type SourceState =
  | { readonly kind: 'idle' }
  | { readonly kind: 'reading' }
  | { readonly kind: 'held'; readonly node: Node }
  | { readonly kind: 'paused'; readonly timer: Timer }

interface Source {
  readonly iterator: AsyncIterator<Node>
  state: SourceState
  /** Candidates discarded in a row. */
  discardRun: number
  removed: boolean
}

type ResolveResult =
  | { readonly kind: 'resolved'; readonly node: Node }
  | { readonly kind: 'throttled' }
  | { readonly kind: 'failed' }

const IDLE: SourceState = Object.freeze({ kind: 'idle' })
const READING: SourceState = Object.freeze({ kind: 'reading' })

async function systemLookup(hostname: string, opts: { readonly signal: AbortSignal }): Promise<string[]> {
  const res = await raceAbort(lookup(hostname, { all: true }), opts.signal)
  return res.map((r) => r.address)
}

/** Call `return()` on an iterator, ignoring its errors (sync or async). */
function closeQuietly(it: AsyncIterator<unknown>): void {
  try {
    it.return?.().catch(() => {})
  } catch {
    // an iterator whose return() throws is closed as far as we are concerned
  }
}

/** True for errors that mean the TCP connection was made and a later stage failed. */
function connectedError(err: unknown): boolean {
  return err instanceof HandshakeError || err instanceof DisconnectError || err instanceof PeerProtocolError
}

/**
 * geth's dial scheduler. Each time something changes it computes the free dial slots,
 * `min(2 × (maxDialPeers − dialed peers), maxActiveDials) − dials in flight`, and fills them:
 * first with static nodes picked at random from the pool of those passing the checks, then
 * (when no peer at all for 20 s) with one bootnode, then with candidates read from the
 * iterators, round robin, at most one read pending per iterator. Every dialed node goes into
 * a 35 s history and is not dialed again before it expires; static nodes are redialed after
 * that when not connected.
 *
 * Checks before a dial, in geth's order ({@link DialRejection}): self; an IP without a TCP port;
 * already dialing; already connected; an inbound handshake pending with that id; outside
 * NetRestrict; in the history. One difference from geth: a static node without an IP is not
 * refused by NetRestrict before resolution; its resolved address is checked instead.
 *
 * @example
 * ```ts
 * const dialer = new DialScheduler({ maxDialPeers: 16 }, {
 *   clock, random: secureRandom, selfId,
 *   dial: (node, { kind, signal }) => server.dialAndSetup(node, kind, signal),
 *   resolve: (node, opts) => discv4.resolve(node, opts),
 * })
 * dialer.addIterator((signal) => discv4.randomNodes({ signal }))
 * dialer.start()
 * ```
 */
export class DialScheduler {
  /** The resolved configuration. */
  readonly config: Readonly<DialConfig>
  private readonly deps: DialDeps
  private readonly clock: Clock
  private readonly log: Logger
  private readonly selfKey: string
  private readonly controller = new AbortController()
  private state: SchedulerState = 'idle'
  private stopped: Promise<void> | undefined

  // BOUNDED: at most config.maxStaticNodes entries (addStatic refuses more).
  private readonly statics = new Map<string, StaticTask>()
  /** Static tasks passing the checks; each task records its index here. */
  // BOUNDED: a subset of `statics`.
  private readonly pool: StaticTask[] = []
  // BOUNDED: dials start only while free slots > 0, so at most config.maxActiveDials entries.
  private readonly dialing = new Map<string, ActiveDial>()
  // BOUNDED: mirrors the server's peer set (MaxPeers plus trusted peers); the server owns it.
  private readonly peers = new Map<string, PeerKind>()
  // BOUNDED: mirrors the server's inbound handshakes in progress (MaxPendingPeers).
  private readonly pendingInbound = new Set<string>()
  // BOUNDED: at most config.maxHistory entries (oldest evicted when full), each removed after
  // config.historyExpirationMs. Insertion order is expiry order (one TTL, monotonic clock).
  private readonly history = new Map<string, number>()
  private historyTimer: { readonly at: number; readonly timer: Timer } | undefined
  // BOUNDED: at most config.maxIterators (addIterator throws beyond).
  private sources: Source[] = []
  private nextSource = 0
  // BOUNDED: at most MAX_BOOTNODES (setBootnodes truncates).
  private bootnodes: Node[] = []
  private nextBootnode = 0
  private bootnodeDials = 0
  /** Monotonic time since which we have had no peer; undefined while a peer exists. */
  private noPeerSince: number | undefined
  private fallbackTimer: Timer | undefined
  private dialPeers = 0
  private updating = false
  private again = false
  private lastStatsLog = 0
  private doneSinceLastLog = 0
  // BOUNDED: at most MAX_OUTCOME_LABELS labels (later ones count as `other`).
  private readonly outcomes = new Map<string, number>()
  // BOUNDED: one entry per DialRejection value.
  private readonly discarded = new Map<DialRejection, number>()

  /**
   * @param config options over {@link DIAL_DEFAULTS}
   * @param deps the clock, randomness, our id and the dial/resolve functions
   */
  constructor(config: Partial<DialConfig>, deps: DialDeps) {
    this.config = resolveDialConfig(config)
    this.deps = deps
    this.clock = deps.clock
    this.log = (deps.logger ?? silentLogger).child({ component: 'dial' })
    this.selfKey = toHex(deps.selfId)
  }

  /** Start dialing. Iterators and static nodes added before are used from now on. */
  start(): void {
    if (this.state !== 'idle') return
    this.state = 'running'
    const now = this.clock.monotonic()
    this.lastStatsLog = now
    if (this.peers.size === 0) this.noPeerSince = now
    this.update()
  }

  /**
   * Stop: aborts dials and iterator reads in flight (their signal), closes the iterators
   * (`return()`), cancels every timer, and resolves once every dial task has ended. Idempotent.
   */
  stop(): Promise<void> {
    if (this.stopped) return this.stopped
    this.state = 'stopping'
    this.controller.abort(new AbortError('dial scheduler stopped'))
    this.historyTimer?.timer.cancel()
    this.historyTimer = undefined
    this.fallbackTimer?.cancel()
    this.fallbackTimer = undefined
    for (const s of this.sources) this.closeSource(s)
    this.sources = []
    const tasks = [...this.dialing.values()].map((d) => d.done)
    this.stopped = Promise.all(tasks).then(() => {
      this.state = 'stopped'
    })
    return this.stopped
  }

  /**
   * Add a source of dial candidates (discovery's random nodes, a protocol's DNS list...). Each
   * source has at most one read pending; candidates of several sources are taken round robin.
   * A function source is called once with the scheduler's stop signal. A source that ends or
   * throws is dropped. Returns a function that removes the source. `RangeError` beyond
   * {@link DialConfig.maxIterators}; after {@link stop} the source is closed at once.
   */
  addIterator(source: NodeSource): () => void {
    if (this.state === 'stopping' || this.state === 'stopped') {
      if (typeof source !== 'function') closeQuietly(source[Symbol.asyncIterator]())
      return () => {}
    }
    if (this.sources.length >= this.config.maxIterators)
      throw new RangeError(`dial scheduler: at most ${this.config.maxIterators} iterators`)
    const iterable = typeof source === 'function' ? source(this.controller.signal) : source
    const src: Source = {
      iterator: iterable[Symbol.asyncIterator](),
      state: IDLE,
      discardRun: 0,
      removed: false,
    }
    this.sources.push(src)
    this.update()
    return () => this.dropSource(src)
  }

  /**
   * Keep a connection to `node` (geth's AddPeer): dialed with priority and redialed after a
   * disconnect once its history entry expires. Adding a known id replaces its endpoint. Returns
   * false when {@link DialConfig.maxStaticNodes} static nodes are already known.
   */
  addStatic(node: Node): boolean {
    const key = node.idHex
    const known = this.statics.get(key)
    if (known) {
      known.node = node
      known.resolveFailures = 0
      known.lastResolvedAt = undefined
    } else {
      if (this.statics.size >= this.config.maxStaticNodes) {
        this.log.warn('Static node set full, node not added', { id: key, max: this.config.maxStaticNodes })
        return false
      }
      this.statics.set(key, {
        node,
        poolIndex: -1,
        resolveFailures: 0,
        lastResolvedAt: undefined,
      })
    }
    this.log.trace('Adding static node', { id: key, ip: node.ip, added: !known })
    this.updateStaticPool(key)
    this.update()
    return true
  }

  /** Stop maintaining a connection to `node` (a dial in flight goes on; no disconnect). */
  removeStatic(node: Node): void {
    const key = node.idHex
    const task = this.statics.get(key)
    this.log.trace('Removing static node', { id: key, ok: task !== undefined })
    if (!task) return
    this.statics.delete(key)
    if (task.poolIndex >= 0) this.removeFromPool(task.poolIndex)
  }

  /**
   * The nodes for the bootnode fallback (at most {@link MAX_BOOTNODES}; dialed in this order,
   * round robin). Replaces the previous list.
   */
  setBootnodes(nodes: readonly Node[]): void {
    if (nodes.length > MAX_BOOTNODES)
      this.log.warn('Too many bootnodes, extra ones ignored', { given: nodes.length, max: MAX_BOOTNODES })
    this.bootnodes = nodes.slice(0, MAX_BOOTNODES)
    this.nextBootnode = 0
    this.update()
  }

  /** The server added a peer (after both handshakes). */
  peerAdded(peer: { readonly id: Uint8Array; readonly kind: PeerKind }): void {
    const key = toHex(peer.id)
    if (this.peers.has(key)) return
    this.peers.set(key, peer.kind)
    if (peer.kind !== 'inbound') this.dialPeers++
    this.noPeerSince = undefined
    const task = this.statics.get(key)
    if (task && task.poolIndex >= 0) this.removeFromPool(task.poolIndex)
    this.update()
  }

  /** The server dropped a peer. */
  peerRemoved(id: Uint8Array): void {
    const key = toHex(id)
    const kind = this.peers.get(key)
    if (kind === undefined) return
    this.peers.delete(key)
    if (kind !== 'inbound') this.dialPeers--
    if (this.peers.size === 0) this.noPeerSince = this.clock.monotonic()
    this.updateStaticPool(key)
    this.update()
  }

  /** An inbound connection from `id` passed the encryption handshake and is being set up. */
  inboundPending(id: Uint8Array): void {
    const key = toHex(id)
    this.pendingInbound.add(key)
    const task = this.statics.get(key)
    if (task && task.poolIndex >= 0) this.removeFromPool(task.poolIndex)
  }

  /** The inbound setup announced by {@link inboundPending} ended (either way). */
  inboundPendingDone(id: Uint8Array): void {
    const key = toHex(id)
    if (!this.pendingInbound.delete(key)) return
    this.updateStaticPool(key)
    this.update()
  }

  /** A snapshot of the counters. */
  get stats(): DialStats {
    return {
      dialing: this.dialing.size,
      dialedPeers: this.dialPeers,
      peers: this.peers.size,
      staticNodes: this.statics.size,
      staticPool: this.pool.length,
      history: this.history.size,
      iterators: this.sources.length,
      outcomes: Object.fromEntries(this.outcomes),
      discarded: Object.fromEntries(this.discarded),
    }
  }

  // ---- the loop body ----

  /** Run {@link step} until nothing changes; re-entrant calls (from a synchronous dial) fold in. */
  private update(): void {
    if (this.state !== 'running') return
    if (this.updating) {
      this.again = true
      return
    }
    this.updating = true
    try {
      do {
        this.again = false
        this.step()
      } while (this.again && this.state === 'running')
    } finally {
      this.updating = false
    }
  }

  private step(): void {
    let slots = this.freeSlots()
    slots -= this.startStaticDials(slots)
    if (slots > 0 && this.startBootnodeDial()) slots--
    if (slots > 0) slots -= this.startDynamicDials(slots)
    if (slots > 0) this.startReads()
    this.rearmHistoryTimer()
    this.rearmFallbackTimer()
    this.logStats()
  }

  private freeSlots(): number {
    const c = this.config
    const slots = Math.min((c.maxDialPeers - this.dialPeers) * 2, c.maxActiveDials)
    return slots - this.dialing.size
  }

  /** geth's checkDial. */
  private checkDial(node: Node): DialRejection | undefined {
    const key = node.idHex
    if (key === this.selfKey) return 'self'
    if (node.ip !== undefined && node.tcp === 0) return 'no-tcp-port'
    if (this.dialing.has(key)) return 'already-dialing'
    if (this.peers.has(key)) return 'already-connected'
    if (this.pendingInbound.has(key)) return 'pending-inbound'
    if (node.ip !== undefined && !this.allowedIp(node.ip)) return 'net-restrict'
    if (this.history.has(key)) return 'recently-dialed'
    return undefined
  }

  private allowedIp(ip: string): boolean {
    const list = this.config.netRestrict
    if (list === undefined) return true
    const b = tryParseIP(ip)
    return b !== undefined && list.contains(b)
  }

  private startStaticDials(n: number): number {
    let started = 0
    while (started < n && this.pool.length > 0) {
      const idx = this.deps.random.int(this.pool.length)
      const task = this.pool[idx]!
      this.removeFromPool(idx)
      if (this.checkDial(task.node) !== undefined) continue
      this.startDial(task.node, 'static')
      started++
    }
    return started
  }

  private startBootnodeDial(): boolean {
    if (!this.fallbackDue() || this.bootnodeDials > 0) return false
    const n = this.bootnodes.length
    for (let i = 0; i < n; i++) {
      const idx = (this.nextBootnode + i) % n
      const node = this.bootnodes[idx]!
      if (this.checkDial(node) !== undefined) continue
      this.nextBootnode = (idx + 1) % n
      this.log.debug('No peers, dialing bootnode', { id: node.idHex, ip: node.ip })
      this.startDial(node, 'bootnode')
      return true
    }
    return false
  }

  /** Whether the fallback applies and its delay has passed. */
  private fallbackDue(): boolean {
    const since = this.fallbackSince()
    return since !== undefined && this.clock.monotonic() - since >= this.config.bootnodeFallbackDelayMs
  }

  private fallbackSince(): number | undefined {
    if (!this.config.bootnodeFallback || this.bootnodes.length === 0 || this.peers.size > 0) return undefined
    return this.noPeerSince
  }

  private startDynamicDials(slots: number): number {
    let started = 0
    const n = this.sources.length
    for (let i = 0; i < n && started < slots; i++) {
      const idx = (this.nextSource + i) % n
      const src = this.sources[idx]!
      if (src.state.kind !== 'held') continue
      const node = src.state.node
      src.state = IDLE
      this.nextSource = (idx + 1) % n
      const why = this.checkDial(node)
      if (why !== undefined) {
        src.discardRun++
        this.discarded.set(why, (this.discarded.get(why) ?? 0) + 1)
        this.log.trace('Discarding dial candidate', { id: node.idHex, ip: node.ip, reason: why })
        continue
      }
      src.discardRun = 0
      this.startDial(node, 'dynamic')
      started++
    }
    return started
  }

  private startReads(): void {
    for (const src of this.sources) if (src.state.kind === 'idle') this.read(src)
  }

  private read(src: Source): void {
    if (src.discardRun >= DISCARD_BURST) {
      src.discardRun = 0
      const timer = this.clock.setTimeout(() => {
        if (src.state.kind !== 'paused' || src.removed) return
        src.state = IDLE
        this.update()
      }, 0)
      src.state = { kind: 'paused', timer }
      return
    }
    src.state = READING
    let next: Promise<IteratorResult<Node>>
    try {
      next = src.iterator.next()
    } catch (err) {
      this.sourceFailed(src, err)
      return
    }
    raceAbort(next, this.controller.signal).then(
      (r) => {
        if (src.removed || this.state !== 'running') return
        if (r.done) {
          this.log.debug('Dial candidate iterator ended')
          this.dropSource(src)
          return
        }
        src.state = { kind: 'held', node: r.value }
        this.update()
      },
      (err: unknown) => this.sourceFailed(src, err),
    )
  }

  private sourceFailed(src: Source, err: unknown): void {
    if (src.removed || this.state !== 'running') return
    this.log.warn('Dial candidate iterator failed', { err })
    this.dropSource(src)
  }

  private dropSource(src: Source): void {
    if (src.removed) return
    const idx = this.sources.indexOf(src)
    if (idx >= 0) {
      this.sources.splice(idx, 1)
      if (this.nextSource > idx) this.nextSource--
      if (this.nextSource >= this.sources.length) this.nextSource = 0
    }
    this.closeSource(src)
    this.update()
  }

  private closeSource(src: Source): void {
    src.removed = true
    if (src.state.kind === 'paused') src.state.timer.cancel()
    src.state = IDLE
    closeQuietly(src.iterator)
  }

  // ---- static pool ----

  private addToPool(task: StaticTask): void {
    task.poolIndex = this.pool.length
    this.pool.push(task)
  }

  private removeFromPool(idx: number): void {
    const task = this.pool[idx]!
    const last = this.pool.pop()!
    if (last !== task) {
      this.pool[idx] = last
      last.poolIndex = idx
    }
    task.poolIndex = -1
  }

  /** Put the static task of `key` back into the pool if it passes the checks now. */
  private updateStaticPool(key: string): void {
    const task = this.statics.get(key)
    if (task && task.poolIndex < 0 && this.checkDial(task.node) === undefined) this.addToPool(task)
  }

  // ---- history ----

  private addHistory(key: string): void {
    this.history.delete(key)
    while (this.history.size >= this.config.maxHistory) {
      const oldest = this.history.keys().next().value
      if (oldest === undefined) break
      this.history.delete(oldest)
      this.updateStaticPool(oldest)
    }
    this.history.set(key, this.clock.monotonic() + this.config.historyExpirationMs)
  }

  private expireHistory(): void {
    const now = this.clock.monotonic()
    for (const [key, at] of this.history) {
      if (at > now) break
      this.history.delete(key)
      this.updateStaticPool(key)
    }
  }

  private rearmHistoryTimer(): void {
    const first = this.history.values().next()
    const at = first.done ? undefined : first.value
    if (this.historyTimer && this.historyTimer.at === at) return
    this.historyTimer?.timer.cancel()
    this.historyTimer = undefined
    if (at === undefined) return
    const timer = this.clock.setTimeout(
      () => {
        this.historyTimer = undefined
        this.expireHistory()
        this.update()
      },
      Math.max(0, at - this.clock.monotonic()),
    )
    this.historyTimer = { at, timer }
  }

  private rearmFallbackTimer(): void {
    const since = this.fallbackSince()
    const wait =
      since === undefined ? 0 : since + this.config.bootnodeFallbackDelayMs - this.clock.monotonic()
    if (since === undefined || wait <= 0) {
      this.fallbackTimer?.cancel()
      this.fallbackTimer = undefined
      return
    }
    if (this.fallbackTimer) return
    this.fallbackTimer = this.clock.setTimeout(() => {
      this.fallbackTimer = undefined
      this.update()
    }, wait)
  }

  private logStats(): void {
    const now = this.clock.monotonic()
    if (now - this.lastStatsLog < this.config.statsLogIntervalMs) return
    if (this.dialPeers < 3 && this.dialPeers < this.config.maxDialPeers)
      this.log.info('Looking for peers', {
        peercount: this.peers.size,
        tried: this.doneSinceLastLog,
        static: this.statics.size,
      })
    this.doneSinceLastLog = 0
    this.lastStatsLog = now
  }

  // ---- dial tasks ----

  private startDial(node: Node, kind: DialKind): void {
    const key = node.idHex
    this.addHistory(key)
    const active: ActiveDial = { node, kind, done: Promise.resolve() }
    this.dialing.set(key, active)
    if (kind === 'bootnode') this.bootnodeDials++
    active.done = this.runTask(key, active)
  }

  private async runTask(key: string, d: ActiveDial): Promise<void> {
    const started = this.clock.monotonic()
    const task = d.kind === 'static' ? this.statics.get(key) : undefined
    const last = { node: d.node }
    let outcome: DialOutcome
    let error: unknown
    try {
      outcome = await this.execute(d, task, last)
    } catch (err) {
      error = err
      outcome = this.label(err)
    }
    this.dialing.delete(key)
    if (d.kind === 'bootnode') this.bootnodeDials--
    this.count(outcome)
    this.doneSinceLastLog++
    if (outcome !== 'success' && outcome !== 'aborted')
      this.log.trace('Dial failed', { id: key, kind: d.kind, outcome, err: error })
    try {
      this.deps.onDialResult?.({
        node: last.node,
        kind: d.kind,
        outcome,
        durationMs: this.clock.monotonic() - started,
        ...(error === undefined ? {} : { error }),
      })
    } catch (err) {
      this.log.warn('onDialResult threw', { err })
    }
    this.updateStaticPool(key)
    this.update()
  }

  private label(err: unknown): DialOutcome {
    if (this.controller.signal.aborted) return 'aborted'
    // dispositionOf files unknown errors under subprotocol-error; for a dial that means "other".
    const label = dispositionOf(err).label
    return label === 'subprotocol-error' ? 'other' : label
  }

  private count(outcome: string): void {
    const label = this.outcomes.has(outcome) || this.outcomes.size < MAX_OUTCOME_LABELS ? outcome : 'other'
    this.outcomes.set(label, (this.outcomes.get(label) ?? 0) + 1)
  }

  /** geth's dialTask.run: DNS and discovery resolution for static nodes, the dial, one retry. */
  private async execute(
    d: ActiveDial,
    task: StaticTask | undefined,
    last: { node: Node },
  ): Promise<DialOutcome> {
    const signal = this.controller.signal
    let node = d.node
    if (task && node.hostname !== undefined) {
      node = await this.lookupDns(node, signal)
      task.node = node
      last.node = node
    }
    if (node.ip === undefined) {
      if (!task) return 'no-address'
      const r = await this.resolveStatic(task, node, signal)
      if (r.kind === 'throttled') return 'resolve-throttled'
      if (r.kind === 'failed') return 'resolve-failed'
      node = r.node
      last.node = node
    }
    if (!this.allowedIp(node.ip!)) return 'net-restrict'
    if (node.tcpEndpoint() === undefined) return 'no-address'
    try {
      return await this.dialOnce(node, d.kind)
    } catch (err) {
      // geth: a static node that could not be reached is resolved once more and redialed.
      if (!task || signal.aborted || connectedError(err)) throw err
      const r = await this.resolveStatic(task, node, signal)
      if (r.kind !== 'resolved' || !this.allowedIp(r.node.ip!)) throw err
      last.node = r.node
      return await this.dialOnce(r.node, d.kind)
    }
  }

  /** One call of the injected dial under the dial deadline; a deadline rejects with TimeoutError. */
  private async dialOnce(node: Node, kind: DialKind): Promise<DialOutcome> {
    const t = timeoutSignal(this.clock, this.config.dialTimeoutMs, 'dial')
    const signal = anySignal(this.controller.signal, t.signal)
    try {
      await raceAbort(this.deps.dial(node, { kind, signal }), signal)
      return 'success'
    } finally {
      t.dispose()
    }
  }

  /** A copy of `node` with the first IPv4 (else IPv6) address of its hostname; `node` on failure. */
  private async lookupDns(node: Node, signal: AbortSignal): Promise<Node> {
    const hostname = node.hostname!
    const lookupHost = (h: string, o: { readonly signal: AbortSignal }): Promise<readonly string[]> =>
      this.deps.lookupHost ? this.deps.lookupHost(h, o) : systemLookup(h, o)
    try {
      const addrs = await withTimeout(this.clock, this.config.dnsTimeoutMs, 'dns lookup', signal, (s) =>
        lookupHost(hostname, { signal: s }),
      )
      let ip4: string | undefined
      let ip6: string | undefined
      for (const a of addrs) {
        const b = tryParseIP(a)
        if (b?.length === 4) ip4 ??= a
        else if (b?.length === 16) ip6 ??= a
      }
      const ip = ip4 ?? ip6
      if (ip === undefined) {
        this.log.warn('DNS lookup of static node gave no address', { id: node.idHex, name: hostname })
        return node
      }
      return node.withIp(ip)
    } catch (err) {
      if (signal.aborted) throw err
      this.log.warn('DNS lookup of static node failed', { id: node.idHex, name: hostname, err })
      return node
    }
  }

  /** The wait after the last resolution before the next one may start. */
  private resolveDelay(task: StaticTask): number {
    const c = this.config
    if (task.resolveFailures === 0) return c.initialResolveDelayMs
    return Math.min(
      c.initialResolveDelayMs * 2 ** Math.min(task.resolveFailures - 1, 52),
      c.maxResolveDelayMs,
    )
  }

  /**
   * geth's dialTask.resolve: the first discovery resolution of a static node is at once; then
   * at most one per wait, which is 60 s after a success or a first failure and doubles with each
   * further failure up to 1 h. (geth doubles before its first wait, so its first retry after a
   * failure comes after 120 s.)
   */
  private async resolveStatic(task: StaticTask, node: Node, signal: AbortSignal): Promise<ResolveResult> {
    const resolver = this.deps.resolve
    if (!resolver) return { kind: 'failed' }
    if (
      task.lastResolvedAt !== undefined &&
      this.clock.monotonic() - task.lastResolvedAt < this.resolveDelay(task)
    )
      return { kind: 'throttled' }
    let resolved: Node | undefined
    try {
      resolved = await withTimeout(this.clock, this.config.resolveTimeoutMs, 'resolve', signal, (s) =>
        resolver.call(this.deps, node, { signal: s }),
      )
    } catch (err) {
      if (signal.aborted) throw err
      this.log.debug('Resolving node failed with error', { id: node.idHex, err })
      resolved = undefined
    }
    task.lastResolvedAt = this.clock.monotonic()
    if (resolved === undefined || !equalBytes(resolved.id, node.id) || resolved.tcpEndpoint() === undefined) {
      task.resolveFailures++
      this.log.debug('Resolving node failed', { id: node.idHex, newdelay: this.resolveDelay(task) })
      return { kind: 'failed' }
    }
    task.resolveFailures = 0
    task.node = resolved
    this.log.debug('Resolved node', { id: resolved.idHex, ip: resolved.ip, tcp: resolved.tcp })
    return { kind: 'resolved', node: resolved }
  }
}

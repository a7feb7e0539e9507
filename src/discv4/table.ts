/**
 * The Kademlia table (go-ethereum's `table.go` + `table_reval.go`, our own code). It owns:
 * 17 buckets of 16 nodes by log-distance from us (distances up to 240 share bucket 0), a
 * 10-entry replacement list per bucket, the IP limits (2 per /24 per bucket, 10 per /24 in the
 * table, LAN addresses exempt), revalidation, the refresh cycle, and the seed nodes (database
 * seeds and bootnodes).
 *
 * Revalidation follows today's geth (2024, two lists): every node sits in a "fast" or a "slow"
 * list. Each list fires at a random moment within its interval (3 s / 9 s) and pings one random
 * node of it that is not already being checked. A node that answers gains a liveness check, is
 * marked live and moves to the slow list; one that does not has its checks divided by 3 and is
 * removed at 0 (a random replacement takes its place), else it moves to the fast list. Nodes
 * live with more than 5 checks are written to the database as seeds. Record updates (a higher
 * seq seen in a Ping/Pong leads to an ENR request in the transport) reach the table through
 * {@link Table.updateRecord}; an endpoint change sends the node back to the fast list.
 *
 * Refresh: load up to 30 database seeds (max 5 days old) and the bootnodes, run a self-lookup,
 * then 3 random lookups; repeat after a random wait in [15, 30) min, earlier on demand, and
 * when the table runs empty (at most once a minute).
 * Nodes that contacted us (inbound) are refused until the first refresh finished, as in geth.
 */
import { compressPublicKey, decompressPublicKey } from '../crypto/index.js'
import { distCmp, logDistance, Node, type NodeDB } from '../enode/index.js'
import { ENR } from '../enr/index.js'
import { DistinctNetSet, isLAN, isUnspecified, type Netlist } from '../netutil/index.js'
import { encode, encodeRawList } from '../rlp/index.js'
import {
  type Clock,
  equalBytes,
  type Logger,
  type RandomSource,
  type Timer,
  toHex,
  tryParseIP,
  unmapIP,
} from '../util/index.js'
import {
  BUCKET_IP_LIMIT,
  BUCKET_MIN_DISTANCE,
  BUCKET_SIZE,
  type Discv4Config,
  IP_LIMIT_SUBNET,
  MAX_REPLACEMENTS,
  N_BUCKETS,
  SEED_MIN_CHECKS,
  SLOW_REVALIDATION_FACTOR,
  TABLE_IP_LIMIT,
} from './config.js'
import { NodesByDistance } from './lookup.js'

/** What the table needs from the protocol: liveness pings and lookups for refresh. */
export interface TableTransport {
  /** Ping `node`; resolves when it answers (with the seq it announced), rejects otherwise. */
  ping(node: Node, signal: AbortSignal): Promise<bigint>
  /** A lookup towards our own id. */
  lookupSelf(signal: AbortSignal): Promise<unknown>
  /** A lookup towards a random target. */
  lookupRandom(signal: AbortSignal): Promise<unknown>
}

/** Services and settings of a {@link Table}. */
export interface TableOptions {
  /** Our node id (distances are measured from it; never added). */
  readonly selfId: Uint8Array
  /** Pings for revalidation, lookups for refresh. */
  readonly transport: TableTransport
  /** Intervals and limits (see {@link Discv4Config}). */
  readonly config: Discv4Config
  /** Timers and wall time. */
  readonly clock: Clock
  /** Revalidation picks, replacement choice, refresh jitter, shuffles. */
  readonly random: RandomSource
  /** Where logs go. */
  readonly logger: Logger
  /** Seeds are read from and stored into it. */
  readonly db?: NodeDB | undefined
  /** Fallback nodes, added at every refresh. */
  readonly bootnodes?: readonly Node[]
  /** Only nodes inside these networks are kept. */
  readonly netRestrict?: Netlist | undefined
}

/** Debug view of one table entry (geth's `BucketNode`). */
export interface TableEntryInfo {
  readonly node: Node
  /** Wall time (ms) the node first entered the table (as entry or replacement). */
  readonly addedToTable: number
  /** Wall time (ms) the node became a bucket entry. */
  readonly addedToBucket: number
  /** Successful revalidations (divided by 3 on each failure). */
  readonly livenessChecks: number
  /** Whether the node answered a ping since it was added or its endpoint changed. */
  readonly live: boolean
}

/** Debug view of one bucket. */
export interface BucketInfo {
  /** 0..16: bucket i holds log-distance 240 + i; bucket 0 also every distance below 240. */
  readonly index: number
  /** The bucket's entries, oldest first. */
  readonly entries: readonly TableEntryInfo[]
  /** Newest first. */
  readonly replacements: readonly Node[]
}

type RevalListName = 'fast' | 'slow'

interface TableNode {
  node: Node
  readonly hex: string
  readonly addedToTable: number
  addedToBucket: number
  livenessChecks: number
  live: boolean
  list: RevalListName | undefined
}

interface Bucket {
  readonly index: number
  entries: TableNode[]
  replacements: TableNode[]
  readonly ips: DistinctNetSet
}

interface RevalList {
  readonly name: RevalListName
  readonly interval: number
  nodes: TableNode[]
  /** Monotonic ms of the next check; Infinity while empty. */
  next: number
}

/** Bucket index of log-distance `d`: 240 + i → i, and every distance up to 240 → 0 (as geth). */
export function bucketIndexOf(d: number): number {
  return d <= BUCKET_MIN_DISTANCE ? 0 : d - BUCKET_MIN_DISTANCE - 1
}

/**
 * The record to store for `node` in the database: its signed record, or, for a plain v4 node,
 * a record carrying an empty signature (as go-ethereum stores v4 nodes), read back by
 * {@link nodeFromStoredRecord}.
 */
export function storedRecordOf(node: Node): Uint8Array {
  const r = node.record
  if (r?.signed && (r.signature?.length ?? 0) > 0) return r.encode()
  const rec = new ENR().set('id', 'v4').set('secp256k1', compressPublicKey(node.publicKey))
  if (node.ip !== undefined) rec.setIp(node.ip)
  if (node.tcp !== 0) rec.setTcp(node.tcp)
  if (node.udp !== 0) rec.setUdp(node.udp)
  const items = [encode(new Uint8Array(0)), encode(0)]
  for (const e of rec.entries()) items.push(encode(e.key), e.value)
  return encodeRawList(items)
}

/** The node of a record stored with {@link storedRecordOf}; undefined if it is unusable. */
export function nodeFromStoredRecord(bytes: Uint8Array): Node | undefined {
  try {
    const rec = ENR.decode(bytes, { verify: false })
    const sig = rec.signature
    if (sig !== undefined && sig.length > 0) return Node.fromRecord(rec)
    const c = rec.secp256k1
    if (c === undefined) return undefined
    const n = Node.fromRecord(rec, { verify: false })
    return Node.fromPublicKey(decompressPublicKey(c), { ip: n.ip, tcp: n.tcp, udp: n.udp })
  } catch {
    return undefined
  }
}

/** The Kademlia table; see the file header. */
export class Table {
  readonly #opts: TableOptions
  readonly #selfHex: string
  readonly #buckets: Bucket[] = []
  readonly #ips = new DistinctNetSet(IP_LIMIT_SUBNET, TABLE_IP_LIMIT)
  readonly #fast: RevalList
  readonly #slow: RevalList
  // BOUNDED: ids of nodes with a revalidation ping in flight; at most one per table node.
  readonly #activeReval = new Set<string>()
  // BOUNDED: one resolver per caller waiting for the table to fill (the random-node iterators).
  readonly #waiters = new Set<() => void>()
  readonly #bootnodes: readonly Node[]
  readonly #life = new AbortController()
  #revalTimer: Timer | undefined
  #revalAt = Number.POSITIVE_INFINITY
  #refreshTimer: Timer | undefined
  /** Monotonic ms the refresh timer fires at. */
  #refreshDue = Number.POSITIVE_INFINITY
  /** Monotonic ms the last refresh started at. */
  #lastRefresh = Number.NEGATIVE_INFINITY
  #refreshing: Promise<void> | undefined
  #initDone = false
  #closed = false

  constructor(opts: TableOptions) {
    this.#opts = opts
    this.#selfHex = toHex(opts.selfId)
    for (let i = 0; i < N_BUCKETS; i++)
      this.#buckets.push({
        index: i,
        entries: [],
        replacements: [],
        ips: new DistinctNetSet(IP_LIMIT_SUBNET, BUCKET_IP_LIMIT),
      })
    const interval = opts.config.pingIntervalMs
    this.#fast = { name: 'fast', interval, nodes: [], next: Number.POSITIVE_INFINITY }
    this.#slow = {
      name: 'slow',
      interval: interval * SLOW_REVALIDATION_FACTOR,
      nodes: [],
      next: Number.POSITIVE_INFINITY,
    }
    this.#bootnodes = (opts.bootnodes ?? []).slice()
  }

  /** Start the refresh cycle (the first refresh runs now). */
  start(): void {
    void this.refresh()
  }

  /** Whether the first refresh has finished (inbound nodes are accepted from then on). */
  get initDone(): boolean {
    return this.#initDone
  }

  /** Stop timers and background work. Idempotent. */
  close(): void {
    if (this.#closed) return
    this.#closed = true
    this.#life.abort()
    this.#revalTimer?.cancel()
    this.#refreshTimer?.cancel()
    for (const w of this.#waiters) w()
    this.#waiters.clear()
  }

  // ---- queries ----

  /** Number of bucket entries. */
  len(): number {
    let n = 0
    for (const b of this.#buckets) n += b.entries.length
    return n
  }

  /** Every bucket entry, bucket by bucket. */
  nodes(): Node[] {
    const out: Node[] = []
    for (const b of this.#buckets) for (const e of b.entries) out.push(e.node)
    return out
  }

  /** The entry with `id`, if present. */
  getNode(id: Uint8Array): Node | undefined {
    const hex = toHex(id)
    return this.#bucketOf(id).entries.find((e) => e.hex === hex)?.node
  }

  /** Debug view of every bucket. */
  buckets(): BucketInfo[] {
    return this.#buckets.map((b) => ({
      index: b.index,
      entries: b.entries.map((e) => ({
        node: e.node,
        addedToTable: e.addedToTable,
        addedToBucket: e.addedToBucket,
        livenessChecks: e.livenessChecks,
        live: e.live,
      })),
      replacements: b.replacements.map((r) => r.node),
    }))
  }

  /**
   * The `n` entries closest to `target` (32-byte id). With `preferLive`, only nodes validated
   * live are returned when there is at least one (geth's findnodeByID).
   */
  closest(target: Uint8Array, n: number, preferLive = false): Node[] {
    const all = new NodesByDistance(target, n)
    const live = new NodesByDistance(target, n)
    for (const b of this.#buckets)
      for (const e of b.entries) {
        all.push(e.node)
        if (preferLive && e.live) live.push(e.node)
      }
    return preferLive && live.length > 0 ? live.entries : all.entries
  }

  /** Up to `n` distinct entries in random order. */
  readRandomNodes(n: number): Node[] {
    const all = this.nodes()
    const rnd = this.#opts.random
    for (let i = all.length - 1; i > 0; i--) {
      const j = rnd.int(i + 1)
      const t = all[i]!
      all[i] = all[j]!
      all[j] = t
    }
    return all.slice(0, Math.max(0, n))
  }

  /**
   * Resolve once the table holds a node, `timeoutMs` passed, the signal aborted or the table
   * closed (whichever first). Never rejects.
   */
  waitForNodes(timeoutMs: number, signal?: AbortSignal): Promise<void> {
    if (this.len() > 0 || this.#closed || signal?.aborted) return Promise.resolve()
    return new Promise<void>((resolve) => {
      const done = (): void => {
        t.cancel()
        signal?.removeEventListener('abort', done)
        this.#waiters.delete(done)
        resolve()
      }
      const t = this.#opts.clock.setTimeout(done, timeoutMs)
      signal?.addEventListener('abort', done, { once: true })
      this.#waiters.add(done)
    })
  }

  // ---- adding and updating ----

  /**
   * Add a node learned from a lookup or a seed (geth's addFoundNode). Returns true if it became
   * a bucket entry.
   */
  addFoundNode(node: Node, forceSetLive = false): boolean {
    return this.#add(node, false, forceSetLive)
  }

  /**
   * Add a node that contacted us and proved its endpoint (geth's addInboundNode): refused until
   * the first refresh finished; updates an existing entry's endpoint unconditionally.
   */
  addInboundNode(node: Node): boolean {
    return this.#add(node, true, true)
  }

  /** A newer record of a table node arrived (ENR response): update the entry if its seq grew. */
  updateRecord(node: Node): void {
    const b = this.#bucketOf(node.id)
    const hex = node.idHex
    const e = b.entries.find((x) => x.hex === hex)
    if (e !== undefined) this.#bump(b, e, node, false)
  }

  /**
   * Account a FindNode exchange with `node` (geth's trackRequest): after `fails` consecutive
   * failures (≥ the limit) the node is dropped if its bucket has at least 4 entries; the nodes it
   * returned are added.
   */
  trackRequest(node: Node, fails: number, found: readonly Node[]): void {
    const b = this.#bucketOf(node.id)
    if (fails >= this.#opts.config.maxFindnodeFailures && b.entries.length >= BUCKET_SIZE / 4)
      this.#deleteInBucket(b, node.idHex)
    for (const n of found) this.#add(n, false, false)
  }

  /** Remove `id` from its bucket (a replacement takes its place). */
  delete(id: Uint8Array): void {
    this.#deleteInBucket(this.#bucketOf(id), toHex(id))
  }

  #bucketOf(id: Uint8Array): Bucket {
    return this.#buckets[bucketIndexOf(logDistance(this.#opts.selfId, id))]!
  }

  /** Whether a node can be in the table at all: an IP, a UDP port, inside NetRestrict. */
  #usable(node: Node): Uint8Array | undefined {
    if (node.ip === undefined || node.udp === 0) return undefined
    const ip = tryParseIP(node.ip)
    if (ip === undefined || isUnspecified(ip)) return undefined
    const nr = this.#opts.netRestrict
    if (nr !== undefined && !nr.contains(ip)) return undefined
    return unmapIP(ip)
  }

  #add(node: Node, inbound: boolean, forceSetLive: boolean): boolean {
    if (this.#closed) return false
    const hex = node.idHex
    if (hex === this.#selfHex) return false
    if (inbound && !this.#initDone) return false
    if (this.#usable(node) === undefined) return false
    const b = this.#bucketOf(node.id)
    const existing = b.entries.find((e) => e.hex === hex)
    if (existing !== undefined) {
      this.#bump(b, existing, node, inbound)
      return false
    }
    if (b.entries.length >= BUCKET_SIZE) {
      this.#addReplacement(b, node, hex)
      return false
    }
    // A node moving from the replacement list to the entries keeps its IP slot.
    const ri = b.replacements.findIndex((r) => r.hex === hex)
    let firstSeen: number | undefined
    if (ri >= 0) {
      const r = b.replacements[ri]!
      firstSeen = r.addedToTable
      b.replacements.splice(ri, 1)
      this.#removeIP(b, r.node)
    }
    if (!this.#addIP(b, node)) return false
    const now = this.#opts.clock.now()
    const tn: TableNode = {
      node,
      hex,
      addedToTable: firstSeen ?? now,
      addedToBucket: now,
      livenessChecks: forceSetLive ? 1 : 0,
      live: forceSetLive,
      list: undefined,
    }
    b.entries.push(tn)
    this.#nodeAdded(tn)
    return true
  }

  #bump(b: Bucket, e: TableNode, node: Node, inbound: boolean): void {
    const old = e.node
    const ipChanged = node.ip !== old.ip
    const portChanged = node.udp !== old.udp
    if (!inbound && node.seq <= old.seq) return
    // Inbound contact at the endpoint we already know: keep the (signed) record we hold.
    if (inbound && !ipChanged && !portChanged && old.record !== undefined && node.record === undefined) return
    if (ipChanged) {
      if (this.#usable(node) === undefined) return
      this.#removeIP(b, old)
      if (!this.#addIP(b, node)) {
        this.#addIP(b, old)
        return
      }
    }
    e.node = node
    if (ipChanged || portChanged) {
      e.live = false
      this.#moveTo(this.#fast, e)
    }
  }

  #addReplacement(b: Bucket, node: Node, hex: string): void {
    if (b.replacements.some((r) => r.hex === hex)) return
    if (!this.#addIP(b, node)) return
    const now = this.#opts.clock.now()
    b.replacements.unshift({
      node,
      hex,
      addedToTable: now,
      addedToBucket: 0,
      livenessChecks: 0,
      live: false,
      list: undefined,
    })
    if (b.replacements.length > MAX_REPLACEMENTS) {
      const dropped = b.replacements.pop()!
      this.#removeIP(b, dropped.node)
    }
  }

  #deleteInBucket(b: Bucket, hex: string): void {
    const i = b.entries.findIndex((e) => e.hex === hex)
    if (i < 0) return
    const n = b.entries[i]!
    b.entries.splice(i, 1)
    this.#removeIP(b, n.node)
    this.#removeFromList(n)
    if (b.replacements.length === 0) {
      this.#opts.logger.debug('removed dead node', { b: b.index, id: hex })
      if (this.len() === 0) this.#onEmpty()
      return
    }
    const ri = this.#opts.random.int(b.replacements.length)
    const rep = b.replacements[ri]!
    b.replacements.splice(ri, 1)
    rep.addedToBucket = this.#opts.clock.now()
    b.entries.push(rep)
    this.#nodeAdded(rep)
    this.#opts.logger.debug('replaced dead node', { b: b.index, id: hex, r: rep.hex })
  }

  #addIP(b: Bucket, node: Node): boolean {
    const ip = this.#usable(node)
    if (ip === undefined) return false
    if (isLAN(ip)) return true
    if (!this.#ips.add(ip)) return false
    if (!b.ips.add(ip)) {
      this.#ips.remove(ip)
      return false
    }
    return true
  }

  #removeIP(b: Bucket, node: Node): void {
    const ip = node.ip === undefined ? undefined : tryParseIP(node.ip)
    if (ip === undefined || isLAN(ip)) return
    this.#ips.remove(ip)
    b.ips.remove(ip)
  }

  #nodeAdded(tn: TableNode): void {
    this.#moveTo(this.#fast, tn)
    if (this.#waiters.size > 0) {
      const ws = [...this.#waiters]
      this.#waiters.clear()
      for (const w of ws) w()
    }
  }

  // ---- revalidation ----

  #moveTo(list: RevalList, tn: TableNode): void {
    if (tn.list === list.name) return
    this.#removeFromList(tn)
    list.nodes.push(tn)
    tn.list = list.name
    if (list.next === Number.POSITIVE_INFINITY) {
      list.next = this.#opts.clock.monotonic() + this.#opts.random.int(list.interval)
      this.#scheduleReval()
    }
  }

  #removeFromList(tn: TableNode): void {
    if (tn.list === undefined) return
    const list = tn.list === 'fast' ? this.#fast : this.#slow
    const i = list.nodes.indexOf(tn)
    if (i >= 0) list.nodes.splice(i, 1)
    if (list.nodes.length === 0) list.next = Number.POSITIVE_INFINITY
    tn.list = undefined
  }

  #scheduleReval(): void {
    if (this.#closed) return
    const at = Math.min(this.#fast.next, this.#slow.next)
    if (at === this.#revalAt) return
    this.#revalTimer?.cancel()
    this.#revalTimer = undefined
    this.#revalAt = at
    if (at === Number.POSITIVE_INFINITY) return
    const delay = Math.max(0, at - this.#opts.clock.monotonic())
    this.#revalTimer = this.#opts.clock.setTimeout(() => {
      this.#revalTimer = undefined
      this.#revalAt = Number.POSITIVE_INFINITY
      this.#runReval()
    }, delay)
  }

  #runReval(): void {
    if (this.#closed) return
    const now = this.#opts.clock.monotonic()
    for (const list of [this.#fast, this.#slow]) {
      if (list.next > now) continue
      const n = this.#pick(list)
      if (n !== undefined) this.#revalidate(n)
      list.next =
        list.nodes.length === 0 ? Number.POSITIVE_INFINITY : now + this.#opts.random.int(list.interval)
    }
    this.#scheduleReval()
  }

  #pick(list: RevalList): TableNode | undefined {
    const len = list.nodes.length
    for (let i = 0; i < len * 3; i++) {
      const n = list.nodes[this.#opts.random.int(len)]!
      if (!this.#activeReval.has(n.hex)) return n
    }
    return undefined
  }

  #revalidate(tn: TableNode): void {
    this.#activeReval.add(tn.hex)
    this.#opts.transport.ping(tn.node, this.#life.signal).then(
      () => this.#revalidated(tn, true),
      () => this.#revalidated(tn, false),
    )
  }

  #revalidated(tn: TableNode, responded: boolean): void {
    this.#activeReval.delete(tn.hex)
    if (this.#closed || tn.list === undefined) return // removed while being checked
    const b = this.#bucketOf(tn.node.id)
    if (!responded) {
      tn.livenessChecks = Math.floor(tn.livenessChecks / 3)
      if (tn.livenessChecks <= 0) this.#deleteInBucket(b, tn.hex)
      else this.#moveTo(this.#fast, tn)
      return
    }
    tn.livenessChecks++
    tn.live = true
    this.#moveTo(this.#slow, tn)
    if (tn.livenessChecks > SEED_MIN_CHECKS) this.#storeSeed(tn.node)
  }

  #storeSeed(node: Node): void {
    const db = this.#opts.db
    if (db === undefined) return
    try {
      db.updateNode(node.id, storedRecordOf(node), node.seq)
    } catch (err) {
      this.#opts.logger.debug('cannot store seed', { id: node.idHex, err })
    }
  }

  // ---- refresh ----

  /** Run a refresh now (or join the running one). Resolves when it finished; never rejects. */
  refresh(): Promise<void> {
    if (this.#closed) return Promise.resolve()
    if (this.#refreshing === undefined) {
      this.#lastRefresh = this.#opts.clock.monotonic()
      this.#refreshing = this.#doRefresh().finally(() => {
        this.#refreshing = undefined
        this.#initDone = true
        this.#scheduleRefresh(this.#refreshWait())
        if (this.len() === 0) this.#onEmpty()
      })
    }
    return this.#refreshing
  }

  /** Whether a refresh is running. */
  get refreshing(): boolean {
    return this.#refreshing !== undefined
  }

  async #doRefresh(): Promise<void> {
    this.#loadSeeds()
    const signal = this.#life.signal
    const t = this.#opts.transport
    try {
      await t.lookupSelf(signal)
      for (let i = 0; i < 3 && !signal.aborted; i++) await t.lookupRandom(signal)
    } catch (err) {
      if (!signal.aborted) this.#opts.logger.debug('refresh lookup failed', { err })
    }
  }

  /** The regular wait before the next refresh: random in [½, 1) of the refresh interval. */
  #refreshWait(): number {
    const iv = this.#opts.config.refreshIntervalMs
    return iv / 2 + this.#opts.random.int(Math.max(1, Math.floor(iv / 2)))
  }

  #scheduleRefresh(wait: number): void {
    if (this.#closed) return
    this.#refreshTimer?.cancel()
    this.#refreshDue = this.#opts.clock.monotonic() + wait
    this.#refreshTimer = this.#opts.clock.setTimeout(() => {
      this.#refreshTimer = undefined
      this.#refreshDue = Number.POSITIVE_INFINITY
      void this.refresh()
    }, wait)
  }

  /**
   * The table ran empty: refresh (seeds and bootnodes) again, but at most once per
   * `emptyRefreshIntervalMs`, so unreachable bootnodes are not hammered.
   */
  #onEmpty(): void {
    if (this.#closed || this.#refreshing !== undefined) return
    const now = this.#opts.clock.monotonic()
    const wait = Math.max(0, this.#lastRefresh + this.#opts.config.emptyRefreshIntervalMs - now)
    if (now + wait < this.#refreshDue) this.#scheduleRefresh(wait)
  }

  /** Add database seeds and bootnodes as found nodes (geth's loadSeedNodes). */
  #loadSeeds(): void {
    const seeds: Node[] = []
    const db = this.#opts.db
    if (db !== undefined) {
      try {
        for (const s of db.querySeeds(this.#opts.config.seedCount, this.#opts.config.seedMaxAgeMs)) {
          const n = nodeFromStoredRecord(s.record)
          if (n !== undefined && equalBytes(n.id, s.id)) seeds.push(n)
        }
      } catch (err) {
        this.#opts.logger.debug('cannot load seeds', { err })
      }
    }
    seeds.push(...this.#bootnodes)
    for (const n of seeds) this.#add(n, false, false)
  }

  /** Sort helper for tests and tools: entries by distance to `target`. */
  static byDistance(target: Uint8Array, nodes: readonly Node[]): Node[] {
    return nodes.slice().sort((a, b) => distCmp(target, a.id, b.id))
  }
}

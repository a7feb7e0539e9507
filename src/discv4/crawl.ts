/**
 * The discovery crawler behind `devp2p discv4 crawl` (go-ethereum's `cmd/devp2p` crawler) and the
 * `nodes.json` node-set format it reads and writes.
 *
 * {@link Crawler} walks the DHT through a {@link Discv4} instance (any {@link CrawlTransport}):
 * the known set (an earlier crawl's output) and the bootnodes are queued first; each queued node
 * is asked for its record (EIP-868 ENRRequest, after bonding) and, when it answered, for its
 * neighbours (FindNode towards `queriesPerNode` random targets); nodes not seen before are
 * queued. At most `parallel` nodes are worked on at once; the queue and the result are bounded by
 * `maxNodes`. The crawl ends when nothing is left to ask (and our own table offers no unseen
 * node), when `timeoutMs` passes, or when `signal` aborts; it always resolves with the node set.
 *
 * Liveness bookkeeping is geth's (`crawl.go` `updateNode`): a node checked less than
 * `revalidateIntervalMs` ago (geth: 10 min) is not checked again (its neighbours are still asked
 * for); a check stamps `lastCheck` (UTC, whole seconds); an answer raises `score` by one and sets
 * `lastResponse` (and `firstResponse` the first time); no answer halves `score` (integer
 * division) and the node is removed when it reaches 0. A node that fails with score 0 (new, or
 * from a set written by `resolve-json`) is not added (geth: "incompatible"), and a node of the
 * known set in that state stays as it was. Requests cut short by the timeout or an abort count
 * for nothing. Difference from geth: geth starts its timeout only after the known set has been
 * re-checked, we bound the whole crawl by it (known nodes are queued first).
 *
 * The format ({@link parseNodesJson}, {@link formatNodesJson}) is geth's `nodes.json`: one JSON
 * object keyed by node id (64 hex digits), each value `{seq, record, score, firstResponse,
 * lastResponse, lastCheck}` with `record` the `enr:` text, `score` left out when 0, and times in
 * RFC 3339 (geth writes Go's zero time `0001-01-01T00:00:00Z` for "never"), indented by 4 spaces,
 * ids in sorted order. This file does no I/O; the CLI reads and writes the file.
 */
import { setMaxListeners } from 'node:events'
import { type Node, parseNode } from '../enode/index.js'
import {
  type Clock,
  type Logger,
  type RandomSource,
  secureRandom,
  silentLogger,
  systemClock,
  type Timer,
} from '../util/index.js'
import { Discv4Error } from './config.js'
import type { CallOptions } from './discv4.js'

/** One node of a node set (a `nodes.json` entry). Times are Unix milliseconds, whole seconds. */
export interface NodeSetEntry {
  /** The node; its signed record when known (always, for nodes a crawl added). */
  readonly node: Node
  /** Liveness score: +1 per answered check, halved per unanswered one; removed at 0. */
  readonly score: number
  /** First answered check. */
  readonly firstResponse?: number | undefined
  /** Last answered check. */
  readonly lastResponse?: number | undefined
  /** Last check, answered or not. */
  readonly lastCheck?: number | undefined
}

/** A node set keyed by node id (64 lower-case hex digits). */
export type NodeSet = Map<string, NodeSetEntry>

/** Most entries {@link parseNodesJson} accepts and a {@link Crawler} keeps by default. */
export const MAX_NODE_SET_SIZE = 100_000

/** Go's zero `time.Time` in JSON: what geth writes for a time never set. */
const GO_ZERO_TIME = '0001-01-01T00:00:00Z'

function fail(msg: string): never {
  throw new RangeError(`nodes.json: ${msg}`)
}

function parseTime(id: string, field: string, v: unknown): number | undefined {
  if (v === undefined || v === null) return undefined
  if (typeof v !== 'string') fail(`node ${id}: ${field} is not a time string`)
  const ms = Date.parse(v)
  if (Number.isNaN(ms))
    fail(`node ${id}: ${field} is not an RFC 3339 time: ${JSON.stringify(v.slice(0, 40))}`)
  // Go's zero time (year 1) and anything before 1970 mean "never".
  return ms > 0 ? ms : undefined
}

function formatTime(ms: number | undefined): string {
  if (ms === undefined) return GO_ZERO_TIME
  return new Date(Math.floor(ms / 1000) * 1000).toISOString().replace('.000Z', 'Z')
}

/**
 * Parse a `nodes.json` document (see the file header). Each record must verify and belong to the
 * id it is filed under (geth's `nodeset verify`); `enode://` text is accepted too. The `seq`
 * field is not trusted: the record's own sequence number is used. Throws `RangeError` (or the
 * record's `DecodeError`) with the offending id, or for more than `maxEntries` entries.
 */
export function parseNodesJson(text: string, maxEntries = MAX_NODE_SET_SIZE): NodeSet {
  let doc: unknown
  try {
    doc = JSON.parse(text)
  } catch (e) {
    fail(`not JSON: ${(e as Error).message}`)
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc))
    fail('expected a JSON object keyed by node id')
  const entries = Object.entries(doc as Record<string, unknown>)
  if (entries.length > maxEntries) fail(`more than ${maxEntries} nodes`)
  const set: NodeSet = new Map()
  for (const [key, value] of entries) {
    const id = key.toLowerCase()
    if (!/^[0-9a-f]{64}$/.test(id)) fail(`key ${JSON.stringify(key.slice(0, 80))} is not a node id`)
    if (typeof value !== 'object' || value === null) fail(`node ${id}: expected an object`)
    const v = value as Record<string, unknown>
    if (typeof v.record !== 'string') fail(`node ${id}: no record`)
    let node: Node
    try {
      node = parseNode(v.record)
    } catch (e) {
      fail(`node ${id}: invalid record: ${(e as Error).message}`)
    }
    if (node.idHex !== id) fail(`node ${id}: record belongs to node ${node.idHex}`)
    const score = v.score ?? 0
    if (typeof score !== 'number' || !Number.isSafeInteger(score) || score < 0)
      fail(`node ${id}: score must be a non-negative integer`)
    set.set(id, {
      node,
      score,
      firstResponse: parseTime(id, 'firstResponse', v.firstResponse),
      lastResponse: parseTime(id, 'lastResponse', v.lastResponse),
      lastCheck: parseTime(id, 'lastCheck', v.lastCheck),
    })
  }
  return set
}

/** Render a node set as geth writes `nodes.json` (sorted ids, 4-space indent, no final newline). */
export function formatNodesJson(set: NodeSet): string {
  const ids = [...set.keys()].sort()
  if (ids.length === 0) return '{}'
  const q = (s: string): string => JSON.stringify(s)
  const items = ids.map((id) => {
    const e = set.get(id)!
    const fields = [`"seq": ${e.node.seq.toString()}`, `"record": ${q(e.node.toString())}`]
    if (e.score !== 0) fields.push(`"score": ${e.score}`)
    fields.push(
      `"firstResponse": ${q(formatTime(e.firstResponse))}`,
      `"lastResponse": ${q(formatTime(e.lastResponse))}`,
      `"lastCheck": ${q(formatTime(e.lastCheck))}`,
    )
    return `    ${q(id)}: {\n${fields.map((f) => `        ${f}`).join(',\n')}\n    }`
  })
  return `{\n${items.join(',\n')}\n}`
}

/** What the crawler needs of discovery; {@link Discv4} provides it. */
export interface CrawlTransport {
  /** Ask a node for its signed record (EIP-868), bonding first when needed. */
  requestENR(node: Node, opts?: CallOptions): Promise<Node>
  /** Ask a node for the nodes it knows closest to `target` (64 bytes). */
  findNode(node: Node, target: Uint8Array, opts?: CallOptions): Promise<Node[]>
  /** Our own node, never crawled. */
  self?(): Node
  /** Our table: its unseen nodes are queued when the queue runs empty. */
  tableNodes?(): Node[]
}

/** Options of {@link Crawler}. Durations in milliseconds. */
export interface CrawlOptions {
  /** The known set (an earlier crawl): re-checked first, and the base of the result. */
  readonly input?: NodeSet
  /** Where to start (besides the known set). */
  readonly bootnodes?: readonly Node[]
  /** Nodes worked on at once (geth `--parallel`: 16). */
  readonly parallel?: number
  /** Bound on the whole crawl (geth `--timeout`: 30 min). */
  readonly timeoutMs?: number
  /** A node checked more recently than this is not checked again (geth: 10 min). */
  readonly revalidateIntervalMs?: number
  /** FindNode queries (random targets) sent to each live node (default 3). */
  readonly queriesPerNode?: number
  /** Most distinct nodes seen, and so queued or kept (default {@link MAX_NODE_SET_SIZE}). */
  readonly maxNodes?: number
  /** Call `onProgress` this often while crawling (default 1 s). */
  readonly progressIntervalMs?: number
  /** Progress reports (also once at the end). */
  readonly onProgress?: (p: CrawlProgress) => void
  /** Stop early; the crawl still resolves with what it has. */
  readonly signal?: AbortSignal
  /** Time (check stamps, timeout, progress). Default: the system clock. */
  readonly clock?: Clock
  /** Randomness of FindNode targets. Default: `secureRandom`. */
  readonly random?: RandomSource
  /** Where logs go. Default: silent. */
  readonly logger?: Logger
}

/** Counters of a crawl. */
export interface CrawlProgress {
  /** Distinct nodes seen (known set, bootnodes, neighbours). */
  readonly found: number
  /** Nodes taken from the queue and worked on. */
  readonly queried: number
  /** Nodes that answered the record request in this crawl. */
  readonly live: number
  /** Nodes added to the set (first answer ever). */
  readonly added: number
  /** Known nodes that answered again, or failed but stay (score halved). */
  readonly updated: number
  /** Known nodes removed (score fell to 0). */
  readonly removed: number
  /** Known nodes not checked because their last check is recent. */
  readonly skippedRecent: number
  /** Nodes that never answered (score 0): not added. */
  readonly skippedIncompatible: number
  /** Nodes ignored because `maxNodes` was reached. */
  readonly dropped: number
  /** Nodes waiting in the queue. */
  readonly queued: number
  /** Nodes being worked on now. */
  readonly inFlight: number
  /** Nodes in the result set now. */
  readonly nodes: number
}

/** Why a crawl ended. */
export type CrawlEnd = 'done' | 'timeout' | 'aborted'

/** The outcome of a crawl. */
export interface CrawlResult {
  /** The updated node set. */
  readonly nodes: NodeSet
  /** Final counters. */
  readonly progress: CrawlProgress
  /** `done`: nothing left to ask; `timeout`; `aborted`: the signal, or discovery closed. */
  readonly end: CrawlEnd
}

const DEFAULTS = {
  parallel: 16,
  timeoutMs: 30 * 60 * 1000,
  revalidateIntervalMs: 10 * 60 * 1000,
  queriesPerNode: 3,
  maxNodes: MAX_NODE_SET_SIZE,
  progressIntervalMs: 1000,
} as const

function checkCount(name: string, v: number, min: number): number {
  if (!Number.isInteger(v) || v < min) throw new RangeError(`crawl: ${name} must be an integer >= ${min}`)
  return v
}

function checkMs(name: string, v: number): number {
  if (typeof v !== 'number' || !(v >= 0) || !Number.isFinite(v))
    throw new RangeError(`crawl: ${name} must be a non-negative number of ms`)
  return v
}

/** A crawl of the discovery DHT; see the file header. One {@link Crawler.run} per instance. */
export class Crawler {
  readonly #disc: CrawlTransport
  readonly #clock: Clock
  readonly #random: RandomSource
  readonly #log: Logger
  readonly #parallel: number
  readonly #timeoutMs: number
  readonly #revalidateMs: number
  readonly #queries: number
  readonly #maxNodes: number
  readonly #progressMs: number
  readonly #onProgress: ((p: CrawlProgress) => void) | undefined
  readonly #userSignal: AbortSignal | undefined
  readonly #life = new AbortController()
  // BOUNDED: the known set (at most maxNodes, checked in the constructor) plus nodes of `#seen`
  // (at most maxNodes); nothing else is ever added.
  readonly #output: NodeSet
  // BOUNDED: at most maxNodes ids; new nodes beyond it are dropped (counted in `dropped`).
  readonly #seen = new Set<string>()
  // BOUNDED: holds only nodes just added to `#seen`, so at most maxNodes.
  readonly #queue: (Node | undefined)[] = []
  #head = 0
  #inFlight = 0
  #started = false
  readonly #hasSelf: boolean
  #end: CrawlEnd | undefined
  #finish: (() => void) | undefined
  readonly #counts = {
    queried: 0,
    live: 0,
    added: 0,
    updated: 0,
    removed: 0,
    skippedRecent: 0,
    skippedIncompatible: 0,
    dropped: 0,
  }

  constructor(disc: CrawlTransport, opts: CrawlOptions = {}) {
    this.#disc = disc
    // Every request in flight listens on the crawl's signal: lift Node's warning threshold.
    setMaxListeners(0, this.#life.signal)
    this.#clock = opts.clock ?? systemClock
    this.#random = opts.random ?? secureRandom
    this.#log = (opts.logger ?? silentLogger).child({ module: 'discv4-crawl' })
    this.#parallel = checkCount('parallel', opts.parallel ?? DEFAULTS.parallel, 1)
    this.#timeoutMs = checkMs('timeoutMs', opts.timeoutMs ?? DEFAULTS.timeoutMs)
    this.#revalidateMs = checkMs(
      'revalidateIntervalMs',
      opts.revalidateIntervalMs ?? DEFAULTS.revalidateIntervalMs,
    )
    this.#queries = checkCount('queriesPerNode', opts.queriesPerNode ?? DEFAULTS.queriesPerNode, 0)
    this.#maxNodes = checkCount('maxNodes', opts.maxNodes ?? DEFAULTS.maxNodes, 1)
    this.#progressMs = checkMs('progressIntervalMs', opts.progressIntervalMs ?? DEFAULTS.progressIntervalMs)
    this.#onProgress = opts.onProgress
    this.#userSignal = opts.signal
    const input = opts.input ?? new Map()
    if (input.size > this.#maxNodes)
      throw new RangeError(
        `crawl: the known set holds ${input.size} nodes, more than maxNodes ${this.#maxNodes}`,
      )
    this.#output = new Map(input)
    const self = disc.self?.()
    this.#hasSelf = self !== undefined
    if (self !== undefined) this.#seen.add(self.idHex)
    // Known nodes first, in id order (as geth), then the bootnodes.
    for (const id of [...input.keys()].sort()) this.#enqueue(input.get(id)!.node)
    for (const b of opts.bootnodes ?? []) this.#enqueue(b)
  }

  /** Current counters. */
  progress(): CrawlProgress {
    return {
      found: this.#seen.size - (this.#hasSelf ? 1 : 0),
      ...this.#counts,
      queued: this.#queue.length - this.#head,
      inFlight: this.#inFlight,
      nodes: this.#output.size,
    }
  }

  /**
   * Crawl until nothing is left to ask, the timeout, or the abort signal; resolves with the node
   * set in every case (see {@link CrawlResult.end}). Rejects only when called twice.
   */
  async run(): Promise<CrawlResult> {
    if (this.#started) throw new Error('crawl: run() called twice')
    this.#started = true
    const user = this.#userSignal
    const onAbort = (): void => this.#stop('aborted')
    if (user?.aborted) this.#stop('aborted')
    else user?.addEventListener('abort', onAbort, { once: true })
    const timeout: Timer = this.#clock.setTimeout(() => this.#stop('timeout'), this.#timeoutMs)
    let ticker: Timer | undefined
    if (this.#onProgress !== undefined && this.#progressMs > 0)
      ticker = this.#clock.setInterval(() => this.#report(), this.#progressMs)
    try {
      if (this.#end === undefined) {
        const done = new Promise<void>((resolve) => {
          this.#finish = resolve
        })
        this.#pump()
        await done
      }
    } finally {
      timeout.cancel()
      ticker?.cancel()
      user?.removeEventListener('abort', onAbort)
    }
    this.#report()
    return { nodes: this.#output, progress: this.progress(), end: this.#end ?? 'done' }
  }

  #report(): void {
    try {
      this.#onProgress?.(this.progress())
    } catch (err) {
      this.#log.debug('progress callback failed', { err })
    }
  }

  #stop(end: CrawlEnd): void {
    if (this.#end !== undefined) return
    this.#end = end
    this.#life.abort(end)
    this.#log.debug('crawl stopping', { end })
    this.#finish?.()
  }

  #enqueue(n: Node): void {
    const id = n.idHex
    if (this.#seen.has(id)) return
    if (this.#seen.size >= this.#maxNodes) {
      this.#counts.dropped++
      return
    }
    if (n.udpEndpoint() === undefined) return
    this.#seen.add(id)
    this.#queue.push(n)
  }

  #dequeue(): Node | undefined {
    if (this.#head >= this.#queue.length) return undefined
    const n = this.#queue[this.#head]!
    this.#queue[this.#head] = undefined
    this.#head++
    if (this.#head === this.#queue.length) {
      this.#queue.length = 0
      this.#head = 0
    } else if (this.#head >= 1024) {
      this.#queue.splice(0, this.#head)
      this.#head = 0
    }
    return n
  }

  /** Start work up to the parallelism bound; finish when nothing is queued or running. */
  #pump(): void {
    if (this.#end !== undefined) return
    while (this.#inFlight < this.#parallel) {
      const n = this.#dequeue()
      if (n === undefined) break
      this.#inFlight++
      this.#visit(n)
        .catch((err: unknown) => this.#log.warn('crawl task failed', { id: n.idHex, err }))
        .finally(() => {
          this.#inFlight--
          this.#pump()
        })
    }
    if (this.#inFlight > 0 || this.#end !== undefined) return
    // Queue drained: offer our own table's unseen nodes, else we are done.
    for (const n of this.#disc.tableNodes?.() ?? []) this.#enqueue(n)
    if (this.#head < this.#queue.length) this.#pump()
    else this.#stop('done')
  }

  /** True when an error only means that the crawl is stopping. */
  #stopping(err: unknown): boolean {
    if (err instanceof Discv4Error && err.reason === 'closed') this.#stop('aborted')
    return this.#end !== undefined
  }

  /** Check one node (geth's `updateNode`), then ask it for neighbours when it is alive. */
  async #visit(n: Node): Promise<void> {
    const signal = this.#life.signal
    const id = n.idHex
    this.#counts.queried++
    const prev = this.#output.get(id)
    const now = this.#clock.now()
    // Ask where we know the node from (its stored record, else the neighbour entry).
    const target = prev?.node ?? n
    let live: boolean
    if (prev?.lastCheck !== undefined && now - prev.lastCheck < this.#revalidateMs) {
      this.#counts.skippedRecent++
      live = prev.score > 0
    } else {
      const checked = Math.floor(now / 1000) * 1000
      let answer: Node | undefined
      try {
        answer = await this.#disc.requestENR(target, { signal })
      } catch (err) {
        if (this.#stopping(err)) return
        this.#log.trace('record request failed', { id, err })
      }
      if (this.#end !== undefined) return
      if (answer !== undefined) {
        live = true
        this.#counts.live++
        const first = prev?.firstResponse
        if (first === undefined) this.#counts.added++
        else this.#counts.updated++
        this.#output.set(id, {
          node: answer,
          score: (prev?.score ?? 0) + 1,
          firstResponse: first ?? checked,
          lastResponse: checked,
          lastCheck: checked,
        })
      } else {
        live = false
        if (prev === undefined || prev.score === 0) {
          this.#counts.skippedIncompatible++
        } else {
          const score = Math.floor(prev.score / 2)
          if (score <= 0) {
            this.#output.delete(id)
            this.#counts.removed++
          } else {
            this.#output.set(id, { ...prev, score, lastCheck: checked })
            this.#counts.updated++
          }
        }
      }
    }
    if (!live) return
    for (let i = 0; i < this.#queries && this.#end === undefined; i++) {
      let found: Node[]
      try {
        found = await this.#disc.findNode(target, this.#random.bytes(64), { signal })
      } catch (err) {
        if (this.#stopping(err)) return
        this.#log.trace('FINDNODE failed', { id, err })
        break
      }
      for (const f of found) this.#enqueue(f)
      // New work may have arrived for idle slots.
      this.#pump()
    }
  }
}

/** Run a {@link Crawler} over `disc` (see {@link CrawlOptions}). */
export function crawl(disc: CrawlTransport, opts: CrawlOptions = {}): Promise<CrawlResult> {
  return new Crawler(disc, opts).run()
}

/** A node set from nodes (e.g. a list of records), with no liveness history. */
export function nodeSetOf(nodes: Iterable<Node>): NodeSet {
  const set: NodeSet = new Map()
  for (const n of nodes) set.set(n.idHex, { node: n, score: 0 })
  return set
}

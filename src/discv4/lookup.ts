/**
 * Iterative Kademlia lookups (go-ethereum's `lookup.go`, our own code): {@link NodesByDistance}
 * keeps the closest nodes to a target, and {@link Lookup} walks towards the target with at most
 * {@link ALPHA} queries in flight, always asking the closest node not yet asked, until none is
 * left. The first "reply" is the local table's closest nodes. A lookup is pull-driven:
 * {@link Lookup.advance} runs until a reply brings nodes not seen before and hands them out,
 * so an iterator built on it buffers at most one reply per query in flight.
 */
import { distCmp, type Node } from '../enode/index.js'
import { abortReason, equalBytes, raceAbort, toHex } from '../util/index.js'
import { ALPHA, BUCKET_SIZE } from './config.js'

/** The `max` nodes closest to `target` pushed so far, closest first. */
export class NodesByDistance {
  /** 32-byte node id the distances are measured to. */
  readonly target: Uint8Array
  /** Capacity. */
  readonly max: number
  readonly #entries: Node[] = []

  constructor(target: Uint8Array, max: number = BUCKET_SIZE) {
    this.target = target
    this.max = max
  }

  /** The kept nodes, closest first (a copy). */
  get entries(): Node[] {
    return this.#entries.slice()
  }

  /** Number of kept nodes. */
  get length(): number {
    return this.#entries.length
  }

  /** Insert `n` at its place; the farthest node falls out beyond {@link NodesByDistance.max}. */
  push(n: Node): void {
    const e = this.#entries
    let lo = 0
    let hi = e.length
    while (lo < hi) {
      const mid = (lo + hi) >>> 1
      if (distCmp(this.target, e[mid]!.id, n.id) <= 0) lo = mid + 1
      else hi = mid
    }
    if (lo >= this.max) return
    e.splice(lo, 0, n)
    if (e.length > this.max) e.pop()
  }
}

/** Sends one FindNode-style query; resolves with the nodes the peer returned. */
export type LookupQuery = (node: Node, signal: AbortSignal) => Promise<Node[]>

/** Inputs of a {@link Lookup}. */
export interface LookupOptions {
  /** 32-byte id to walk towards. */
  readonly target: Uint8Array
  /** Our own id: never queried, never in the result. */
  readonly selfId: Uint8Array
  /** The local table's closest nodes to the target (the first "reply"). */
  readonly seed: (target: Uint8Array, n: number) => Node[]
  /** The query function. */
  readonly query: LookupQuery
  /** Cancels the lookup and its queries. */
  readonly signal: AbortSignal
  /** Most distinct nodes a lookup remembers (guards against peers inventing nodes). Default 4096. */
  readonly maxSeen?: number
}

/** One lookup; see the file header. Not reusable. */
export class Lookup {
  readonly #opts: LookupOptions
  readonly #result: NodesByDistance
  readonly #selfHex: string
  // BOUNDED: per lookup; a subset of #seen plus our own id.
  readonly #asked = new Set<string>()
  // BOUNDED: per lookup; capped at `maxSeen` (later nodes are ignored).
  readonly #seen = new Set<string>()
  readonly #maxSeen: number
  /** Queries in flight; -1 before the table's answer was taken. */
  #queries = -1
  /** Replies not yet processed: at most one per query in flight. */
  readonly #replies: Node[][] = []
  #wake: (() => void) | undefined
  /** Queries sent so far. */
  queried = 0

  constructor(opts: LookupOptions) {
    this.#opts = opts
    this.#result = new NodesByDistance(opts.target, BUCKET_SIZE)
    this.#selfHex = toHex(opts.selfId)
    this.#asked.add(this.#selfHex)
    this.#maxSeen = opts.maxSeen ?? 4096
  }

  /** The closest nodes seen so far (the final result once {@link Lookup.advance} returned undefined). */
  get result(): Node[] {
    return this.#result.entries
  }

  /**
   * Run until a reply brings nodes not seen before and return them; `undefined` once no node is
   * left to ask. Rejects with the abort reason when the signal aborts.
   */
  async advance(): Promise<Node[] | undefined> {
    const signal = this.#opts.signal
    while (this.#startQueries()) {
      if (signal.aborted) throw abortReason(signal)
      const reply = await raceAbort(this.#nextReply(), signal)
      this.#queries--
      const fresh: Node[] = []
      for (const n of reply) {
        const hex = n.idHex
        if (hex === this.#selfHex || this.#seen.has(hex) || this.#seen.size >= this.#maxSeen) continue
        if (equalBytes(n.id, this.#opts.selfId)) continue
        this.#seen.add(hex)
        this.#result.push(n)
        fresh.push(n)
      }
      if (fresh.length > 0) return fresh
    }
    return undefined
  }

  /** Run to the end and return the closest nodes found. */
  async run(): Promise<Node[]> {
    while ((await this.advance()) !== undefined) {
      // keep walking
    }
    return this.result
  }

  #startQueries(): boolean {
    if (this.#queries === -1) {
      this.#queries = 1
      this.#replies.push(this.#opts.seed(this.#opts.target, BUCKET_SIZE))
      return true
    }
    for (const n of this.#result.entries) {
      if (this.#queries >= ALPHA) break
      const hex = n.idHex
      if (this.#asked.has(hex)) continue
      this.#asked.add(hex)
      this.#queries++
      this.queried++
      this.#opts.query(n, this.#opts.signal).then(
        (nodes) => this.#deliver(nodes),
        () => this.#deliver([]),
      )
    }
    return this.#queries > 0
  }

  #deliver(nodes: Node[]): void {
    this.#replies.push(nodes)
    const w = this.#wake
    this.#wake = undefined
    w?.()
  }

  #nextReply(): Promise<Node[]> {
    const r = this.#replies.shift()
    if (r !== undefined) return Promise.resolve(r)
    return new Promise<Node[]>((resolve) => {
      this.#wake = () => resolve(this.#replies.shift() ?? [])
    })
  }
}

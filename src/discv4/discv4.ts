/**
 * {@link Discv4}: the discovery v4 protocol engine (go-ethereum's `UDPv4`, our own code) on a
 * {@link PacketConn}. It owns the receive loop (decode, authenticate, dispatch), reply matching
 * (by sender id, sender IP and packet type, 500 ms per reply; a FindNode gathers Neighbors
 * packets until 16 nodes, a packet that is not full, or the timeout), the endpoint proof
 * ("bonding"), the six packet
 * handlers, EIP-868 record exchange, NetRestrict and relay-IP filtering, the NodeDB bookkeeping
 * (last ping/pong, FindNode failures), and the public API: ping, requestENR, findNode, lookups,
 * resolve, random nodes. The Kademlia table and lookups live in `table.ts` and `lookup.ts`.
 *
 * Endpoint proof, as geth: FindNode and ENRRequest are answered only for a node whose Pong (with
 * the right reply token) arrived from the same IP within 24 h; a Ping is always answered (the
 * UDP source address wins over the Ping's `from`), and a Ping from a node without a fresh proof
 * makes us ping it back, adding it to the table when its Pong arrives. Before our own FindNode
 * or ENRRequest we make sure the peer holds a proof of us: if it has not pinged us within 24 h
 * (or after 5 FindNode failures) we ping it and wait for its ping-back. Unlike geth, which then
 * sleeps a fixed 500 ms, we continue as soon as the ping-back arrived (at most 500 ms): our Pong
 * to it leaves before our request, so the peer sees the proof first.
 *
 * Ending a FindNode early (a deliberate difference from geth): responders split their answer
 * into packets of 12 (geth, Erigon; @ethereumjs/devp2p sends one packet), so a Neighbors packet
 * with fewer than 12 entries is the last one, and we stop waiting there instead of running into
 * the 500 ms timeout whenever the peer knows fewer than 16 nodes. When we answer with exactly
 * 12 (or 0) nodes we add an empty Neighbors packet so that our peers can tell the end too; geth
 * ignores it. In small networks this turns each lookup round from 500 ms into one round trip.
 */
import { setMaxListeners } from 'node:events'
import { isValidPublicKey, keccak256, publicKeyFromPrivate } from '../crypto/index.js'
import { LocalNode, Node, type NodeDB, parseNode } from '../enode/index.js'
import { checkRelayIP, isUnspecified, type Netlist } from '../netutil/index.js'
import {
  abortReason,
  anySignal,
  type Clock,
  equalBytes,
  formatIP,
  type Logger,
  normalizeIP,
  type RandomSource,
  raceAbort,
  secureRandom,
  silentLogger,
  systemClock,
  TimeoutError,
  type Timer,
  toHex,
  tryParseIP,
  unmapIP,
  withTimeout,
} from '../util/index.js'
import {
  BUCKET_SIZE,
  type DISCV4_DEFAULTS,
  type Discv4Config,
  Discv4Error,
  resolveDiscv4Config,
} from './config.js'
import type { PacketConn, UdpAddress } from './conn.js'
import { Lookup } from './lookup.js'
import { type BucketInfo, Table } from './table.js'
import {
  chunkNeighbors,
  type DecodedPacket,
  decodePacket,
  encodePacket,
  expirationFromNow,
  MAX_NEIGHBORS,
  type Packet,
  type PacketKind,
  packetExpired,
  type WireEndpoint,
  type WireNode,
} from './wire.js'

/** Inputs of {@link Discv4.start}. */
export interface Discv4Options {
  /** Our 32-byte node key; it signs every packet. */
  readonly privateKey: Uint8Array
  /**
   * Our record. Default: a new `LocalNode` for `privateKey` (sequence number kept in `db`). Its
   * fallback UDP port (and fallback IP, when the socket is bound to a specific address, else
   * 127.0.0.1) is set from the connection, as geth does.
   */
  readonly localNode?: LocalNode
  /** The datagram endpoint (`listenUdp`, or a memory-network endpoint). Closed by {@link Discv4.close}. */
  readonly conn: PacketConn
  /** The node database: endpoint proofs, FindNode failures, seeds. Default: proofs kept in memory only. */
  readonly db?: NodeDB
  /** Fallback nodes (Node or enode/enr text), used when the table is empty and at every refresh. */
  readonly bootnodes?: readonly (Node | string)[]
  /** Only these networks are contacted, answered or learned (geth `NetRestrict`). */
  readonly netRestrict?: Netlist
  /** Time (expirations, timeouts, revalidation, refresh). Default: the system clock. */
  readonly clock?: Clock
  /** Randomness (lookup targets, revalidation picks). Default: `secureRandom`. */
  readonly random?: RandomSource
  /** Where logs go. Default: silent. */
  readonly logger?: Logger
  /** Settings over {@link DISCV4_DEFAULTS}. */
  readonly config?: Partial<Discv4Config>
  /** Lifetime: discovery closes when this aborts (and `start` rejects if it already has). */
  readonly signal?: AbortSignal
}

/** Cancellation of a public call. */
export interface CallOptions {
  readonly signal?: AbortSignal
}

/** What a Pong told us. */
export interface PingResult {
  /** The peer's record sequence number (EIP-868); 0 when it sent none. */
  readonly seq: bigint
  /** Our endpoint as the peer saw it (the Pong's `to`), when well formed. */
  readonly observed: UdpAddress | undefined
}

/** Packet counters of a {@link Discv4}. */
export interface Discv4Stats {
  /** Datagrams received (before any check). */
  readonly ingressPackets: number
  /** Datagrams sent. */
  readonly egressPackets: number
  /** Bytes received. */
  readonly ingressBytes: number
  /** Bytes sent. */
  readonly egressBytes: number
  /** Datagrams that did not decode or authenticate. */
  readonly droppedInvalid: number
  /** Packets dropped as expired. */
  readonly droppedExpired: number
  /** Replies that matched no request (Pong, Neighbors, ENRResponse). */
  readonly droppedUnsolicited: number
  /** FindNode/ENRRequest from nodes without endpoint proof. */
  readonly droppedUnbonded: number
  /** Datagrams from outside NetRestrict, or from ourselves. */
  readonly droppedRestricted: number
}

interface BondState {
  lastPingReceived: number
  lastPongReceived: number
  findFails: number
}

interface PendingReply {
  readonly kind: PacketKind
  readonly callback: (p: Packet) => { matched: boolean; done: boolean }
  replied: boolean
  settle(err?: Error): void
}

interface Target {
  readonly id: Uint8Array
  readonly hex: string
  readonly ip: string
  readonly ipBytes: Uint8Array
  readonly port: number
  /** Key of the per-endpoint state: `idHex|ip`. */
  readonly key: string
}

const NOOP = (): void => {}

/** A running discovery v4 node; see the file header. Create with {@link Discv4.start}. */
export class Discv4 {
  /** Our record (its sequence number goes into every Ping and Pong). */
  readonly localNode: LocalNode
  /** The resolved configuration. */
  readonly config: Discv4Config
  readonly #priv: Uint8Array
  readonly #selfId: Uint8Array
  readonly #selfHex: string
  readonly #selfKey: Uint8Array
  readonly #conn: PacketConn
  readonly #db: NodeDB | undefined
  readonly #clock: Clock
  readonly #random: RandomSource
  readonly #log: Logger
  readonly #netRestrict: Netlist | undefined
  readonly #table: Table
  readonly #life = new AbortController()
  // BOUNDED: at most config.maxPendingReplies matchers in total (#pendingCount); a key is
  // deleted when its last matcher settles.
  readonly #pending = new Map<string, PendingReply[]>()
  #pendingCount = 0
  // BOUNDED: LRU of at most config.bondCacheSize endpoints (the database holds the rest).
  readonly #bonds = new Map<string, BondState>()
  // BOUNDED: endpoints we are pinging back; each holds a pending matcher, so capped with them.
  readonly #pingBacks = new Set<string>()
  // BOUNDED: one entry per endpoint with an ensureBond waiting for the peer's ping (at most
  // config.maxPendingReplies, refused beyond); removed when the waiters settle.
  readonly #bondWaiters = new Map<string, Set<() => void>>()
  #bondWaiterCount = 0
  // BOUNDED: at most config.maxRecordFetches record fetches in flight.
  readonly #recordFetches = new Set<string>()
  #closed = false
  readonly #stats = {
    ingressPackets: 0,
    egressPackets: 0,
    ingressBytes: 0,
    egressBytes: 0,
    droppedInvalid: 0,
    droppedExpired: 0,
    droppedUnsolicited: 0,
    droppedUnbonded: 0,
    droppedRestricted: 0,
  }

  private constructor(opts: Discv4Options) {
    this.config = resolveDiscv4Config(opts.config)
    this.#clock = opts.clock ?? systemClock
    this.#random = opts.random ?? secureRandom
    this.#log = (opts.logger ?? silentLogger).child({ module: 'discv4' })
    this.#db = opts.db
    this.#netRestrict = opts.netRestrict
    this.#conn = opts.conn
    // Every request in flight listens on the lifetime signal: lift Node's warning threshold.
    setMaxListeners(0, this.#life.signal)
    this.#priv = opts.privateKey.slice()
    this.#selfKey = publicKeyFromPrivate(this.#priv)
    const ln = opts.localNode ?? new LocalNode(this.#priv, { clock: this.#clock, seqStore: this.#db })
    if (!equalBytes(ln.publicKey, this.#selfKey))
      throw new RangeError('discv4: localNode belongs to another key than privateKey')
    this.localNode = ln
    this.#selfId = ln.id
    this.#selfHex = toHex(ln.id)
    const local = this.#conn.localAddress()
    const localIp = tryParseIP(local.ip)
    ln.setFallbackIP(localIp !== undefined && !isUnspecified(localIp) ? local.ip : '127.0.0.1')
    ln.setFallbackUDP(local.port)
    const bootnodes = (opts.bootnodes ?? []).map((b) => {
      const n = typeof b === 'string' ? parseNode(b) : b
      if (n.udpEndpoint() === undefined) throw new RangeError(`discv4: bootnode without UDP endpoint: ${n}`)
      return n
    })
    this.#table = new Table({
      selfId: this.#selfId,
      config: this.config,
      clock: this.#clock,
      random: this.#random,
      logger: this.#log,
      db: this.#db,
      bootnodes,
      netRestrict: this.#netRestrict,
      transport: {
        ping: async (n, signal) => (await this.ping(n, { signal })).seq,
        lookupSelf: (signal) => this.#lookup(this.#selfKey, signal),
        lookupRandom: (signal) => this.#lookup(this.#random.bytes(64), signal),
      },
    })
    this.#conn.onPacket((bytes, from) => this.#onPacket(bytes, from))
  }

  /**
   * Start discovery on `opts.conn`: install the receive loop and begin the first table refresh
   * (database seeds and bootnodes, a self-lookup and 3 random lookups) in the background.
   */
  static async start(opts: Discv4Options): Promise<Discv4> {
    if (opts.signal?.aborted) throw abortReason(opts.signal)
    const d = new Discv4(opts)
    opts.signal?.addEventListener('abort', () => d.close(), { once: true })
    d.#table.start()
    return d
  }

  /** Our current node (signed record). */
  self(): Node {
    return this.localNode.node()
  }

  /** The address the connection is bound to. */
  localAddress(): UdpAddress {
    return this.#conn.localAddress()
  }

  /** Packet counters. */
  stats(): Discv4Stats {
    return { ...this.#stats }
  }

  /** Whether the first table refresh has finished. */
  get initDone(): boolean {
    return this.#table.initDone
  }

  /** Every table entry. */
  tableNodes(): Node[] {
    return this.#table.nodes()
  }

  /** Debug view of the buckets (geth's `TableBuckets`). */
  buckets(): BucketInfo[] {
    return this.#table.buckets()
  }

  /** Up to `n` distinct random table entries. */
  readRandomNodes(n: number): Node[] {
    return this.#table.readRandomNodes(n)
  }

  /**
   * Stop everything and close the connection. Pending requests reject with `Discv4Error('closed')`
   * (lookups with an `AbortError` whose cause is that error); later calls are refused the same way.
   */
  close(): void {
    if (this.#closed) return
    this.#closed = true
    const err = new Discv4Error('closed', 'closed')
    this.#life.abort(err)
    this.#table.close()
    for (const list of [...this.#pending.values()]) for (const p of [...list]) p.settle(err)
    for (const ws of [...this.#bondWaiters.values()]) for (const w of [...ws]) w()
    this.#conn.close()
  }

  // ---- public requests ----

  /**
   * Ping `node` and wait for its Pong (geth reply timeout: 500 ms). Rejects with `TimeoutError`,
   * `AbortError`, or `Discv4Error` (no UDP endpoint, outside NetRestrict, closed).
   */
  async ping(node: Node, opts: CallOptions = {}): Promise<PingResult> {
    const t = this.#target(node)
    const pong = await this.#sendPing(t, this.#signal(opts.signal))
    return {
      seq: pong.enrSeq ?? 0n,
      observed: wireAddress(pong.to.ip, pong.to.udp),
    }
  }

  /**
   * Ask `node` for its signed record (EIP-868), bonding first when needed. Resolves with the node
   * built from the response record, or `node` itself if the response is older than what we have.
   * Each step waits at most 500 ms. Rejects with `TimeoutError`, `AbortError` or `Discv4Error`
   * (`invalid-record`: bad signature, another node's record, unusable IP).
   */
  async requestENR(node: Node, opts: CallOptions = {}): Promise<Node> {
    const t = this.#target(node)
    const signal = this.#signal(opts.signal)
    await this.#ensureBond(t, signal)
    const { bytes, hash } = this.#encode({ kind: 'enrRequest', expiration: this.#expiration() })
    let record: Packet | undefined
    const wait = this.#expect(
      t,
      'enrResponse',
      (p) => {
        const ok = p.kind === 'enrResponse' && equalBytes(p.replyTok, hash)
        if (ok) record = p
        return { matched: ok, done: ok }
      },
      signal,
    )
    this.#write(t.ip, t.port, bytes)
    await wait
    if (record?.kind !== 'enrResponse') throw new Discv4Error('invalid-record', 'no record')
    let rn: Node
    try {
      rn = Node.fromRecord(record.record)
    } catch (e) {
      throw new Discv4Error('invalid-record', 'invalid record in ENRResponse', { cause: e })
    }
    if (!equalBytes(rn.id, node.id))
      throw new Discv4Error('invalid-record', 'ENRResponse record of another node')
    if (rn.seq < node.seq) return node
    const ip = rn.ip === undefined ? undefined : tryParseIP(rn.ip)
    if (ip === undefined) throw new Discv4Error('invalid-record', 'record without IP')
    const why = checkRelayIP(t.ipBytes, ip)
    if (why !== undefined) throw new Discv4Error('invalid-record', `record IP refused: ${why}`)
    if (this.#netRestrict !== undefined && !this.#netRestrict.contains(ip))
      throw new Discv4Error('net-restrict', 'record IP outside NetRestrict')
    return rn
  }

  /**
   * Send FindNode for `target` (a 64-byte public key) to `node`, bonding first when needed, and
   * gather Neighbors until 16 nodes arrived, a packet with fewer than 12 entries ended the answer,
   * or 500 ms passed (a timeout after at least one Neighbors packet is a success). Entries failing
   * the checks (UDP port ≤ 1024, relay-IP rules, NetRestrict, invalid key) are dropped.
   */
  async findNode(node: Node, target: Uint8Array, opts: CallOptions = {}): Promise<Node[]> {
    if (!(target instanceof Uint8Array) || target.length !== 64)
      throw new RangeError('discv4: findNode target must be a 64-byte public key')
    const t = this.#target(node)
    const signal = this.#signal(opts.signal)
    await this.#ensureBond(t, signal)
    // BOUNDED: local to this call; at most the entries of the Neighbors packets received before
    // 16 were counted (a packet holds at most ~15 entries).
    const found = new Map<string, Node>()
    let received = 0
    const wait = this.#expect(
      t,
      'neighbors',
      (p) => {
        if (p.kind !== 'neighbors') return { matched: false, done: false }
        for (const rn of p.nodes) {
          received++
          const n = this.#nodeFromWire(t.ipBytes, rn)
          if (n !== undefined && !found.has(n.idHex)) found.set(n.idHex, n)
        }
        return { matched: true, done: received >= BUCKET_SIZE || p.nodes.length < MAX_NEIGHBORS }
      },
      signal,
    )
    this.#send(t.ip, t.port, { kind: 'findnode', target, expiration: this.#expiration() })
    await wait
    return [...found.values()]
  }

  /**
   * Find the 16 nodes closest to `target` (a 64-byte public key; distance is measured on its
   * keccak256) with an iterative lookup (α = 3). When the table is empty, a refresh (seeds and
   * bootnodes) runs first. Bounded by `config.lookupTimeoutMs` (60 s).
   */
  async lookup(target: Uint8Array, opts: CallOptions = {}): Promise<Node[]> {
    if (!(target instanceof Uint8Array) || target.length !== 64)
      throw new RangeError('discv4: lookup target must be a 64-byte public key')
    return withTimeout(
      this.#clock,
      this.config.lookupTimeoutMs,
      'discv4 lookup',
      this.#signal(opts.signal),
      async (s) => {
        if (this.#table.len() === 0) await raceAbort(this.#table.refresh(), s)
        return this.#lookup(target, s)
      },
    )
  }

  /** A lookup towards a random target (see {@link Discv4.lookup}). */
  lookupRandom(opts: CallOptions = {}): Promise<Node[]> {
    return this.lookup(this.#random.bytes(64), opts)
  }

  /**
   * The newest record of `node` (geth's `Resolve`): ask the node itself; failing that, a newer
   * version from the table; failing that, look its key up in the network and ask what that
   * finds. Resolves with `node` when nothing newer is found. Bounded by `config.lookupTimeoutMs`.
   */
  async resolve(node: Node, opts: CallOptions = {}): Promise<Node> {
    return withTimeout(
      this.#clock,
      this.config.lookupTimeoutMs,
      'discv4 resolve',
      this.#signal(opts.signal),
      async (signal) => {
        const ask = async (n: Node): Promise<Node | undefined> => {
          try {
            return await this.requestENR(n, { signal })
          } catch (err) {
            if (signal.aborted) throw abortReason(signal)
            this.#log.debug('resolve: ENR request failed', { id: n.idHex, err })
            return undefined
          }
        }
        const direct = await ask(node)
        if (direct !== undefined) return direct
        const inTable = this.#table.getNode(node.id)
        if (inTable !== undefined && inTable.seq > node.seq) {
          const r = await ask(inTable)
          if (r !== undefined) return r
        }
        for (const rn of await this.lookup(node.publicKey, { signal })) {
          if (!equalBytes(rn.id, node.id)) continue
          const r = await ask(rn)
          if (r !== undefined) return r
        }
        return node
      },
    )
  }

  /**
   * An endless stream of nodes for a dialer: the nodes that successive random lookups discover,
   * as they arrive (at most one lookup a second; when the table is empty, it refreshes and waits
   * up to a minute per try). Buffers at most one Neighbors reply per query in flight. Ends (without
   * error) when `signal` aborts or discovery closes.
   */
  async *randomNodes(opts: CallOptions = {}): AsyncGenerator<Node, void, undefined> {
    const signal = this.#signal(opts.signal)
    let last = Number.NEGATIVE_INFINITY
    while (!signal.aborted) {
      if (this.#table.len() === 0) {
        void this.#table.refresh()
        await this.#table.waitForNodes(this.config.tableWaitMs, signal)
        continue
      }
      const wait = last + this.config.lookupMinIntervalMs - this.#clock.monotonic()
      if (wait > 0) {
        try {
          await this.#clock.sleep(wait, signal)
        } catch {
          return
        }
      }
      last = this.#clock.monotonic()
      const key = this.#random.bytes(64)
      const lk = this.#newLookup(key, signal)
      for (;;) {
        let batch: Node[] | undefined
        try {
          batch = await lk.advance()
        } catch {
          if (signal.aborted) return
          break
        }
        if (batch === undefined) break
        for (const n of batch) yield n
      }
    }
  }

  // ---- internals: lookups ----

  #newLookup(targetKey: Uint8Array, signal: AbortSignal): Lookup {
    return new Lookup({
      target: keccak256(targetKey),
      selfId: this.#selfId,
      seed: (t, n) => this.#table.closest(t, n, false),
      query: (n, s) => this.#lookupQuery(n, targetKey, s),
      signal,
    })
  }

  #lookup(targetKey: Uint8Array, signal: AbortSignal): Promise<Node[]> {
    return this.#newLookup(targetKey, signal).run()
  }

  /** One lookup query, with geth's failure accounting (trackRequest). */
  async #lookupQuery(node: Node, targetKey: Uint8Array, signal: AbortSignal): Promise<Node[]> {
    let found: Node[] = []
    try {
      found = await this.findNode(node, targetKey, { signal })
    } catch (err) {
      this.#log.trace('FINDNODE failed', { id: node.idHex, err })
    }
    if (this.#closed || signal.aborted) return found
    this.#log.trace('lookup query done', { id: node.idHex, found: found.length })
    const t = this.#maybeTarget(node)
    if (t === undefined) return found
    const fails = found.length > 0 ? 0 : this.#bond(t).findFails + 1
    this.#updateBond(t, { findFails: fails })
    this.#table.trackRequest(node, fails, found)
    return found
  }

  // ---- internals: sending and matching ----

  #signal(user: AbortSignal | undefined): AbortSignal {
    if (user === undefined || user === this.#life.signal) return this.#life.signal
    return anySignal(user, this.#life.signal)
  }

  /** The error for an aborted call: `Discv4Error('closed')` after close, else the abort reason. */
  #abortError(signal: AbortSignal): Error {
    return this.#closed ? new Discv4Error('closed', 'closed') : abortReason(signal)
  }

  #expiration(): number {
    return expirationFromNow(this.#clock.now(), this.config.expirationMs)
  }

  #maybeTarget(node: Node): Target | undefined {
    const ep = node.udpEndpoint()
    if (ep === undefined) return undefined
    const ip = normalizeIP(ep.ip)
    const b = ip === undefined ? undefined : tryParseIP(ip)
    if (ip === undefined || b === undefined) return undefined
    const hex = node.idHex
    return { id: node.id, hex, ip, ipBytes: unmapIP(b), port: ep.port, key: `${hex}|${ip}` }
  }

  /** Where to send to `node`; refuses closed state, no endpoint, NetRestrict, ourselves. */
  #target(node: Node): Target {
    if (this.#closed) throw new Discv4Error('closed', 'closed')
    const t = this.#maybeTarget(node)
    if (t === undefined)
      throw new Discv4Error('no-udp-endpoint', `node ${node.idHex.slice(0, 16)} has no UDP endpoint`)
    if (t.hex === this.#selfHex) throw new Discv4Error('self', 'cannot talk to ourselves')
    if (this.#netRestrict !== undefined && !this.#netRestrict.contains(t.ipBytes))
      throw new Discv4Error('net-restrict', `${t.ip} is outside NetRestrict`)
    return t
  }

  #encode(p: Packet): { bytes: Uint8Array; hash: Uint8Array } {
    return encodePacket(this.#priv, p)
  }

  #write(ip: string, port: number, bytes: Uint8Array): void {
    this.#stats.egressPackets++
    this.#stats.egressBytes += bytes.length
    this.#conn.send(bytes, ip, port)
  }

  #send(ip: string, port: number, p: Packet): Uint8Array {
    const { bytes, hash } = this.#encode(p)
    this.#write(ip, port, bytes)
    return hash
  }

  /**
   * Register a reply matcher for `kind` from `t` (id and IP). Resolves when the callback reports
   * done, or at the timeout if at least one reply matched; rejects with `TimeoutError` when none
   * did, with the abort reason on abort. Throws at once when aborted already or at the cap.
   */
  #expect(
    t: Target,
    kind: PacketKind,
    callback: PendingReply['callback'],
    signal: AbortSignal,
  ): Promise<void> {
    // Thrown synchronously so that callers do not send a request nobody waits for.
    if (signal.aborted) throw this.#abortError(signal)
    if (this.#pendingCount >= this.config.maxPendingReplies)
      throw new Discv4Error('too-many-pending', 'too many requests in flight')
    return new Promise<void>((resolve, reject) => {
      let timer: Timer | undefined
      const onAbort = (): void => p.settle(this.#abortError(signal))
      const p: PendingReply = {
        kind,
        callback,
        replied: false,
        settle: (err?: Error) => {
          if (timer === undefined) return // already settled
          timer.cancel()
          timer = undefined
          signal.removeEventListener('abort', onAbort)
          const list = this.#pending.get(t.key)
          if (list !== undefined) {
            const i = list.indexOf(p)
            if (i >= 0) {
              list.splice(i, 1)
              this.#pendingCount--
            }
            if (list.length === 0) this.#pending.delete(t.key)
          }
          if (err === undefined || (err instanceof TimeoutError && p.replied)) resolve()
          else reject(err)
        },
      }
      const ms = this.config.respTimeoutMs
      timer = this.#clock.setTimeout(
        () => p.settle(new TimeoutError(`discv4: no ${kind} from ${t.ip}:${t.port} within ${ms} ms`, ms)),
        ms,
      )
      signal.addEventListener('abort', onAbort, { once: true })
      let list = this.#pending.get(t.key)
      if (list === undefined) {
        list = []
        this.#pending.set(t.key, list)
      }
      list.push(p)
      this.#pendingCount++
    })
  }

  /** Offer a reply to the matchers of its sender; true if any matched. */
  #handleReply(key: string, p: Packet): boolean {
    const list = this.#pending.get(key)
    if (list === undefined) return false
    let matched = false
    for (const m of [...list]) {
      if (m.kind !== p.kind) continue
      const r = m.callback(p)
      if (r.matched) {
        matched = true
        m.replied = true
      }
      if (r.done) m.settle()
    }
    return matched
  }

  #ourEndpoint(): WireEndpoint {
    const n = this.localNode.node()
    const ip = n.ip === undefined ? undefined : tryParseIP(n.ip)
    return { ip: ip === undefined ? new Uint8Array(0) : unmapIP(ip), udp: n.udp, tcp: n.tcp }
  }

  async #sendPing(t: Target, signal: AbortSignal): Promise<Packet & { kind: 'pong' }> {
    const { bytes, hash } = this.#encode({
      kind: 'ping',
      version: 4,
      from: this.#ourEndpoint(),
      to: { ip: t.ipBytes, udp: t.port, tcp: 0 },
      expiration: this.#expiration(),
      enrSeq: this.localNode.node().seq,
    })
    let pong: (Packet & { kind: 'pong' }) | undefined
    const wait = this.#expect(
      t,
      'pong',
      (p) => {
        const ok = p.kind === 'pong' && equalBytes(p.replyTok, hash)
        if (ok) pong = p
        return { matched: ok, done: ok }
      },
      signal,
    )
    this.#write(t.ip, t.port, bytes)
    try {
      this.localNode.udpContact({ ip: t.ip, port: t.port })
    } catch {
      // no predictor for this family
    }
    await wait
    if (pong === undefined) throw new TimeoutError('discv4: no pong', this.config.respTimeoutMs)
    return pong
  }

  /**
   * Make sure `t` holds a fresh endpoint proof of us before a FindNode/ENRRequest: if it has not
   * pinged us within the bond expiration (or failed too many FindNodes), ping it and wait (at
   * most one reply timeout) for its ping-back.
   */
  async #ensureBond(t: Target, signal: AbortSignal): Promise<void> {
    const b = this.#bond(t)
    const now = this.#clock.now()
    const tooOld = now - b.lastPingReceived > this.config.bondExpirationMs
    if (!tooOld && b.findFails <= this.config.maxFindnodeFailures) return
    await this.#sendPing(t, signal)
    if (this.#bond(t).lastPingReceived >= now) return
    await this.#waitForPing(t, now, signal)
  }

  #waitForPing(t: Target, since: number, signal: AbortSignal): Promise<void> {
    if (signal.aborted) return Promise.reject(this.#abortError(signal))
    if (this.#bondWaiterCount >= this.config.maxPendingReplies) return Promise.resolve()
    return new Promise<void>((resolve, reject) => {
      let set = this.#bondWaiters.get(t.key)
      if (set === undefined) {
        set = new Set()
        this.#bondWaiters.set(t.key, set)
      }
      const waiters = set
      const done = (): void => {
        if (!waiters.delete(done)) return
        this.#bondWaiterCount--
        if (waiters.size === 0 && this.#bondWaiters.get(t.key) === waiters) this.#bondWaiters.delete(t.key)
        timer.cancel()
        signal.removeEventListener('abort', onAbort)
        if (signal.aborted) reject(this.#abortError(signal))
        else resolve()
      }
      const onAbort = (): void => done()
      const timer = this.#clock.setTimeout(done, this.config.respTimeoutMs)
      signal.addEventListener('abort', onAbort, { once: true })
      waiters.add(done)
      this.#bondWaiterCount++
      if (this.#bond(t).lastPingReceived >= since) done()
    })
  }

  // ---- internals: endpoint proofs ----

  #bond(t: Target): BondState {
    let b = this.#bonds.get(t.key)
    if (b !== undefined) {
      this.#bonds.delete(t.key)
      this.#bonds.set(t.key, b)
      return b
    }
    b = { lastPingReceived: 0, lastPongReceived: 0, findFails: 0 }
    const db = this.#db
    if (db !== undefined) {
      try {
        b.lastPingReceived = db.lastPingReceived(t.id, t.ip)
        b.lastPongReceived = db.lastPongReceived(t.id, t.ip)
        b.findFails = db.findFails(t.id, t.ip)
      } catch (err) {
        this.#log.debug('node database read failed', { err })
      }
    }
    this.#bonds.set(t.key, b)
    if (this.#bonds.size > this.config.bondCacheSize) {
      const oldest = this.#bonds.keys().next().value
      if (oldest !== undefined) this.#bonds.delete(oldest)
    }
    return b
  }

  #updateBond(t: Target, patch: Partial<BondState>): void {
    const b = this.#bond(t)
    Object.assign(b, patch)
    const db = this.#db
    if (db === undefined) return
    try {
      if (patch.lastPingReceived !== undefined) db.updateLastPingReceived(t.id, t.ip, patch.lastPingReceived)
      if (patch.lastPongReceived !== undefined) db.updateLastPongReceived(t.id, t.ip, patch.lastPongReceived)
      if (patch.findFails !== undefined) db.updateFindFails(t.id, t.ip, patch.findFails)
    } catch (err) {
      this.#log.debug('node database write failed', { err })
    }
  }

  #bonded(t: Target, now: number): boolean {
    return now - this.#bond(t).lastPongReceived < this.config.bondExpirationMs
  }

  // ---- internals: receiving ----

  #onPacket(bytes: Uint8Array, from: UdpAddress): void {
    if (this.#closed) return
    this.#stats.ingressPackets++
    this.#stats.ingressBytes += bytes.length
    const ipb = tryParseIP(from.ip)
    if (ipb === undefined || (this.#netRestrict !== undefined && !this.#netRestrict.contains(ipb))) {
      this.#stats.droppedRestricted++
      return
    }
    let d: DecodedPacket
    try {
      d = decodePacket(bytes)
    } catch (err) {
      this.#stats.droppedInvalid++
      this.#log.trace('bad packet', { from: `${from.ip}:${from.port}`, err })
      return
    }
    const now = this.#clock.now()
    if (packetExpired(d.packet, now)) {
      this.#stats.droppedExpired++
      return
    }
    const hex = toHex(d.senderId)
    if (hex === this.#selfHex) {
      this.#stats.droppedRestricted++
      return
    }
    const ip = normalizeIP(from.ip) ?? from.ip
    const t: Target = { id: d.senderId, hex, ip, ipBytes: unmapIP(ipb), port: from.port, key: `${hex}|${ip}` }
    try {
      this.#dispatch(d, t, now)
    } catch (err) {
      // Handlers do not throw on peer input; this guards the loop against our own bugs.
      this.#log.warn('packet handler failed', { kind: d.packet.kind, err })
    }
  }

  #dispatch(d: DecodedPacket, t: Target, now: number): void {
    const p = d.packet
    switch (p.kind) {
      case 'ping':
        this.#onPing(d, p, t, now)
        break
      case 'pong':
        if (!this.#handleReply(t.key, p)) {
          this.#unsolicited(t, p.kind)
          break
        }
        this.#statement(t, p.to)
        this.#updateBond(t, { lastPongReceived: now })
        this.#maybeFetchRecord(d.senderId, p.enrSeq)
        break
      case 'findnode':
        if (this.#bonded(t, now)) this.#onFindNode(p.target, t)
        else this.#unbonded(t, p.kind)
        break
      case 'neighbors':
        if (!this.#handleReply(t.key, p)) this.#unsolicited(t, p.kind)
        break
      case 'enrRequest':
        if (this.#bonded(t, now))
          this.#send(t.ip, t.port, { kind: 'enrResponse', replyTok: d.hash, record: this.localNode.record() })
        else this.#unbonded(t, p.kind)
        break
      case 'enrResponse':
        if (!this.#handleReply(t.key, p)) this.#unsolicited(t, p.kind)
        break
    }
  }

  #unsolicited(t: Target, kind: PacketKind): void {
    this.#stats.droppedUnsolicited++
    this.#log.trace('unsolicited reply', { kind, from: `${t.ip}:${t.port}` })
  }

  #unbonded(t: Target, kind: PacketKind): void {
    this.#stats.droppedUnbonded++
    this.#log.trace('request from unknown node', { kind, from: `${t.ip}:${t.port}` })
  }

  #onPing(d: DecodedPacket, p: Packet & { kind: 'ping' }, t: Target, now: number): void {
    this.#send(t.ip, t.port, {
      kind: 'pong',
      to: { ip: t.ipBytes, udp: t.port, tcp: p.from.tcp },
      replyTok: d.hash,
      expiration: this.#expiration(),
      enrSeq: this.localNode.node().seq,
    })
    let n: Node | undefined
    try {
      n = Node.fromPublicKey(d.senderKey, { ip: t.ip, udp: t.port, tcp: p.from.tcp })
    } catch {
      n = undefined
    }
    if (n !== undefined) {
      const node = n
      if (now - this.#bond(t).lastPongReceived > this.config.bondExpirationMs) {
        // No fresh proof of the sender: ping it back, add it once it answers.
        if (!this.#pingBacks.has(t.key) && this.#pendingCount < this.config.maxPendingReplies) {
          this.#pingBacks.add(t.key)
          this.#sendPing(t, this.#life.signal)
            .then((pong) => {
              this.#table.addInboundNode(node)
              this.#maybeFetchRecord(t.id, pong.enrSeq)
            }, NOOP)
            .finally(() => this.#pingBacks.delete(t.key))
        }
      } else this.#table.addInboundNode(node)
    }
    this.#statement(t, p.to)
    this.#updateBond(t, { lastPingReceived: now })
    const ws = this.#bondWaiters.get(t.key)
    if (ws !== undefined) for (const w of [...ws]) w()
    this.#maybeFetchRecord(d.senderId, p.enrSeq)
  }

  #onFindNode(targetKey: Uint8Array, t: Target): void {
    const target = keccak256(targetKey)
    const closest = this.#table.closest(target, BUCKET_SIZE, !this.config.noFindnodeLivenessCheck)
    const nodes: WireNode[] = []
    for (const n of closest) {
      const ip = n.ip === undefined ? undefined : tryParseIP(n.ip)
      if (ip === undefined || checkRelayIP(t.ipBytes, unmapIP(ip)) !== undefined) continue
      nodes.push({ ip: unmapIP(ip), udp: n.udp, tcp: n.tcp, key: n.publicKey })
    }
    const chunks = chunkNeighbors(nodes)
    // A reply ends with a packet that is not full (see findNode). Exactly 12 nodes would end with
    // a full one, so an empty packet follows to say so (geth ignores it).
    if (nodes.length % MAX_NEIGHBORS === 0 && nodes.length < BUCKET_SIZE) chunks.push([])
    const expiration = this.#expiration()
    for (const c of chunks) this.#send(t.ip, t.port, { kind: 'neighbors', nodes: c, expiration })
  }

  /** Feed our endpoint as the peer saw it into the LocalNode's predictor. */
  #statement(t: Target, to: WireEndpoint): void {
    const seen = wireAddress(to.ip, to.udp)
    if (seen === undefined) return
    try {
      this.localNode.udpEndpointStatement({ ip: t.ip, port: t.port }, seen)
    } catch {
      // malformed statement: ignore
    }
  }

  /** A Neighbors entry as a node, or undefined when it fails geth's checks. */
  #nodeFromWire(sender: Uint8Array, rn: WireNode): Node | undefined {
    if (rn.udp <= 1024) return undefined
    if (rn.ip.length !== 4 && rn.ip.length !== 16) return undefined
    const ip = unmapIP(rn.ip)
    if (checkRelayIP(sender, ip) !== undefined) return undefined
    if (this.#netRestrict !== undefined && !this.#netRestrict.contains(ip)) return undefined
    if (!isValidPublicKey(rn.key)) return undefined
    try {
      return Node.fromPublicKey(rn.key, { ip: formatIP(ip), udp: rn.udp, tcp: rn.tcp })
    } catch {
      return undefined
    }
  }

  /** EIP-868: a Ping/Pong announced a higher seq than the table's copy: fetch the new record. */
  #maybeFetchRecord(id: Uint8Array, seq: bigint | undefined): void {
    if (seq === undefined || this.#closed) return
    const known = this.#table.getNode(id)
    if (known === undefined || seq <= known.seq) return
    const hex = known.idHex
    if (this.#recordFetches.has(hex) || this.#recordFetches.size >= this.config.maxRecordFetches) return
    this.#recordFetches.add(hex)
    this.requestENR(known, { signal: this.#life.signal })
      .then(
        (rn) => this.#table.updateRecord(rn),
        (err: unknown) => this.#log.debug('record fetch failed', { id: hex, err }),
      )
      .finally(() => this.#recordFetches.delete(hex))
  }
}

/** An address from wire IP bytes and port, or undefined when the IP is not 4/16 bytes or unspecified. */
function wireAddress(ip: Uint8Array, port: number): UdpAddress | undefined {
  if (ip.length !== 4 && ip.length !== 16) return undefined
  const x = unmapIP(ip)
  if (isUnspecified(x)) return undefined
  return { ip: formatIP(x), port }
}

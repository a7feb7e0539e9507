/**
 * The p2p Server (geth's `server.go`): the listen loop with `maxPendingPeers` handshake slots,
 * NetRestrict and per-IP inbound throttling; connection setup with geth's two checkpoints
 * (after the encryption handshake and again after Hello, each check and the change it guards
 * in the same tick); the peer set with inbound/dialed limits, static and trusted peers; the
 * dial scheduler fed by discovery; metrics, events and geth-shaped node/peer info.
 */
import type { Server as NetServer, Socket } from 'node:net'
import { publicKeyFromPrivate } from '../crypto/index.js'
import { LocalNode, Node, NodeDB, nodeIdFromPublicKey } from '../enode/index.js'
import type { Nat } from '../nat/index.js'
import { isLAN, tryParseIP } from '../netutil/index.js'
import {
  type Clock,
  equalBytes,
  type Logger,
  type RandomSource,
  secureRandom,
  silentLogger,
  systemClock,
  toHex,
} from '../util/index.js'
import { maxDialedConns, maxInboundConns, resolveServerConfig, type ServerConfig } from './config.js'
import { type DialKind, DialScheduler } from './dial.js'
import { type Discovery, type DiscoveryInit, startDiscv4 } from './discovery.js'
import { BASE_PROTOCOL_VERSION, BaseMsg, encodeDisconnect, type Hello } from './hello.js'
import { M, MetricsRegistry } from './metrics.js'
import { type ServerNat, type ServerNatTimings, startServerNat } from './nat.js'
import { Peer, type PeerEnd, type PeerMsgEvent } from './peer.js'
import { DisconnectError, DiscReason, discReasonName, dispositionOf } from './peer-error.js'
import { capString, capsOf, matchProtocols } from './protocol.js'
import { type Dialer, listenTcp, splitHostPort, tcpDialer } from './tcp.js'
import { type SetupResult, setupConnection } from './transport.js'

/** Services injected into the server, apart from options. */
export interface ServerServices {
  readonly clock?: Clock
  readonly random?: RandomSource
  readonly logger?: Logger
  readonly dialer?: Dialer
  /** An open node database; default: opened from `nodeDatabase` (and closed on stop). */
  readonly db?: NodeDB
  /** Starts discovery; default: discv4 on the discovery address ({@link startDiscv4}). */
  readonly startDiscovery?: (init: DiscoveryInit) => Promise<Discovery>
  /** Extra dial candidates (protocols' iterators). */
  readonly dialCandidates?: readonly AsyncIterable<Node>[]
  /** NAT traversal: external IP and port mappings for the listener and discovery (see nat.ts). */
  readonly nat?: Nat
  /** NAT loop timings (tests scale them down). */
  readonly natTimings?: ServerNatTimings
  /** Called once started; its result is called on stop. */
  readonly onStarted?: (srv: Server) => (() => void | Promise<void>) | undefined
}

/** Connection flags (geth's connFlag). */
export interface ConnFlags {
  readonly inbound: boolean
  trusted: boolean
  readonly static: boolean
  readonly dynamic: boolean
}

/** A peer event (geth's `PeerEvent`). */
export type ServerEvent =
  | { readonly type: 'add'; readonly peer: string; readonly remote: string; readonly inbound: boolean }
  | {
      readonly type: 'drop'
      readonly peer: string
      readonly remote: string
      readonly reason: string
      readonly side: PeerEnd['side']
      readonly error: string
    }
  | PeerMsgEvent

/** geth's `admin_peers` entry. */
export interface PeerInfo {
  readonly enr?: string
  readonly enode: string
  readonly id: string
  readonly name: string
  readonly caps: string[]
  readonly network: {
    readonly localAddress: string
    readonly remoteAddress: string
    readonly inbound: boolean
    readonly trusted: boolean
    readonly static: boolean
  }
  readonly protocols: Record<string, unknown>
}

/** geth's `admin_nodeInfo`. */
export interface NodeInfo {
  readonly id: string
  readonly name: string
  readonly enode: string
  readonly enr: string
  readonly ip: string
  readonly ports: { readonly discovery: number; readonly listener: number }
  readonly listenAddr: string
  readonly protocols: Record<string, unknown>
}

/** A connected peer as the server holds it. */
export interface ServerPeer {
  readonly id: string
  readonly node: Node
  readonly peer: Peer
  readonly flags: ConnFlags
  readonly setup: SetupResult
  /** Protocol message payload bytes received / sent (decompressed). */
  bytesIn: number
  bytesOut: number
  /** Bytes read from / written to the socket (RLPx frames on the wire, handshake included). */
  readonly wire: () => { readonly read: number; readonly written: number }
}

/** Most inbound IPs remembered for throttling (the oldest are forgotten first). */
export const MAX_THROTTLE_ENTRIES = 10_000
/** Most trusted node ids kept. */
export const MAX_TRUSTED = 10_000

function addrText(s: Socket, which: 'remote' | 'local'): string {
  const a = which === 'remote' ? s.remoteAddress : s.localAddress
  const p = which === 'remote' ? s.remotePort : s.localPort
  if (a === undefined) return ''
  const ip = a.startsWith('::ffff:') ? a.slice(7) : a
  return ip.includes(':') ? `[${ip}]:${p}` : `${ip}:${p}`
}

function remoteIp(s: Socket): string | undefined {
  const a = s.remoteAddress
  if (a === undefined) return undefined
  return a.startsWith('::ffff:') ? a.slice(7) : a
}

/**
 * The server. Create with {@link Server.start}; stop with {@link Server.stop}.
 */
export class Server {
  readonly config: Readonly<ServerConfig>
  readonly localNode: LocalNode
  readonly metrics = new MetricsRegistry()
  readonly db: NodeDB
  private readonly clock: Clock
  private readonly random: RandomSource
  private readonly log: Logger
  private readonly dialer: Dialer
  private readonly ownsDb: boolean
  private readonly ourHello: Hello
  private readonly selfId: Uint8Array
  // BOUNDED: at most maxPeers plus trusted peers (checked before every insert).
  private readonly peerMap = new Map<string, ServerPeer>()
  // BOUNDED: capped at MAX_TRUSTED.
  private readonly trusted = new Set<string>()
  // BOUNDED: capped at MAX_THROTTLE_ENTRIES, expired entries swept on insert.
  private readonly throttle = new Map<string, number>()
  // BOUNDED: one entry per event subscriber.
  private readonly listeners = new Set<(e: ServerEvent) => void>()
  // BOUNDED: at most maxPendingPeers inbound plus maxPendingPeers dials.
  private readonly pendingSetups = new Set<Promise<void>>()
  private inboundCount = 0
  /** Wire bytes of peers that have left (live peers are added at scrape time). */
  private readonly closedWire = { read: 0, written: 0 }
  private pendingInbound = 0
  private listener: NetServer | undefined
  private listenPort = 0
  private discovery: Discovery | undefined
  private dial: DialScheduler | undefined
  private readonly ac = new AbortController()
  private state: 'running' | 'stopping' | 'stopped' = 'running'
  private onStop: (() => void | Promise<void>) | undefined
  private natLoop: ServerNat | undefined
  private discHost = ''

  private constructor(config: Readonly<ServerConfig>, services: ServerServices, db: NodeDB, ownsDb: boolean) {
    this.config = config
    this.clock = services.clock ?? systemClock
    this.random = services.random ?? secureRandom
    this.log = services.logger ?? silentLogger
    this.dialer = services.dialer ?? tcpDialer({ clock: this.clock, timeoutMs: config.dialTimeoutMs })
    this.db = db
    this.ownsDb = ownsDb
    this.localNode = new LocalNode(config.privateKey, { clock: this.clock, seqStore: db })
    this.localNode.setFallbackIP('127.0.0.1')
    const pub = publicKeyFromPrivate(config.privateKey)
    this.selfId = nodeIdFromPublicKey(pub)
    this.ourHello = {
      version: BASE_PROTOCOL_VERSION,
      name: config.name,
      caps: capsOf(config.protocols),
      listenPort: 0,
      id: pub,
      rest: [],
    }
    for (const n of config.trustedNodes) this.trusted.add(n.idHex)
  }

  /** Start a server: node database, listener, discovery, dialer. */
  static async start(
    partial: Partial<ServerConfig> & { privateKey: Uint8Array },
    services: ServerServices = {},
  ): Promise<Server> {
    const config = resolveServerConfig(partial)
    const db =
      services.db ??
      NodeDB.open(config.nodeDatabase || undefined, services.clock ? { clock: services.clock } : {})
    const srv = new Server(config, services, db, services.db === undefined)
    try {
      await srv.startListening()
      await srv.startDiscovery(services)
      if (services.nat) await srv.startNat(services.nat, services.natTimings)
      srv.startDialing(services)
      srv.onStop = services.onStarted?.(srv)
    } catch (e) {
      await srv.stop()
      throw e
    }
    srv.updatePeerGauges()
    srv.log.info('server started', {
      id: toHex(srv.selfId),
      listen: srv.config.listenAddr,
      port: srv.listenPort,
    })
    return srv
  }

  // ------------------------------------------------------------------ start-up

  private async startListening(): Promise<void> {
    if (!this.config.listenAddr) return
    const { host, port } = splitHostPort(this.config.listenAddr)
    const { server, address } = await listenTcp(host, port, (s) => this.onInbound(s))
    server.on('error', (e) => this.log.warn('listener error', { err: e }))
    this.listener = server
    this.listenPort = address.port
    this.localNode.set('tcp', address.port)
  }

  private async startDiscovery(services: ServerServices): Promise<void> {
    if (this.config.noDiscovery) return
    const start = services.startDiscovery ?? ((init: DiscoveryInit) => startDiscv4(init))
    const listen = this.config.listenAddr
      ? splitHostPort(this.config.listenAddr)
      : { host: '0.0.0.0', port: 0 }
    const disc = this.config.discAddr ? splitHostPort(this.config.discAddr) : listen
    const port = disc.port === 0 && !this.config.discAddr ? this.listenPort : disc.port
    this.discHost = disc.host
    this.discovery = await start({
      localNode: this.localNode,
      privateKey: this.config.privateKey,
      db: this.db,
      host: disc.host,
      port,
      bootnodes: this.config.bootnodes,
      config: this.config,
      clock: this.clock,
      random: this.random,
      logger: this.log.child({ component: 'discv4' }),
    })
    this.localNode.setFallbackUDP(this.discovery.udpPort)
  }

  private async startNat(nat: Nat, timings: ServerNatTimings | undefined): Promise<void> {
    const tcpHost = this.config.listenAddr ? splitHostPort(this.config.listenAddr).host : ''
    this.natLoop = await startServerNat({
      nat,
      localNode: this.localNode,
      ...(this.listener ? { tcp: { host: tcpHost, port: this.listenPort } } : {}),
      ...(this.discovery ? { udp: { host: this.discHost, port: this.discovery.udpPort } } : {}),
      clock: this.clock,
      logger: this.log.child({ component: 'nat' }),
      ...(timings ? { timings } : {}),
    })
  }

  /** The NAT loop, when NAT handling is on. */
  get nat(): ServerNat | undefined {
    return this.natLoop
  }

  private startDialing(services: ServerServices): void {
    const maxDialed = maxDialedConns(this.config)
    if (maxDialed === 0) return
    const disc = this.discovery
    const dial = new DialScheduler(
      {
        maxDialPeers: maxDialed,
        maxActiveDials: this.config.maxPendingPeers,
        netRestrict: this.config.netRestrict,
        bootnodeFallback: this.config.bootnodeFallback,
        dialTimeoutMs: this.config.dialTimeoutMs,
      },
      {
        clock: this.clock,
        random: this.random,
        logger: this.log.child({ component: 'dial' }),
        selfId: this.selfId,
        dial: (node, o) => this.dialNode(node, o.kind, o.signal),
        ...(disc ? { resolve: (node: Node, o: { signal: AbortSignal }) => disc.resolve(node, o) } : {}),
      },
    )
    this.dial = dial
    dial.setBootnodes([...this.config.bootnodes])
    for (const n of this.config.staticNodes) dial.addStatic(n)
    if (disc) dial.addIterator(disc.randomNodes({ signal: this.ac.signal }))
    for (const it of services.dialCandidates ?? []) dial.addIterator(it)
    dial.start()
  }

  // ------------------------------------------------------------------ accessors

  /** Our node (with its current signed record). */
  self(): Node {
    return this.localNode.node()
  }

  /** The TCP port we listen on (0 without a listener). */
  get port(): number {
    return this.listenPort
  }

  /** The UDP port of discovery (0 without discovery). */
  get discoveryPort(): number {
    return this.discovery?.udpPort ?? 0
  }

  /** Number of nodes in the discovery table. */
  tableSize(): number {
    return this.discovery?.tableSize() ?? 0
  }

  /** Connected peers. */
  peers(): ServerPeer[] {
    return [...this.peerMap.values()]
  }

  /** Number of connected peers. */
  peerCount(): number {
    return this.peerMap.size
  }

  /** Connected inbound and dialed peer counts. */
  peerCounts(): { inbound: number; outbound: number } {
    return { inbound: this.inboundCount, outbound: this.peerMap.size - this.inboundCount }
  }

  /** Subscribe to peer events; returns the unsubscribe function. */
  subscribe(fn: (e: ServerEvent) => void): () => void {
    this.listeners.add(fn)
    return () => this.listeners.delete(fn)
  }

  private emit(e: ServerEvent): void {
    for (const fn of this.listeners) {
      try {
        fn(e)
      } catch (err) {
        this.log.warn('event listener threw', { err })
      }
    }
  }

  // ------------------------------------------------------------------ static / trusted

  /** Add a static node: always connected, redialed after a disconnect (geth's AddPeer). */
  addPeer(node: Node): void {
    this.dial?.addStatic(node)
  }

  /** Remove a static node and disconnect it (geth's RemovePeer). */
  removePeer(node: Node): void {
    this.dial?.removeStatic(node)
    this.peerMap.get(node.idHex)?.peer.disconnect(DiscReason.Requested)
  }

  /** Allow `node` in above the limits; flips the flag on a live connection too. */
  addTrustedPeer(node: Node): void {
    if (this.trusted.size >= MAX_TRUSTED) throw new RangeError(`trusted: at most ${MAX_TRUSTED} nodes`)
    this.trusted.add(node.idHex)
    const p = this.peerMap.get(node.idHex)
    if (p) p.flags.trusted = true
  }

  /** Undo {@link addTrustedPeer}. */
  removeTrustedPeer(node: Node): void {
    this.trusted.delete(node.idHex)
    const p = this.peerMap.get(node.idHex)
    if (p) p.flags.trusted = false
  }

  // ------------------------------------------------------------------ inbound

  private onInbound(socket: Socket): void {
    socket.on('error', () => {}) // errors surface through the connection setup
    if (this.state !== 'running') {
      socket.destroy()
      return
    }
    const ipText = remoteIp(socket)
    const ip = ipText === undefined ? undefined : tryParseIP(ipText)
    if (ip === undefined) {
      this.serveResult('bad-address')
      socket.destroy()
      return
    }
    if (this.config.netRestrict && !this.config.netRestrict.contains(ip)) {
      this.serveResult('netrestrict')
      socket.destroy()
      return
    }
    if (!isLAN(ip) && this.throttled(ipText!)) {
      this.serveResult('throttled')
      socket.destroy()
      return
    }
    if (this.pendingInbound >= this.config.maxPendingPeers) {
      // Node cannot leave connections in the kernel backlog; a full house closes them at once.
      this.serveResult('no-slot')
      socket.destroy()
      return
    }
    this.pendingInbound++
    this.track(
      this.setupConn(socket, { inbound: true, trusted: false, static: false, dynamic: false }).finally(() => {
        this.pendingInbound--
      }),
    )
  }

  /** True if `ip` tried within the throttle window; records this attempt otherwise. */
  private throttled(ip: string): boolean {
    const now = this.clock.monotonic()
    const until = this.throttle.get(ip)
    if (until !== undefined && until > now) return true
    if (this.throttle.size >= MAX_THROTTLE_ENTRIES) {
      for (const [k, v] of this.throttle) {
        if (v <= now || this.throttle.size >= MAX_THROTTLE_ENTRIES) this.throttle.delete(k)
        else break
      }
    }
    this.throttle.delete(ip)
    this.throttle.set(ip, now + this.config.inboundThrottleMs)
    return false
  }

  private track(p: Promise<void>): void {
    this.pendingSetups.add(p)
    void p.finally(() => this.pendingSetups.delete(p))
  }

  /** Current number of inbound handshakes in progress (slots in use). */
  get pendingHandshakes(): number {
    return this.pendingInbound
  }

  private serveResult(result: string): void {
    this.metrics.inc(M.serves, 'inbound connection outcomes', { result })
  }

  // ------------------------------------------------------------------ dialing

  private async dialNode(node: Node, kind: DialKind, signal: AbortSignal): Promise<void> {
    const started = this.clock.monotonic()
    let socket: Socket
    try {
      socket = await this.dialer.dial(node, { signal })
    } catch (e) {
      this.metrics.inc(M.dials, 'dial outcomes', { result: 'error-connection' })
      throw e
    }
    socket.on('error', () => {})
    const flags: ConnFlags = {
      inbound: false,
      trusted: false,
      static: kind === 'static',
      dynamic: kind !== 'static',
    }
    await this.setupConn(socket, flags, node, signal)
    this.log.trace('dial done', { node: node.idHex.slice(0, 16), ms: this.clock.monotonic() - started })
  }

  // ------------------------------------------------------------------ setup and checkpoints

  /** geth's post-handshake checks; the reason to refuse, or undefined. */
  private checkPeer(id: string, flags: ConnFlags): DiscReason | undefined {
    const trusted = flags.trusted || this.trusted.has(id)
    const existing = this.peerMap.get(id)
    // A connection that wins the simultaneous-dial tie-break replaces the existing one: it
    // does not count against the limits the existing one already holds.
    const replacing = existing !== undefined && this.winsTieBreak(id, flags, existing)
    const size = this.peerMap.size - (replacing ? 1 : 0)
    const inbound = this.inboundCount - (replacing && existing.flags.inbound ? 1 : 0)
    if (!trusted && size >= this.config.maxPeers) return DiscReason.TooManyPeers
    if (!trusted && flags.inbound && inbound >= maxInboundConns(this.config)) return DiscReason.TooManyPeers
    if (existing && !replacing) return DiscReason.AlreadyConnected
    if (id === toHex(this.selfId)) return DiscReason.Self
    return undefined
  }

  /**
   * Two nodes that dial each other at the same moment each end up with two connections, and
   * each side would refuse the one it sees second: both could die. Both sides instead keep the
   * connection dialed by the node with the lower id, so they agree without talking. (geth has
   * no tie-break; the pair then waits out the 35 s dial history.)
   */
  private winsTieBreak(id: string, flags: ConnFlags, existing: ServerPeer): boolean {
    if (existing.flags.inbound === flags.inbound) return false
    const self = toHex(this.selfId)
    const dialer = flags.inbound ? id : self
    return dialer === (id < self ? id : self)
  }

  /**
   * Run both handshakes on `socket` and add the peer (geth's SetupConn). `dest` is the node we
   * dialed. Resolves when the setup ended either way (never rejects); dial outcomes reject so
   * the scheduler sees them.
   */
  async setupConn(socket: Socket, flags: ConnFlags, dest?: Node, signal?: AbortSignal): Promise<void> {
    const kind = flags.inbound ? 'serves' : 'dials'
    const metric = flags.inbound ? M.serves : M.dials
    let pendingId: Uint8Array | undefined
    let res: SetupResult
    try {
      res = await setupConnection({
        socket,
        privateKey: this.config.privateKey,
        ...(dest ? { remotePublicKey: dest.publicKey } : {}),
        hello: this.ourHello,
        clock: this.clock,
        random: this.random,
        logger: this.log,
        timeoutMs: this.config.handshakeTimeoutMs,
        signal: signal ? AbortSignal.any([signal, this.ac.signal]) : this.ac.signal,
        afterEncHandshake: (pub) => {
          const id = nodeIdFromPublicKey(pub)
          if (dest && !equalBytes(id, dest.id))
            throw new DisconnectError(DiscReason.UnexpectedIdentity, 'local')
          const r = this.checkPeer(toHex(id), flags)
          if (r !== undefined) throw new DisconnectError(r, 'local')
          if (flags.inbound) {
            pendingId = id
            this.dial?.inboundPending(id)
          }
        },
      })
    } catch (e) {
      if (pendingId) this.dial?.inboundPendingDone(pendingId)
      const d = dispositionOf(e)
      this.metrics.inc(metric, `${kind} outcomes`, { result: d.label })
      this.log.debug('setup failed', { inbound: flags.inbound, reason: d.label, err: e as Error })
      if (!flags.inbound) throw e
      return
    }
    try {
      this.addPeer_(res, socket, flags, dest)
    } finally {
      if (pendingId) this.dial?.inboundPendingDone(pendingId)
    }
  }

  /** The add-peer checkpoint: protocol match and the limits again, then launch (same tick). */
  private addPeer_(res: SetupResult, socket: Socket, flags: ConnFlags, dest: Node | undefined): void {
    const metric = flags.inbound ? M.serves : M.dials
    const id = toHex(nodeIdFromPublicKey(res.remotePublicKey))
    const matched = matchProtocols(this.config.protocols, res.hello.caps)
    let reason: DiscReason | undefined
    if (this.state !== 'running') reason = DiscReason.Quitting
    else if (this.config.protocols.length > 0 && matched.length === 0) reason = DiscReason.UselessPeer
    else reason = this.checkPeer(id, flags)
    if (reason !== undefined) {
      this.metrics.inc(metric, 'outcomes', { result: `local-${discReasonName(reason)}` })
      void res.transport
        .writeMsg(BaseMsg.Disconnect, encodeDisconnect(reason))
        .then(() => res.conn.closeGracefully(1000))
        .catch(() => res.conn.close())
      if (!flags.inbound) throw new DisconnectError(reason, 'local')
      return
    }
    const replaced = this.peerMap.get(id)
    if (replaced) {
      // The tie-break chose this connection (checkPeer allowed it): drop the other, same tick.
      this.peerMap.delete(id)
      if (replaced.flags.inbound) this.inboundCount--
      this.dial?.peerRemoved(replaced.node.id)
      replaced.peer.disconnect(DiscReason.AlreadyConnected)
    }
    if (this.trusted.has(id)) flags.trusted = true
    const remoteAddress = addrText(socket, 'remote')
    const node =
      dest ??
      Node.fromPublicKey(res.remotePublicKey, {
        ip: remoteIp(socket) ?? '0.0.0.0',
        tcp: socket.remotePort ?? 0,
      })
    const entry: ServerPeer = {
      id,
      node,
      flags,
      setup: res,
      bytesIn: 0,
      bytesOut: 0,
      wire: () => ({ read: socket.bytesRead, written: socket.bytesWritten }),
      peer: new Peer({
        transport: res.transport,
        hello: res.hello,
        protocols: matched,
        inbound: flags.inbound,
        localAddress: addrText(socket, 'local'),
        remoteAddress,
        clock: this.clock,
        logger: this.log,
        config: { pingIntervalMs: this.config.pingIntervalMs },
        onMsgEvent: (e) => this.onMsg(entry, e),
      }),
    }
    this.peerMap.set(id, entry)
    if (flags.inbound) this.inboundCount++
    this.dial?.peerAdded({
      id: nodeIdFromPublicKey(res.remotePublicKey),
      kind: flags.inbound ? 'inbound' : flags.static ? 'static' : 'dynamic',
    })
    this.metrics.inc(metric, 'outcomes', { result: 'success' })
    this.metrics.observe(M.handshake, 'connection setup time', res.durationMs / 1000, {
      direction: flags.inbound ? 'inbound' : 'outbound',
    })
    this.updatePeerGauges()
    this.log.info('peer added', {
      id: id.slice(0, 16),
      name: res.hello.name,
      inbound: flags.inbound,
      remote: remoteAddress,
    })
    this.emit({ type: 'add', peer: id, remote: remoteAddress, inbound: flags.inbound })
    void entry.peer.run().then((end) => this.onPeerEnd(entry, end))
  }

  private onMsg(entry: ServerPeer, e: PeerMsgEvent): void {
    const dir = e.type === 'msgrecv' ? 'in' : 'out'
    if (dir === 'in') entry.bytesIn += e.size
    else entry.bytesOut += e.size
    this.metrics.inc(dir === 'in' ? M.ingressMsgs : M.egressMsgs, 'messages by protocol', {
      protocol: e.protocol,
    })
    this.metrics.inc(dir === 'in' ? M.ingressBytes : M.egressBytes, 'message payload bytes', {}, e.size)
    if (this.config.enableMsgEvents) this.emit(e)
  }

  private onPeerEnd(entry: ServerPeer, end: PeerEnd): void {
    if (this.peerMap.get(entry.id) === entry) {
      this.peerMap.delete(entry.id)
      if (entry.flags.inbound) this.inboundCount--
      this.dial?.peerRemoved(entry.node.id)
    }
    const w = entry.wire()
    this.closedWire.read += w.read
    this.closedWire.written += w.written
    this.updatePeerGauges()
    this.metrics.inc(M.drops, 'peer drops by reason', { reason: end.label })
    this.log.info('peer dropped', { id: entry.id.slice(0, 16), reason: end.label, side: end.side })
    this.emit({
      type: 'drop',
      peer: entry.id,
      remote: entry.peer.remoteAddress ?? '',
      reason: discReasonName(end.reason),
      side: end.side,
      error: end.error.message,
    })
  }

  /**
   * The Prometheus text of every metric, with the wire-byte totals brought up to date (the
   * sockets of live peers are read now).
   */
  prometheus(): string {
    let read = this.closedWire.read
    let written = this.closedWire.written
    for (const p of this.peerMap.values()) {
      const w = p.wire()
      read += w.read
      written += w.written
    }
    this.metrics.set(M.wireIngress, 'bytes read from peer sockets (connected and gone peers)', read)
    this.metrics.set(M.wireEgress, 'bytes written to peer sockets (connected and gone peers)', written)
    return this.metrics.toPrometheus()
  }

  private updatePeerGauges(): void {
    this.metrics.set(M.peers, 'connected peers', this.peerMap.size, { direction: 'all' })
    this.metrics.set(M.peers, 'connected peers', this.inboundCount, { direction: 'inbound' })
    this.metrics.set(M.peers, 'connected peers', this.peerMap.size - this.inboundCount, {
      direction: 'outbound',
    })
  }

  // ------------------------------------------------------------------ info

  /** geth's `admin_nodeInfo`. */
  nodeInfo(): NodeInfo {
    const self = this.self()
    const protocols: Record<string, unknown> = {}
    for (const p of this.config.protocols) protocols[p.name] = p.nodeInfo?.() ?? 'unknown'
    return {
      id: self.idHex,
      name: this.config.name,
      enode: self.toEnodeUrl(),
      enr: self.record?.toText() ?? '',
      ip: self.ip ?? '',
      ports: { discovery: this.discoveryPort, listener: this.listenPort },
      listenAddr: this.listener ? `${splitHostPort(this.config.listenAddr).host}:${this.listenPort}` : '',
      protocols,
    }
  }

  /** geth's `admin_peers`, sorted by id. */
  peersInfo(): PeerInfo[] {
    return this.peers()
      .sort((a, b) => (a.id < b.id ? -1 : 1))
      .map((p) => {
        const protocols: Record<string, unknown> = {}
        for (const m of p.peer.runningProtocols)
          protocols[m.protocol.name] = m.protocol.peerInfo?.(p.peer.publicKeyHex) ?? 'handshake'
        return {
          ...(p.node.seq > 0n && p.node.record ? { enr: p.node.record.toText() } : {}),
          enode: p.node.toEnodeUrl(),
          id: p.id,
          name: p.peer.name,
          caps: p.peer.caps.map(capString),
          network: {
            localAddress: p.peer.localAddress ?? '',
            remoteAddress: p.peer.remoteAddress ?? '',
            inbound: p.flags.inbound,
            trusted: p.flags.trusted,
            static: p.flags.static,
          },
          protocols,
        }
      })
  }

  /** Dial-scheduler statistics (undefined when not dialing). */
  dialStats(): DialScheduler['stats'] | undefined {
    return this.dial?.stats
  }

  // ------------------------------------------------------------------ stop

  /**
   * Stop: close the listener, the dialer and discovery, send Disconnect `ClientQuitting` to
   * every peer and wait for them to end, then flush and close the node database.
   */
  async stop(): Promise<void> {
    if (this.state !== 'running') return
    this.state = 'stopping'
    this.ac.abort(new DisconnectError(DiscReason.Quitting, 'local'))
    // Stop accepting now; net.Server's close callback fires only once every accepted socket has
    // closed, so it is awaited after the peers are gone.
    const listenerClosed = new Promise<void>((resolve) =>
      this.listener ? this.listener.close(() => resolve()) : resolve(),
    )
    await this.dial?.stop()
    const ends = this.peers().map((p) => {
      p.peer.disconnect(DiscReason.Quitting)
      return p.peer.done()
    })
    await Promise.all(ends)
    await Promise.allSettled([...this.pendingSetups])
    await listenerClosed
    await this.natLoop?.stop()
    try {
      await this.onStop?.()
    } catch (err) {
      this.log.warn('stop hook failed', { err })
    }
    await this.discovery?.close()
    if (this.ownsDb) this.db.close()
    this.state = 'stopped'
    this.log.info('server stopped')
  }
}

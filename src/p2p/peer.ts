/**
 * A connected peer after both handshakes (geth's `peer.go`): the read loop that routes
 * messages by code range to each matched protocol's bounded inbound queue, Ping/Pong, the
 * Disconnect exchange, one serialised write path, and the typed end of the connection.
 */
import { keccak256 } from '../crypto/index.js'
import {
  abortReason,
  type Clock,
  type Logger,
  silentLogger,
  type Timer,
  toHex,
  withTimeout,
} from '../util/index.js'
import { BaseMsg, decodeDisconnect, EMPTY_LIST_PAYLOAD, encodeDisconnect, type Hello } from './hello.js'
import {
  BoundedQueue,
  type Msg,
  type MsgOptions,
  type MsgReadWriter,
  type MsgTransport,
  type TransportMsg,
  type TransportMsgReceiver,
} from './msg.js'
import {
  DisconnectError,
  DiscReason,
  discReasonName,
  dispositionOf,
  PeerClosedError,
  PeerProtocolError,
} from './peer-error.js'
import {
  BASE_PROTOCOL_LENGTH,
  type Cap,
  capString,
  checkProtocol,
  type MatchedProtocol,
  type ProtocolPeer,
} from './protocol.js'

/** A settled promise shared by every peer that has not written yet. */
const SETTLED: Promise<void> = Promise.resolve()

/** Peer timings and limits; defaults are geth's. */
export interface PeerConfig {
  /** Interval between our Pings (geth: 15 s). */
  readonly pingIntervalMs: number
  /** Deadline of the Disconnect write when we end the connection (geth: 1 s). */
  readonly disconnectWriteTimeoutMs: number
  /** Messages buffered per protocol before the read loop (and so the socket) pauses. */
  readonly inboundQueueCapacity: number
}

/** Defaults of {@link PeerConfig}. */
export const PEER_DEFAULTS: PeerConfig = Object.freeze({
  pingIntervalMs: 15_000,
  disconnectWriteTimeoutMs: 1_000,
  inboundQueueCapacity: 16,
})

/** A message event (geth's `msgsend` / `msgrecv` peer events). */
export interface PeerMsgEvent {
  readonly type: 'msgsend' | 'msgrecv'
  readonly peer: string
  readonly protocol: string
  readonly code: number
  readonly size: number
}

/** How a peer ended. */
export interface PeerEnd {
  /** The reason recorded for the drop. */
  readonly reason: DiscReason
  /** Who ended it: `remote` (their Disconnect), `local` (our decision), `network` (I/O failure). */
  readonly side: 'remote' | 'local' | 'network'
  /** The error that ended the peer. */
  readonly error: Error
  /** A stable label for metrics. */
  readonly label: string
}

/** What the peer needs besides the transport. */
export interface PeerInit {
  readonly transport: MsgTransport
  /** The remote's Hello. */
  readonly hello: Hello
  readonly protocols: readonly MatchedProtocol[]
  readonly inbound: boolean
  readonly localAddress?: string
  readonly remoteAddress?: string
  readonly clock: Clock
  readonly logger?: Logger
  readonly config?: Partial<PeerConfig>
  /** Called for every message sent and received when given (geth's EnableMsgEvents). */
  readonly onMsgEvent?: (e: PeerMsgEvent) => void
}

interface RunningProto {
  readonly matched: MatchedProtocol
  /** Loop-style protocols (`run`): their inbound queue. */
  readonly queue: BoundedQueue<Msg> | undefined
  /** Handler-style protocols (`onMsg`): their view, made on the first message. */
  view: ProtocolView | undefined
}

/**
 * A peer. Call {@link Peer.run} once: it starts the read loop, the ping loop and every
 * matched protocol, and resolves with {@link PeerEnd} when the connection is over.
 */
export class Peer {
  /** Computed when first asked for (an idle peer need not keep its ids as strings). */
  private pubHex: string | undefined
  private nodeIdHex: string | undefined
  readonly hello: Hello
  readonly inbound: boolean
  readonly localAddress: string | undefined
  readonly remoteAddress: string | undefined
  /** When the peer was created (clock ms). */
  readonly connectedAt: number

  private readonly t: MsgTransport
  private readonly clock: Clock
  private readonly log: Logger
  private readonly cfg: PeerConfig
  private readonly onMsgEvent: ((e: PeerMsgEvent) => void) | undefined
  /** Created when {@link signal} is first asked for (most idle peers never need one). */
  private ac: AbortController | undefined
  /** Set once the peer has finished ending: the reason {@link signal} aborts with. */
  private closedWith: Error | undefined
  private readonly running: RunningProto[]
  /** Tail of the write chain (a shared settled promise until the first write). */
  private lastWrite: Promise<void> = SETTLED
  private ended: PeerEnd | undefined
  private resolveEnd!: (e: PeerEnd) => void
  private readonly endPromise: Promise<PeerEnd>
  private started = false
  /** The ping timer while the peer runs. */
  private ping: Timer | undefined

  constructor(init: PeerInit) {
    this.t = init.transport
    this.hello = init.hello
    this.inbound = init.inbound
    this.localAddress = init.localAddress
    this.remoteAddress = init.remoteAddress
    this.clock = init.clock
    this.cfg = init.config === undefined ? PEER_DEFAULTS : { ...PEER_DEFAULTS, ...init.config }
    const log = init.logger ?? silentLogger
    this.log = log === silentLogger ? log : log.child({ peer: toHex(init.hello.id.subarray(0, 8)) })
    this.onMsgEvent = init.onMsgEvent
    this.connectedAt = init.clock.monotonic()
    this.running = init.protocols.map((m) => {
      checkProtocol(m.protocol)
      return {
        matched: m,
        queue: m.protocol.run ? new BoundedQueue<Msg>(this.cfg.inboundQueueCapacity) : undefined,
        view: undefined,
      }
    })
    this.endPromise = new Promise((r) => {
      this.resolveEnd = r
    })
  }

  /** Hex of the remote's 64-byte public key (geth's enode id is its keccak hash). */
  get publicKeyHex(): string {
    this.pubHex ??= toHex(this.hello.id)
    return this.pubHex
  }

  /** Hex node id: keccak256 of the public key (geth's `Peer.ID()`). */
  get idHex(): string {
    this.nodeIdHex ??= toHex(keccak256(this.hello.id))
    return this.nodeIdHex
  }

  /** Aborted when the peer ends. */
  get signal(): AbortSignal {
    if (this.ac === undefined) {
      this.ac = new AbortController()
      if (this.closedWith !== undefined) this.ac.abort(this.closedWith)
    }
    return this.ac.signal
  }

  /** The remote's client name (geth truncates it to 20 characters in `Name()`). */
  get name(): string {
    return this.hello.name
  }

  /** The remote's advertised capabilities. */
  get caps(): readonly Cap[] {
    return this.hello.caps
  }

  /** The protocols running with this peer and their code offsets. */
  get runningProtocols(): readonly MatchedProtocol[] {
    return this.running.map((r) => r.matched)
  }

  /** True while the peer runs. */
  get isRunning(): boolean {
    return this.started && this.ended === undefined
  }

  /** Start everything; resolves when the peer has ended (never rejects). */
  run(): Promise<PeerEnd> {
    if (this.started) return this.endPromise
    this.started = true
    this.ping = this.clock.setInterval(Peer.sendPing, this.cfg.pingIntervalMs, this)
    this.startReading()
    for (const r of this.running) this.runProtocol(r)
    return this.endPromise
  }

  /** End the connection, sending `reason` to the remote. Idempotent. */
  disconnect(reason: DiscReason = DiscReason.Requested): void {
    this.end(new DisconnectError(reason, 'local'))
  }

  /** Resolves when the peer has ended. */
  done(): Promise<PeerEnd> {
    return this.endPromise
  }

  /** The ping timer's callback (shared by every peer: a running peer holds no closure for it). */
  private static sendPing(peer: Peer): void {
    peer.write(BaseMsg.Ping, EMPTY_LIST_PAYLOAD).catch((e: unknown) => peer.end(e))
  }

  /** A protocol's write: checked against its code range, metered, then through {@link write}. */
  private static protoWrite(
    peer: Peer,
    r: RunningProto,
    code: number,
    payload: Uint8Array,
    signal: AbortSignal | undefined,
  ): Promise<void> {
    const proto = r.matched.protocol
    if (!Number.isInteger(code) || code < 0 || code >= proto.length)
      return Promise.reject(
        new PeerProtocolError(
          'invalid-msg-code',
          `${capString(proto)}: code ${code} not below ${proto.length}`,
        ),
      )
    peer.onMsgEvent?.({
      type: 'msgsend',
      peer: peer.publicKeyHex,
      protocol: capString(proto),
      code,
      size: payload.length,
    })
    return peer.write(code + r.matched.offset, payload, signal)
  }

  /**
   * The read loop. Over a transport with `readMsgOrWait` (RLPx) it holds no promise while it
   * waits: the transport calls the peer back ({@link onMsg}, {@link onReadError}). Otherwise
   * (pipes in tests) it is an async loop over `readMsg`. No signal either way: when the peer
   * ends, the transport is closed, which fails the pending read.
   */
  private startReading(): void {
    if (this.t.readMsgOrWait === undefined) {
      void this.readLoop()
      return
    }
    this.readOn()
  }

  /** Take messages while they are buffered and the protocols accept them. */
  private readOn(): void {
    try {
      for (;;) {
        const m = this.t.readMsgOrWait!(asReceiver(this))
        if (m === undefined) return // the peer is told
        if (!this.readOnAfter(this.handleMsg(m))) return
      }
    } catch (err) {
      this.end(err)
    }
  }

  /**
   * What {@link handleMsg} said: true, read on now (returns true); false, stop; a promise, read on
   * once it resolves (the protocol's queue has room).
   */
  private readOnAfter(next: boolean | Promise<void>): boolean {
    if (typeof next === 'boolean') return next
    next.then(
      () => this.readOn(),
      (e: unknown) => this.end(e),
    )
    return false
  }

  /** {@link TransportMsgReceiver.onMsg}: the message a read waited for (the transport calls it). */
  private onMsg(m: TransportMsg): void {
    let now: boolean
    try {
      now = this.readOnAfter(this.handleMsg(m))
    } catch (err) {
      this.end(err)
      return
    }
    if (now) this.readOn()
  }

  /** {@link TransportMsgReceiver.onReadError}: why a read that waited failed (the transport calls it). */
  // biome-ignore lint/correctness/noUnusedPrivateClassMembers: the transport calls it (see asReceiver)
  private onReadError(err: Error): void {
    this.end(err)
  }

  private async readLoop(): Promise<void> {
    try {
      for (;;) {
        const next = this.handleMsg(await this.t.readMsg())
        if (next === false) return
        if (next !== true) await next
      }
    } catch (err) {
      this.end(err)
    }
  }

  /**
   * One received message: base protocol messages answered here, the others queued for their
   * protocol. True: read the next one; false: stop (the peer ended); a promise: read the next
   * one when it resolves (the protocol's queue was full: meanwhile the socket is not read).
   * Throws on a code outside every protocol.
   */
  private handleMsg(m: TransportMsg): boolean | Promise<void> {
    if (this.ended) return false
    if (m.code < BASE_PROTOCOL_LENGTH) {
      if (m.code === BaseMsg.Ping) {
        this.write(BaseMsg.Pong, EMPTY_LIST_PAYLOAD).catch((e: unknown) => this.end(e))
      } else if (m.code === BaseMsg.Disconnect) {
        this.end(new DisconnectError(decodeDisconnect(m.payload), 'remote'))
        return false
      }
      return true // Pong, and codes geth discards
    }
    const r = this.running.find(
      (x) => m.code >= x.matched.offset && m.code < x.matched.offset + x.matched.protocol.length,
    )
    if (!r) throw new PeerProtocolError('invalid-msg-code', `message code ${m.code} outside every protocol`)
    const code = m.code - r.matched.offset
    this.onMsgEvent?.({
      type: 'msgrecv',
      peer: this.publicKeyHex,
      protocol: capString(r.matched.protocol),
      code,
      size: m.payload.length,
    })
    const msg: Msg = { code, payload: m.payload, size: m.payload.length, receivedAt: this.clock.now() }
    const proto = r.matched.protocol
    if (r.queue === undefined) {
      // Handler style: deliver now; a promise holds the next message until it settles.
      r.view ??= new ProtocolView(this, r, Peer.protoWrite)
      const ret = proto.onMsg!(msg, r.view, r.view)
      return ret === undefined ? true : Promise.resolve(ret)
    }
    if (r.queue.tryPush(msg)) return true
    // Full (or closed: then the push fails, and so the peer ends): wait. No signal: when the peer
    // ends, its queues are closed, which fails this push.
    return r.queue.push(msg)
  }

  /** Start a protocol; the peer ends when its `run` settles. */
  private runProtocol(r: RunningProto): void {
    const proto = r.matched.protocol
    // Handler style: nothing runs between messages; the protocol lasts as long as the peer.
    if (proto.run === undefined) return
    // One object is both the protocol's view of the peer and its reader/writer.
    const view = new ProtocolView(this, r, Peer.protoWrite)
    let done: Promise<void>
    try {
      done = Promise.resolve(proto.run(view, view))
    } catch (err) {
      done = Promise.reject(err)
    }
    // Plain callbacks rather than an async frame kept suspended for the peer's whole life.
    done.then(
      () => this.end(new DisconnectError(DiscReason.Quitting, 'local')),
      (err: unknown) => this.end(err),
    )
  }

  /** One write path for all protocols: writes go out in call order. */
  private write(code: number, payload: Uint8Array, signal?: AbortSignal): Promise<void> {
    if (this.ended) return Promise.reject(new PeerClosedError('peer has ended', { cause: this.ended.error }))
    const p = this.lastWrite.then(() => {
      if (this.ended) throw new PeerClosedError('peer has ended', { cause: this.ended.error })
      if (signal?.aborted) throw abortReason(signal)
      return this.t.writeMsg(code, payload, signal ? { signal } : undefined)
    })
    this.lastWrite = p.catch(() => {})
    return p
  }

  private end(err: unknown): void {
    if (this.ended) return
    const error = err instanceof Error ? err : new Error(String(err))
    const d = dispositionOf(error)
    const side: PeerEnd['side'] =
      error instanceof DisconnectError ? error.side : d.send === undefined ? 'network' : 'local'
    this.ended = { reason: d.reason, side, error, label: d.label }
    this.log.debug('peer ending', { reason: discReasonName(d.reason), side, err: error.message })
    const closed = new PeerClosedError('peer has ended', { cause: error })
    for (const r of this.running) r.queue?.close(closed, true)
    this.ping?.cancel()
    const finish = (): void => {
      this.t.close()
      this.closedWith = closed
      this.ac?.abort(closed)
      this.resolveEnd(this.ended!)
    }
    if (d.send === undefined) {
      finish()
      return
    }
    // Send our Disconnect (bounded by its own deadline), then close.
    const payload = encodeDisconnect(d.send)
    const ms = this.cfg.disconnectWriteTimeoutMs
    withTimeout(this.clock, ms, 'disconnect write', undefined, async (signal) => {
      await this.t.writeMsg(BaseMsg.Disconnect, payload, { signal })
      await this.t.closeGracefully?.(ms)
    })
      .catch(() => {})
      .finally(finish)
  }
}

/**
 * The peer as its transport's {@link TransportMsgReceiver}, so a waiting read costs no object of
 * its own. `onMsg` and `onReadError` are private to {@link Peer} (not its API: they would let
 * anyone inject messages) yet on its prototype, where the transport calls them by name. The
 * cast goes through their declared types, so a rename or a signature that no longer fits the
 * interface fails to compile.
 */
function asReceiver(peer: Peer): TransportMsgReceiver {
  return peer as unknown as { onMsg: Peer['onMsg']; onReadError: Peer['onReadError'] }
}

/**
 * What a running protocol gets: its view of the peer ({@link ProtocolPeer}) and its
 * {@link MsgReadWriter}, in one object with three fields (the peer, the protocol's queue and
 * offset, the write path); everything else is on the prototype, read from the peer (its
 * AbortController is created on first use of `signal`). Call the methods on the object
 * (`rw.readMsg()`, `p.disconnect(reason)`).
 */
class ProtocolView implements ProtocolPeer, MsgReadWriter {
  constructor(
    private readonly peer: Peer,
    private readonly r: RunningProto,
    /** The peer's write path (a function shared by every peer). */
    private readonly write: (
      peer: Peer,
      r: RunningProto,
      code: number,
      payload: Uint8Array,
      signal: AbortSignal | undefined,
    ) => Promise<void>,
  ) {}
  readMsg(opts?: MsgOptions): Promise<Msg> {
    const q = this.r.queue
    if (q === undefined)
      return Promise.reject(new TypeError(`${capString(this.r.matched.protocol)}: messages go to onMsg()`))
    return q.shift(opts?.signal)
  }
  writeMsg(code: number, payload: Uint8Array, opts?: MsgOptions): Promise<void> {
    return this.write(this.peer, this.r, code, payload, opts?.signal)
  }
  get id(): string {
    return this.peer.idHex
  }
  get publicKey(): string {
    return this.peer.publicKeyHex
  }
  get name(): string {
    return this.peer.hello.name
  }
  get caps(): readonly Cap[] {
    return this.peer.hello.caps
  }
  get signal(): AbortSignal {
    return this.peer.signal
  }
  disconnect(reason: number): void {
    this.peer.disconnect(reason as DiscReason)
  }
}

/**
 * Helpers of the discv4 unit tests: driving a SimulatedClock until a promise settles, building
 * nodes on a memory network, and a raw "test peer" that crafts packets by hand (for the
 * conformance behaviours of go-ethereum's `devp2p discv4 test` suite).
 */
import { generatePrivateKey, publicKeyFromPrivate } from '../../../src/crypto/index.js'
import {
  createMemoryNetwork,
  type DecodedPacket,
  Discv4,
  type Discv4Config,
  type Discv4Options,
  decodePacket,
  encodePacket,
  type MemoryNetwork,
  type Packet,
  type PacketConn,
  type WireNode,
} from '../../../src/discv4/index.js'
import { Node } from '../../../src/enode/index.js'
import { parseIP, type RandomSource, type SimulatedClock, seededRandom } from '../../../src/util/index.js'

/**
 * Advance `clock` in `stepMs` steps until `p` settles (at most `maxMs` of simulated time), then
 * return its value or throw its error. Simulated time only; nothing sleeps.
 */
export async function drive<T>(
  clock: SimulatedClock,
  p: Promise<T>,
  maxMs = 120_000,
  stepMs = 10,
): Promise<T> {
  let settled = false
  const tracked = p.then(
    (v) => {
      settled = true
      return v
    },
    (e: unknown) => {
      settled = true
      throw e
    },
  )
  tracked.catch(() => {})
  for (let t = 0; !settled && t < maxMs; t += stepMs) await clock.advance(stepMs)
  if (!settled) throw new Error(`drive: promise did not settle within ${maxMs} simulated ms`)
  return tracked
}

/** Deterministic private keys. */
export function keys(seed: number): () => Uint8Array {
  const r = seededRandom(seed)
  return () => generatePrivateKey(r)
}

/** A started node on the memory network at `ip:port`. */
export async function startNode(
  net: MemoryNetwork,
  clock: SimulatedClock,
  ip: string,
  opts: {
    port?: number
    key?: Uint8Array
    random?: RandomSource
    bootnodes?: (Node | string)[]
    config?: Partial<Discv4Config>
    extra?: Partial<Discv4Options>
  } = {},
): Promise<Discv4> {
  const conn = net.listen(ip, opts.port ?? 30303)
  return Discv4.start({
    privateKey:
      opts.key ?? generatePrivateKey(opts.random ?? seededRandom(ip.length * 7919 + (opts.port ?? 0))),
    conn,
    clock,
    random: opts.random ?? seededRandom(1),
    bootnodes: opts.bootnodes ?? [],
    config: opts.config,
    ...opts.extra,
  })
}

/** A raw peer: sends hand-made packets from its own key and records everything it receives. */
export class TestPeer {
  readonly key: Uint8Array
  readonly publicKey: Uint8Array
  readonly conn: PacketConn
  readonly received: DecodedPacket[] = []
  readonly clock: SimulatedClock
  target: { ip: string; port: number }
  /** Called for every packet received (after it was recorded), to script answers. */
  respond: ((d: DecodedPacket, from: { ip: string; port: number }) => void) | undefined

  constructor(
    net: MemoryNetwork,
    clock: SimulatedClock,
    ip: string,
    port: number,
    key: Uint8Array,
    target: { ip: string; port: number },
  ) {
    this.key = key
    this.publicKey = publicKeyFromPrivate(key)
    this.clock = clock
    this.target = target
    this.conn = net.listen(ip, port)
    this.conn.onPacket((bytes, from) => {
      let d: DecodedPacket
      try {
        d = decodePacket(bytes)
      } catch {
        return // ignore garbage
      }
      this.received.push(d)
      this.respond?.(d, from)
    })
  }

  /** Our address. */
  get addr(): { ip: string; port: number } {
    return this.conn.localAddress()
  }

  /** This peer as a Node. */
  node(): Node {
    return Node.fromPublicKey(this.publicKey, { ip: this.addr.ip, udp: this.addr.port, tcp: this.addr.port })
  }

  /** Expiration `s` seconds from the simulated now. */
  exp(s = 20): number {
    return Math.floor(this.clock.now() / 1000) + s
  }

  /** Send a packet to the target; returns its hash. */
  send(p: Packet): Uint8Array {
    const { bytes, hash } = encodePacket(this.key, p)
    this.conn.send(bytes, this.target.ip, this.target.port)
    return hash
  }

  /** Send raw bytes to the target. */
  sendRaw(bytes: Uint8Array): void {
    this.conn.send(bytes, this.target.ip, this.target.port)
  }

  /** A well-formed Ping to the target. */
  ping(over: Partial<Packet & { kind: 'ping' }> = {}): Uint8Array {
    return this.send({
      kind: 'ping',
      version: 4,
      from: { ip: parseIP(this.addr.ip), udp: this.addr.port, tcp: this.addr.port },
      to: { ip: parseIP(this.target.ip), udp: this.target.port, tcp: 0 },
      expiration: this.exp(),
      ...over,
    })
  }

  /** Let 300 simulated ms pass (geth's suite waits 300 ms for replies) and take what arrived. */
  async collect(ms = 300): Promise<DecodedPacket[]> {
    await this.clock.advance(ms)
    return this.received.splice(0)
  }

  /** Packets of one kind among `ps`. */
  static ofKind<K extends Packet['kind']>(ps: DecodedPacket[], kind: K): (Packet & { kind: K })[] {
    return ps.map((d) => d.packet).filter((p): p is Packet & { kind: K } => p.kind === kind)
  }

  /**
   * Complete the endpoint proof with the target: Ping it, then answer its ping-back with the
   * right Pong. Returns what arrived besides the ping-back.
   */
  async bond(): Promise<DecodedPacket[]> {
    this.ping()
    const got = await this.collect(50)
    const pingBack = got.find((d) => d.packet.kind === 'ping')
    if (pingBack === undefined) throw new Error('bond: no ping-back')
    this.pong(pingBack.hash)
    await this.clock.advance(50)
    return got.filter((d) => d !== pingBack)
  }

  /**
   * Behave like a minimal well-behaved node: answer Pings with a Pong and a ping-back, Pongs
   * nothing, FindNode with `neighbors(target)` (split in packets of `chunk`), ENRRequest with
   * `record` if given.
   */
  serve(
    opts: { neighbors?: (target: Uint8Array) => WireNode[]; chunk?: number; pingBack?: boolean } = {},
  ): void {
    this.respond = (d, from) => {
      this.target = from
      const p = d.packet
      if (p.kind === 'ping') {
        this.pong(d.hash)
        if (opts.pingBack !== false) this.ping()
      } else if (p.kind === 'findnode' && opts.neighbors !== undefined) {
        const all = opts.neighbors(p.target)
        const chunk = opts.chunk ?? 12
        if (all.length === 0) this.send({ kind: 'neighbors', nodes: [], expiration: this.exp() })
        for (let i = 0; i < all.length; i += chunk)
          this.send({ kind: 'neighbors', nodes: all.slice(i, i + chunk), expiration: this.exp() })
      }
    }
  }

  /** Answer a Ping whose hash is `replyTok`. */
  pong(replyTok: Uint8Array): Uint8Array {
    return this.send({
      kind: 'pong',
      to: { ip: parseIP(this.target.ip), udp: this.target.port, tcp: 0 },
      replyTok,
      expiration: this.exp(),
    })
  }

  /** Stop receiving. */
  close(): void {
    this.conn.close()
  }
}

/**
 * A memory network of `n` discv4 nodes: node 0 is the bootnode at 10.0.0.1, the others at
 * 10.0.1.i bootstrap from it. Keys come from `seed`; node i uses `seededRandom(randomBase + i)`.
 */
export async function startNetwork(
  clock: SimulatedClock,
  n: number,
  seed: number,
  randomBase: number,
): Promise<{ net: MemoryNetwork; nodes: Discv4[]; rnd: RandomSource }> {
  const net = createMemoryNetwork({ clock, latencyMs: 1, random: seededRandom(seed) })
  const rnd = seededRandom(seed * 1000 + 7)
  const nodes: Discv4[] = []
  const boot = await Discv4.start({
    privateKey: generatePrivateKey(rnd),
    conn: net.listen('10.0.0.1', 30303),
    clock,
    random: seededRandom(randomBase),
  })
  nodes.push(boot)
  for (let i = 1; i < n; i++)
    nodes.push(
      await Discv4.start({
        privateKey: generatePrivateKey(rnd),
        conn: net.listen(`10.0.1.${i}`, 30303),
        clock,
        random: seededRandom(randomBase + i),
        bootnodes: [boot.self()],
      }),
    )
  return { net, nodes, rnd }
}

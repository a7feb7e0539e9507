/**
 * The `discv4` suite:
 *  1. convergence of a 20-node loopback network (real UDP on 127.0.0.1, one bootnode, default
 *     timings): time until every node's table holds all 19 others — ours (median of several runs)
 *     and @ethereumjs/devp2p's DPT for comparison (one run, capped at 90 s);
 *  2. a 200-node in-process network over the memory pipe on a simulated clock: hit rate of
 *     lookups on the 16 true closest nodes, and packets per lookup;
 *  3. packets per second one node processes: decode + verify alone, Ping → Pong, and
 *     FindNode → 2 Neighbors from a bonded peer.
 */
import { DPT, type PeerInfo } from '@ethereumjs/devp2p'
import { generatePrivateKey, keccak256, publicKeyFromPrivate } from '../src/crypto/index.js'
import {
  createMemoryNetwork,
  Discv4,
  decodePacket,
  encodePacket,
  listenUdp,
  type PacketConn,
  type PacketHandler,
  Table,
} from '../src/discv4/index.js'
import { parseIP, type RandomSource, SimulatedClock, seededRandom } from '../src/util/index.js'
import { type BenchOptions, type BenchRow, measure, type Suite } from './harness.js'

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))

function median(xs: number[]): number {
  const s = xs.slice().sort((a, b) => a - b)
  const m = s.length >> 1
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2
}

// ---- 1. 20-node loopback convergence ----

const LOOPBACK_NODES = 20
const OURS_CAP_MS = 30_000
const DPT_CAP_MS = 90_000

async function oursConvergence(): Promise<number | undefined> {
  const nodes: Discv4[] = []
  const t0 = performance.now()
  try {
    const boot = await Discv4.start({
      privateKey: generatePrivateKey(),
      conn: await listenUdp({ host: '127.0.0.1', port: 0 }),
    })
    nodes.push(boot)
    for (let i = 1; i < LOOPBACK_NODES; i++)
      nodes.push(
        await Discv4.start({
          privateKey: generatePrivateKey(),
          conn: await listenUdp({ host: '127.0.0.1', port: 0 }),
          bootnodes: [boot.self()],
        }),
      )
    while (performance.now() - t0 < OURS_CAP_MS) {
      if (nodes.every((n) => n.tableNodes().length === LOOPBACK_NODES - 1))
        return (performance.now() - t0) / 1000
      await sleep(10)
    }
    return undefined
  } finally {
    for (const n of nodes) n.close()
  }
}

async function freePorts(n: number): Promise<number[]> {
  const conns: PacketConn[] = []
  for (let i = 0; i < n; i++) conns.push(await listenUdp({ host: '127.0.0.1', port: 0 }))
  const ports = conns.map((c) => c.localAddress().port)
  for (const c of conns) c.close()
  return ports
}

async function dptConvergence(): Promise<number | undefined> {
  const ports = await freePorts(LOOPBACK_NODES)
  const dpts: DPT[] = []
  try {
    for (const port of ports) {
      const d = new DPT(generatePrivateKey(), {
        endpoint: { address: '127.0.0.1', udpPort: port, tcpPort: null },
      })
      d.events.on('error', () => {})
      const listening = new Promise((r) => d.events.once('listening', () => r(undefined)))
      d.bind(port, '127.0.0.1')
      await listening
      dpts.push(d)
    }
    const boot: PeerInfo = { address: '127.0.0.1', udpPort: ports[0]!, tcpPort: null }
    const t0 = performance.now()
    for (const d of dpts.slice(1)) void d.bootstrap(boot)
    while (performance.now() - t0 < DPT_CAP_MS) {
      if (dpts.every((d) => d.getPeers().length >= LOOPBACK_NODES - 1)) return (performance.now() - t0) / 1000
      await sleep(50)
    }
    return undefined
  } finally {
    for (const d of dpts) d.destroy()
  }
}

async function convergenceRows(runs: number): Promise<BenchRow[]> {
  const times: number[] = []
  let capped = 0
  for (let i = 0; i < runs; i++) {
    const t = await oursConvergence()
    if (t === undefined) capped++
    else times.push(t)
    await sleep(200)
  }
  const rows: BenchRow[] = [
    {
      name: `${LOOPBACK_NODES}-node loopback convergence (s)`,
      impl: 'ours',
      median_s: times.length > 0 ? median(times) : `> ${OURS_CAP_MS / 1000} cap`,
      min_s: times.length > 0 ? Math.min(...times) : '-',
      max_s: times.length > 0 ? Math.max(...times) : '-',
      runs,
      capped,
    },
  ]
  const d = await dptConvergence()
  rows.push({
    name: `${LOOPBACK_NODES}-node loopback convergence (s)`,
    impl: '@ethereumjs/devp2p DPT',
    median_s: d === undefined ? `> ${DPT_CAP_MS / 1000} cap` : d,
    runs: 1,
  })
  return rows
}

// ---- 2. 200 nodes on the memory pipe ----

async function lookupRows(nodeCount: number, lookups: number): Promise<BenchRow[]> {
  const wall0 = performance.now()
  const clock = new SimulatedClock()
  const net = createMemoryNetwork({ clock, latencyMs: 1 })
  const r = seededRandom(7)
  const nodes: Discv4[] = []
  try {
    const boot = await Discv4.start({
      privateKey: generatePrivateKey(r),
      conn: net.listen('10.0.0.1', 30303),
      clock,
      random: seededRandom(1000),
    })
    nodes.push(boot)
    for (let i = 1; i < nodeCount; i++)
      nodes.push(
        await Discv4.start({
          privateKey: generatePrivateKey(r),
          conn: net.listen(`10.0.${i >> 8}.${i & 255}`, 30304),
          clock,
          random: seededRandom(1000 + i),
          bootnodes: [boot.self()],
        }),
      )
    for (let s = 0; s < 60; s++) await clock.advance(500) // 30 s of simulated warm-up
    const warmPackets = net.stats().sent
    const all = nodes.map((n) => n.self())
    let hits = 0
    let packets = 0
    let findnodes = 0
    const durations: number[] = []
    for (let i = 0; i < lookups; i++) {
      const src = nodes[r.int(nodeCount)]!
      const target = r.bytes(64)
      const truth = Table.byDistance(
        keccak256(target),
        all.filter((n) => n.idHex !== src.self().idHex),
      )
        .slice(0, 16)
        .map((n) => n.idHex)
      const me = src.localAddress()
      const untap = net.tap((p) => {
        const out = p.from.ip === me.ip && p.from.port === me.port
        if (out || (p.to.ip === me.ip && p.to.port === me.port)) packets++
        if (out && p.bytes[97] === 3) findnodes++
      })
      const t0 = clock.monotonic()
      let result: string[] | undefined
      src.lookup(target).then(
        (res) => {
          result = res.map((n) => n.idHex)
        },
        () => {
          result = []
        },
      )
      while (result === undefined) await clock.advance(5)
      durations.push(clock.monotonic() - t0)
      untap()
      const got = new Set(result)
      hits += truth.filter((h) => got.has(h)).length
    }
    return [
      {
        name: `lookup, ${nodeCount} nodes (memory pipe, simulated clock)`,
        impl: 'ours',
        hit_rate: hits / (lookups * 16),
        packets_per_lookup: packets / lookups,
        findnode_per_lookup: findnodes / lookups,
        sim_ms_median: median(durations),
        lookups,
        warmup_packets: warmPackets,
        wall_s: (performance.now() - wall0) / 1000,
      },
    ]
  } finally {
    for (const n of nodes) n.close()
  }
}

// ---- 3. packets per second one node processes ----

/** A PacketConn that hands its handler out and counts what is sent. */
function stubConn(): PacketConn & { handler: PacketHandler | undefined; sent: Uint8Array[] } {
  const c = {
    handler: undefined as PacketHandler | undefined,
    sent: [] as Uint8Array[],
    send(bytes: Uint8Array): void {
      if (c.sent.length < 64) c.sent.push(bytes)
    },
    onPacket(h: PacketHandler): void {
      c.handler = h
    },
    close(): void {},
    localAddress: () => ({ ip: '10.0.0.1', port: 30303 }),
  }
  return c
}

async function processingRows(opts: BenchOptions): Promise<BenchRow[]> {
  const r: RandomSource = seededRandom(99)
  const clock = new SimulatedClock()
  const conn = stubConn()
  const node = await Discv4.start({ privateKey: generatePrivateKey(r), conn, clock, random: seededRandom(5) })
  await clock.advance(0) // first refresh (empty table) done
  const handler = conn.handler!
  const exp = Math.floor(clock.now() / 1000) + 3600
  const to = { ip: parseIP('10.0.0.1'), udp: 30303, tcp: 0 }
  const SENDERS = 256
  const senders = Array.from({ length: SENDERS }, (_, i) => ({
    key: generatePrivateKey(r),
    from: { ip: `10.1.${i >> 8}.${i & 255}`, port: 30303 },
  }))
  const pings = senders.map((s) =>
    encodePacket(s.key, {
      kind: 'ping',
      version: 4,
      from: { ip: parseIP(s.from.ip), udp: 30303, tcp: 30303 },
      to,
      expiration: exp,
      enrSeq: 1n,
    }),
  )
  // Bond every sender: deliver its Ping, answer our ping-back with a Pong.
  for (const [i, s] of senders.entries()) {
    conn.sent.length = 0
    handler(pings[i]!.bytes, s.from)
    const back = conn.sent.map((b) => ({ b, d: decodePacket(b) })).find((x) => x.d.packet.kind === 'ping')
    if (back === undefined) throw new Error('bench: no ping-back')
    const pong = encodePacket(s.key, { kind: 'pong', to, replyTok: back.d.hash, expiration: exp })
    handler(pong.bytes, s.from)
  }
  await clock.advance(0)
  const findnodes = senders.map((s) =>
    encodePacket(s.key, {
      kind: 'findnode',
      target: publicKeyFromPrivate(generatePrivateKey(r)),
      expiration: exp,
    }),
  )
  const rows: BenchRow[] = []
  rows.push({
    name: 'decodePacket (Ping: size, hash, RLP, recover)',
    impl: 'ours',
    ...measure((i) => decodePacket(pings[i % SENDERS]!.bytes), opts),
  })
  /** Replies sent per packet, from one untimed pass over every sender. */
  const repliesPer = (packets: readonly { bytes: Uint8Array }[]): number => {
    const before = node.stats().egressPackets
    for (const [i, s] of senders.entries()) handler(packets[i]!.bytes, s.from)
    return (node.stats().egressPackets - before) / SENDERS
  }
  rows.push({
    name: 'Ping in → Pong out (decode, verify, answer)',
    impl: 'ours',
    ...measure((i) => handler(pings[i % SENDERS]!.bytes, senders[i % SENDERS]!.from), opts),
    replies_per_packet: repliesPer(pings),
  })
  rows.push({
    name: `FindNode in → Neighbors out (bonded, table of ${node.tableNodes().length})`,
    impl: 'ours',
    ...measure((i) => handler(findnodes[i % SENDERS]!.bytes, senders[i % SENDERS]!.from), opts),
    replies_per_packet: repliesPer(findnodes),
  })
  node.close()
  return rows
}

/** The suite registered in bench/main.ts. */
export const discv4Suite: Suite = {
  name: 'discv4',
  description:
    '20-node loopback convergence (ours vs @ethereumjs/devp2p), 200-node lookup quality, packet processing rate',
  async run(opts) {
    const rows: BenchRow[] = []
    rows.push(...(await processingRows(opts)))
    rows.push(...(await lookupRows(200, 100)))
    rows.push(...(await convergenceRows(opts.minMs < 600 ? 3 : 5)))
    return rows
  },
}

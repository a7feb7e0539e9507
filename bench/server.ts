/**
 * The `server` suite: the p2p Server at network scale, over real TCP/UDP on 127.0.0.1, with the
 * nodes in worker processes (bench/server-worker.ts) so that no single event loop carries them
 * all, and the figures of each process are its own.
 *
 * 1. Mesh formation: 50 Servers with discv4 (default config: maxPeers 50, dialRatio 3) in 2
 *    worker processes of 25, plus one bootnode (maxPeers 0, in this process) they all start
 *    from at once. The target: every node has at least its dial slots' worth of peers,
 *    `maxDialedConns = floor(maxPeers / dialRatio) = 16` (inbound or dialed). A full mesh (49)
 *    is not a target: each node dials about 16 (geth's scheduler keeps up to twice its free
 *    slots in flight, so a node can end with more) and the rest of its peers are inbound; and
 *    "16 dialed peers at every node" is not reachable either in a network this small, as a
 *    node whose inbound side filled up first finds no one left to dial.
 *    Reported: seconds from `Server.start` until every node has >= 1 peer and >= 16 peers; the
 *    peer, dialed-peer and table sizes then; connection setups and their mean duration (both
 *    sides; includes the time a busy event loop makes a handshake wait); CPU seconds per node
 *    until the target (process CPU / 25) and the workers' event-loop utilisation and delay
 *    meanwhile; steady CPU per node (% of a core) and utilisation over a window after it
 *    (pings, discovery refresh and revalidation, remaining dials); RSS and V8 heap per node
 *    (growth of the worker over its baseline after forced GCs, / 25) and the whole worker RSS
 *    / 25 (includes the runtime).
 * 2. A busy node: ONE Server (the hub, in its own process) with 200 connected peers, driven from
 *    2 other processes (100 peers each, `setupConnection` + `Peer`, one identity each), every
 *    peer sending a 100-byte `bench/1` message every 50 ms (4000 messages/s offered), which
 *    the hub's protocol echoes back; then the same peers every 10 ms (20000/s nominal) to show
 *    the ceiling. Measured in the hub's process over a window: messages/s in and out, CPU (%
 *    of a core), event-loop utilisation and delay (perf_hooks `monitorEventLoopDelay`, 1 ms
 *    resolution: p50/p99/max), RSS before the peers and during; what the peers actually sent
 *    per second, and the echo round trip (p50/p99) as they time it.
 *
 * `SERVER_BENCH_PARTS=mesh|hub` (default both) runs one part only.
 *
 * Every wait is bounded (the suite takes about 25-35 s, under 90 s at worst) and the workers are
 * stopped in `finally`; they also exit by themselves when this process goes away or after
 * their `--max-ms`.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { once } from 'node:events'
import { fileURLToPath } from 'node:url'
import { generatePrivateKey } from '../src/crypto/index.js'
import { maxDialedConns, SERVER_DEFAULTS, Server } from '../src/p2p/index.js'
import type { BenchOptions, BenchRow, Suite } from './harness.js'

const COMPILED = import.meta.url.endsWith('.js')
const WORKER_SCRIPT = fileURLToPath(
  new URL(COMPILED ? './server-worker.js' : './server-worker.ts', import.meta.url),
)
const REPO_ROOT = fileURLToPath(new URL('..', import.meta.url))
const MiB = 1024 * 1024
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))

async function bounded<T>(what: string, ms: number, p: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  try {
    return await Promise.race([
      p,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms)
      }),
    ])
  } finally {
    clearTimeout(timer)
  }
}

function median(xs: readonly number[]): number {
  const s = xs.slice().sort((a, b) => a - b)
  const m = s.length >> 1
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2
}

/** A worker process and its request/answer channel. */
class Worker {
  private nextId = 1
  // BOUNDED: one entry per request in flight (the suite awaits each).
  private readonly waiting = new Map<number, { resolve: (v: object) => void; reject: (e: Error) => void }>()

  private constructor(
    readonly role: string,
    private readonly proc: ChildProcess,
  ) {
    proc.on('message', (m: { id?: number; error?: string }) => {
      const w = m.id === undefined ? undefined : this.waiting.get(m.id)
      if (!w || m.id === undefined) return
      this.waiting.delete(m.id)
      if (m.error !== undefined) w.reject(new Error(`${role}: ${m.error}`))
      else w.resolve(m)
    })
    proc.once('exit', (code, signal) => {
      const err = new Error(`server-worker (${role}) exited (${signal ?? code})`)
      for (const w of this.waiting.values()) w.reject(err)
      this.waiting.clear()
    })
  }

  static async start(role: 'mesh' | 'hub' | 'driver', maxMs: number): Promise<Worker> {
    const proc = spawn(
      process.execPath,
      [
        '--expose-gc',
        ...(COMPILED ? [] : ['--import', 'tsx']),
        WORKER_SCRIPT,
        `--role=${role}`,
        `--max-ms=${maxMs}`,
      ],
      { cwd: REPO_ROOT, stdio: ['ignore', 'ignore', 'inherit', 'ipc'] },
    )
    try {
      await bounded(
        `server-worker (${role}) start`,
        20_000,
        new Promise<void>((resolve, reject) => {
          proc.on('message', (m: { type?: string }) => {
            if (m.type === 'ready') resolve()
          })
          proc.once('exit', (code) => reject(new Error(`server-worker (${role}) exited with ${code}`)))
          proc.once('error', reject)
        }),
      )
      return new Worker(role, proc)
    } catch (e) {
      proc.kill('SIGKILL')
      throw e
    }
  }

  request<T>(cmd: string, args: object = {}, ms = 10_000): Promise<T> {
    const id = this.nextId++
    return bounded(
      `server-worker (${this.role}) ${cmd}`,
      ms,
      new Promise<T>((resolve, reject) => {
        if (!this.proc.connected) throw new Error(`server-worker (${this.role}) is gone`)
        this.waiting.set(id, { resolve: resolve as (v: object) => void, reject })
        this.proc.send({ id, cmd, ...args })
      }),
    ).finally(() => this.waiting.delete(id))
  }

  /** Ask the worker to stop its servers and exit; kill it (by pid) if it does not in time. */
  async stop(): Promise<void> {
    const p = this.proc
    if (p.exitCode !== null || p.signalCode !== null) return
    const exited = once(p, 'exit')
    try {
      if (p.connected) p.send({ id: 0, cmd: 'exit' })
      await bounded(`server-worker (${this.role}) exit`, 8_000, exited)
    } catch {
      p.kill('SIGKILL')
    }
  }
}

interface Mem {
  rss: number
  heapUsed: number
}

// ---------------------------------------------------------------------------------------------
// 1. Mesh formation

const MESH_WORKERS = 2
const MESH_PER_WORKER = 25
const MESH_NODES = MESH_WORKERS * MESH_PER_WORKER
const MESH_MAX_PEERS = SERVER_DEFAULTS.maxPeers
const MESH_TARGET = maxDialedConns({
  noDial: false,
  maxPeers: MESH_MAX_PEERS,
  dialRatio: SERVER_DEFAULTS.dialRatio,
})
const MESH_CAP_MS = 30_000

interface MeshStats extends Mem {
  setups: number
  setupSeconds: number
  dialsFailed: number
  peers: number[]
  outbound: number[]
  tables: number[]
  cpuUs: number
  /** Event-loop utilisation and delay since the previous `reset`. */
  elu: number
  delayMs: { p50: number; p99: number; max: number }
}

async function meshRows(steadyMs: number): Promise<BenchRow[]> {
  const workers: Worker[] = []
  let boot: Server | undefined
  try {
    boot = await Server.start({
      privateKey: generatePrivateKey(),
      name: 'devp2p-ts/bench-bootnode',
      listenAddr: '127.0.0.1:0',
      maxPeers: 0,
    })
    workers.push(
      ...(await Promise.all(
        Array.from({ length: MESH_WORKERS }, () => Worker.start('mesh', MESH_CAP_MS + steadyMs + 40_000)),
      )),
    )
    const bootnode = boot.self().toEnodeUrl()
    const t0 = performance.now()
    const starts = await Promise.all(
      workers.map((w, i) =>
        w.request<{ before: Mem; cpuStartUs: number }>(
          'start',
          { count: MESH_PER_WORKER, bootnode, maxPeers: MESH_MAX_PEERS, tag: `w${i}` },
          20_000,
        ),
      ),
    )
    const stats = async (reset = false): Promise<MeshStats[]> =>
      Promise.all(workers.map((w) => w.request<MeshStats>('stats', { reset })))
    const all = (s: MeshStats[], k: 'peers' | 'outbound' | 'tables'): number[] => s.flatMap((x) => x[k])
    let firstPeerS: number | undefined
    let targetS: number | undefined
    let cpuToTargetUs: number | undefined
    let last: MeshStats[] = await stats()
    while (performance.now() - t0 < MESH_CAP_MS) {
      last = await stats()
      const t = (performance.now() - t0) / 1000
      const peers = all(last, 'peers')
      if (firstPeerS === undefined && Math.min(...peers) >= 1) firstPeerS = t
      if (targetS === undefined && Math.min(...peers) >= MESH_TARGET) {
        targetS = t
        cpuToTargetUs = last.reduce((a, s, i) => a + s.cpuUs - starts[i]!.cpuStartUs, 0)
      }
      if (targetS !== undefined) break
      await sleep(100)
    }
    // Steady state: CPU over a window after formation.
    const s0 = await stats(true)
    const w0 = performance.now()
    await sleep(steadyMs)
    const s1 = await stats(true)
    const steadyS = (performance.now() - w0) / 1000
    const steadyCpuUs = s1.reduce((a, s, i) => a + s.cpuUs - s0[i]!.cpuUs, 0)
    last = s1
    const memAfter = await Promise.all(workers.map((w) => w.request<Mem>('mem', { gc: true })))
    const rssGrowth = memAfter.reduce((a, m, i) => a + m.rss - starts[i]!.before.rss, 0)
    const heapGrowth = memAfter.reduce((a, m, i) => a + m.heapUsed - starts[i]!.before.heapUsed, 0)
    const rssTotal = memAfter.reduce((a, m) => a + m.rss, 0)
    const peers = all(last, 'peers')
    const tables = all(last, 'tables')
    const setups = last.reduce((a, s) => a + s.setups, 0)
    const capped = `> ${MESH_CAP_MS / 1000} cap`
    return [
      {
        name: `${MESH_NODES} nodes (${MESH_WORKERS} procs x ${MESH_PER_WORKER}) + bootnode: mesh formation (s)`,
        impl: 'ours',
        target_peers: MESH_TARGET,
        all_ge_1_peer_s: firstPeerS ?? capped,
        all_ge_target_s: targetS ?? capped,
        peers_min: Math.min(...peers),
        peers_median: median(peers),
        peers_max: Math.max(...peers),
        dialed_min: Math.min(...all(last, 'outbound')),
        dialed_max: Math.max(...all(last, 'outbound')),
        table_min: Math.min(...tables),
        table_median: median(tables),
        conn_setups: setups,
        setup_mean_ms: setups === 0 ? '-' : (last.reduce((a, s) => a + s.setupSeconds, 0) / setups) * 1000,
        dials_failed: last.reduce((a, s) => a + s.dialsFailed, 0),
        formation_elu_pct: Math.max(...s0.map((s) => s.elu)) * 100,
        formation_loop_delay_p99_ms: Math.max(...s0.map((s) => s.delayMs.p99)),
      },
      {
        name: `${MESH_NODES} nodes: CPU and memory per node`,
        impl: 'ours',
        cpu_s_per_node_to_target: cpuToTargetUs === undefined ? '-' : cpuToTargetUs / 1e6 / MESH_NODES,
        steady_cpu_pct_per_node: (steadyCpuUs / 1e6 / steadyS / MESH_NODES) * 100,
        steady_window_s: steadyS,
        steady_elu_pct: Math.max(...s1.map((s) => s.elu)) * 100,
        rss_mib_per_node: rssGrowth / MiB / MESH_NODES,
        heap_mib_per_node: heapGrowth / MiB / MESH_NODES,
        proc_rss_mib_per_node: rssTotal / MiB / MESH_NODES,
      },
    ]
  } finally {
    await Promise.all(workers.map((w) => w.stop()))
    await boot?.stop()
  }
}

// ---------------------------------------------------------------------------------------------
// 2. One node with 200 peers

const HUB_PEERS = 200
const HUB_DRIVERS = 2
const HUB_MSG_BYTES = 100
/** Send intervals per peer (ms): the load asked for (50 ms: 4000 msgs/s), then a heavier one. */
const HUB_INTERVALS_MS = [50, 10]

interface HubMeasure extends Mem {
  seconds: number
  peers: number
  received: number
  sent: number
  cpuUs: number
  elu: number
  delayMs: { p50: number; p99: number; max: number; mean: number }
}

interface DriverStats {
  connected: number
  failed: number
  open: number
  sent: number
  skipped: number
  echoes: number
}

interface Rtt {
  p50: number
  p99: number
  count: number
}

async function hubRows(windowMs: number): Promise<BenchRow[]> {
  const workers: Worker[] = []
  try {
    const maxMs = HUB_INTERVALS_MS.length * (windowMs + 2_000) + 60_000
    const [hub, ...drivers] = await Promise.all([
      Worker.start('hub', maxMs),
      ...Array.from({ length: HUB_DRIVERS }, () => Worker.start('driver', maxMs)),
    ])
    workers.push(hub!, ...drivers)
    const {
      port,
      publicKey,
      rss: idleRss,
    } = await hub!.request<{ port: number; publicKey: string } & Mem>('start', {
      maxPeers: HUB_PEERS + 50,
    })
    const per = HUB_PEERS / HUB_DRIVERS
    const t0 = performance.now()
    const started = await Promise.all(
      drivers.map((d, i) =>
        d.request<DriverStats>(
          'start',
          {
            port,
            publicKey,
            count: per,
            concurrency: 8,
            intervalMs: HUB_INTERVALS_MS[0],
            size: HUB_MSG_BYTES,
            tag: `d${i}`,
          },
          30_000,
        ),
      ),
    )
    const connectS = (performance.now() - t0) / 1000
    const failed = started.reduce((a, s) => a + s.failed, 0)
    const end = performance.now() + 10_000
    while (performance.now() < end) {
      if ((await hub!.request<{ peers: number }>('stats')).peers >= HUB_PEERS) break
      await sleep(100)
    }
    const rows: BenchRow[] = []
    for (const intervalMs of HUB_INTERVALS_MS) {
      await Promise.all(drivers.map((d) => d.request('rate', { intervalMs })))
      await sleep(1000) // warm-up at this rate
      await Promise.all(drivers.map((d) => d.request<Rtt>('rtt')))
      const d0 = await Promise.all(drivers.map((d) => d.request<DriverStats>('stats')))
      const m = await hub!.request<HubMeasure>('measure', { ms: windowMs }, windowMs + 10_000)
      const d1 = await Promise.all(drivers.map((d) => d.request<DriverStats>('stats')))
      const rtts = await Promise.all(drivers.map((d) => d.request<Rtt>('rtt')))
      const delta = (k: 'sent' | 'skipped'): number => d1.reduce((a, s, i) => a + s[k] - d0[i]![k], 0)
      rows.push({
        name: `1 node, ${HUB_PEERS} peers (${HUB_DRIVERS} driver procs), ${HUB_MSG_BYTES} B every ${intervalMs} ms each, echoed`,
        impl: 'ours',
        peers: m.peers,
        ...(intervalMs === HUB_INTERVALS_MS[0] ? { connect_s: connectS, setup_failed: failed } : {}),
        nominal_msgs_per_s: (HUB_PEERS * 1000) / intervalMs,
        peers_sent_per_s: delta('sent') / m.seconds,
        sends_skipped: delta('skipped'),
        msgs_in_per_s: m.received / m.seconds,
        msgs_out_per_s: m.sent / m.seconds,
        cpu_pct: (m.cpuUs / 1e6 / m.seconds) * 100,
        elu_pct: m.elu * 100,
        loop_delay_p50_ms: m.delayMs.p50,
        loop_delay_p99_ms: m.delayMs.p99,
        loop_delay_max_ms: m.delayMs.max,
        rtt_p50_ms: median(rtts.map((r) => r.p50)),
        rtt_p99_ms: Math.max(...rtts.map((r) => r.p99)),
        rss_mib: m.rss / MiB,
        rss_mib_before_peers: idleRss / MiB,
        window_s: m.seconds,
      })
    }
    return rows
  } finally {
    await Promise.all(workers.map((w) => w.stop()))
  }
}

/** The suite registered in bench/main.ts. */
export const serverSuite: Suite = {
  name: 'server',
  description: `${MESH_NODES}-node loopback mesh formation (time to >= ${MESH_TARGET} peers each, CPU and RSS per node); one node with ${HUB_PEERS} peers exchanging small messages (messages/s, event-loop delay)`,
  async run(opts: BenchOptions) {
    const quick = opts.minMs < 600
    const parts = (process.env.SERVER_BENCH_PARTS ?? 'mesh,hub').split(',')
    const rows: BenchRow[] = []
    if (parts.includes('mesh')) rows.push(...(await meshRows(quick ? 3000 : 5000)))
    if (parts.includes('hub')) rows.push(...(await hubRows(quick ? 3000 : 5000)))
    return rows
  },
}

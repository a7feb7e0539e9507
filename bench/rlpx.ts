/**
 * The `rlpx` suite: our RLPx stack against @ethereumjs/devp2p 10, side by side in one run, each
 * implementation talking to its own kind over TCP on 127.0.0.1 between TWO processes: the server
 * is a child process (bench/rlpx-server.ts), the client runs in this process. Both servers run
 * at once and every measure is taken for both back to back, so load bursts on a shared machine
 * hit both sides of a ratio alike.
 *
 * 1. Full handshakes per second (TCP connect + auth/ack + one Hello each way, then close; our
 *    side is `setupConnection`) at concurrency 1 and 8, as geth's figure. `cli_cpu_us` /
 *    `srv_cpu_us`: CPU time per handshake in each process.
 * 2. Message throughput on one connection, 1 KiB / 64 KiB / 1 MiB payloads, snappy off (random
 *    payload) and on (half-compressible: 64 random bytes, 64 zero bytes...), counted as payload
 *    bytes the server received (end to end: the client syncs with the server after a warm-up and
 *    asks for its counters at the end). `cli_cpu_pct` / `srv_cpu_pct`: CPU use of each process
 *    (100 = one core); `wire_pct`: compressed size.
 * 3. Memory per connected idle peer on a fresh server: RSS with 100 idle peers minus before, /
 *    100 (after forced GCs), the RSS peak while they connect, and V8 heap growth; see
 *    {@link MEM_PINNED} for why the headline row pins V8's young generation.
 *
 * `other_cpu_pct` is the CPU that other processes of the machine used during a row (Linux): when
 * it is high, absolute figures are low; compare the ratios. Then ratio rows ours/ethereumjs
 * against the targets (≥15x handshakes, ≥10x 64 KiB throughput, ≤0.5x memory per peer). Each
 * measurement is bounded in time and count; the children are stopped in `finally` and exit by
 * themselves if this process goes away.
 *
 * `npm run bench -- rlpx` compiles the project (scripts/bench.mjs) and runs it compiled, the worker
 * too. From source (`node --import tsx bench/main.ts rlpx`) the worker runs under tsx, whose
 * `keepNames` wraps every named closure in `__name(...)`: a few KiB per idle peer that the
 * compiled package does not pay.
 *
 * Environment knobs (for profiling): RLPX_BENCH_IMPLS=ours|ethereumjs (default both),
 * RLPX_BENCH_PARTS=hs,tp,mem (default all), RLPX_BENCH_HS_CONC=1,8 (handshake concurrencies),
 * RLPX_BENCH_IDLE_PEERS=n and RLPX_BENCH_MEM_REPS=n (memory rows: peers, runs per median),
 * RLPX_BENCH_MEM_RATE=n (memory rows: at most n connections started per second; at 80/s the
 * rows run long enough for the idle peers' first pings),
 * RLPX_BENCH_HEAP_DIR=dir (heap snapshots of the memory rows), RLPX_BENCH_SMAPS_DIR=dir (copies of the
 * server's /proc/self/smaps at each memory point, for scripts/smaps-diff.mjs),
 * RLPX_BENCH_SERVER_FLAGS="--cpu-prof ..." (extra node flags for the server children).
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { once } from 'node:events'
import { readFileSync } from 'node:fs'
import type { Socket } from 'node:net'
import { fileURLToPath } from 'node:url'
import type { Peer as EjsPeer } from '@ethereumjs/devp2p'
import { generatePrivateKey, publicKeyFromPrivate } from '../src/crypto/index.js'
import type { RLPxConn } from '../src/rlpx/conn.js'
import { jsSnappy, nativeSnappy } from '../src/rlpx/snappy.js'
import { fromHex } from '../src/util/index.js'
import { type BenchOptions, type BenchRow, DEFAULT_OPTIONS, type Suite } from './harness.js'
import {
  BENCH_OFFSET,
  Code,
  type ConnMode,
  dial,
  EMPTY,
  ejsDialSetup,
  ejsDisableSnappy,
  ejsProtocol,
  type Identity,
  IMPLS,
  type Impl,
  type MemImpl,
  makePayload,
  ourDialSetup,
  parseResult,
  type ServerImpl,
  type TpResult,
} from './rlpx-common.js'

/** Under tsx the worker is run from source; when this suite was compiled to JS, compiled too. */
const COMPILED = import.meta.url.endsWith('.js')
const SERVER_SCRIPT = fileURLToPath(
  new URL(COMPILED ? './rlpx-server.js' : './rlpx-server.ts', import.meta.url),
)
const REPO_ROOT = fileURLToPath(new URL('..', import.meta.url))
const KiB = 1024
const MiB = 1024 * 1024
const TP_SIZES = [KiB, 64 * KiB, MiB]
/** Upper bound of handshakes per row (time is the normal limit). */
const MAX_HANDSHAKES = 200_000
/**
 * Handshakes a row's warm-up aims for (time-capped at 3 s: ethereumjs does about 50 a second).
 * Ours reaches its steady rate after about a thousand (JIT tiers, heap sizing): with 300, the
 * --quick rows read 13x where the full ones read 17x; with 1,500 both read the same.
 */
const WARMUP_HANDSHAKES = 1_500
/** Failed handshakes tolerated per row before the row is abandoned. */
const MAX_HANDSHAKE_ERRORS = 20

const now = (): number => performance.now()
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))

/** Reject after `ms` unless `p` settled (then run `onTimeout` to release what `p` waits on). */
async function bounded<T>(what: string, ms: number, p: Promise<T>, onTimeout?: () => void): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  try {
    return await Promise.race([
      p,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => {
          onTimeout?.()
          reject(new Error(`${what}: no result after ${ms} ms`))
        }, ms)
      }),
    ])
  } finally {
    clearTimeout(timer)
  }
}

// ---------------------------------------------------------------------------------------------
// The server child

interface MemReport {
  rss: number
  peakRss: number
  heapUsed: number
  /** V8 heap committed (used, free and fragmented). */
  heapTotal: number
  /** Physical memory of V8's young generation (part of heapTotal and RSS). */
  young: number
  external: number
  arrayBuffers: number
}
interface ServerStats {
  established: number
  failed: number
  open: number
  /** Server process CPU time (user + system), µs. */
  cpuUs: number
}

function cpuUs(): number {
  const c = process.cpuUsage()
  return c.user + c.system
}

/**
 * CPU time (µs) all processes of the machine used so far (Linux `/proc/stat`: user, nice, system,
 * irq, softirq, steal; 100 ticks/s), or undefined elsewhere. Minus ours, it shows how much other
 * load shared the cores during a row: figures from a busy machine are not comparable.
 */
function machineBusyUs(): number | undefined {
  try {
    const f = readFileSync('/proc/stat', 'latin1').split('\n', 1)[0]!.trim().split(/\s+/).slice(1).map(Number)
    const busy = f[0]! + f[1]! + f[2]! + f[5]! + f[6]! + f[7]!
    return Number.isFinite(busy) ? busy * 10_000 : undefined
  } catch {
    return undefined
  }
}

/** CPU % (100 = one core) used by other processes between two readings. */
function otherCpuPct(
  m0: number | undefined,
  m1: number | undefined,
  oursUs: number,
  seconds: number,
): number | undefined {
  if (m0 === undefined || m1 === undefined) return undefined
  return Math.max(0, Math.round((m1 - m0 - oursUs) / 1e4 / seconds))
}

class ServerChild {
  private nextId = 1
  // BOUNDED: one entry per request in flight (callers are sequential), each under a deadline.
  private readonly waiting = new Map<
    number,
    { resolve: (v: Record<string, unknown>) => void; reject: (e: Error) => void }
  >()

  private constructor(
    readonly impl: ServerImpl,
    private readonly proc: ChildProcess,
    readonly port: number,
    readonly publicKey: Uint8Array,
  ) {
    proc.on('message', (m: { id?: number }) => {
      const w = m.id === undefined ? undefined : this.waiting.get(m.id)
      if (w && m.id !== undefined) {
        this.waiting.delete(m.id)
        w.resolve(m as Record<string, unknown>)
      }
    })
    proc.once('exit', (code, signal) => {
      const err = new Error(`rlpx-server (${impl}) exited (${signal ?? code})`)
      for (const w of this.waiting.values()) w.reject(err)
      this.waiting.clear()
    })
  }

  static async start(
    impl: ServerImpl,
    maxMs: number,
    nodeFlags: readonly string[] = [],
  ): Promise<ServerChild> {
    const extra = [
      ...nodeFlags,
      ...(process.env.RLPX_BENCH_SERVER_FLAGS ?? '').split(' ').filter((f) => f !== ''),
    ]
    const proc = spawn(
      process.execPath,
      [
        ...extra,
        '--expose-gc',
        ...(COMPILED ? [] : ['--import', 'tsx']),
        SERVER_SCRIPT,
        `--impl=${impl}`,
        `--max-ms=${maxMs}`,
      ],
      { cwd: REPO_ROOT, stdio: ['ignore', 'ignore', 'inherit', 'ipc'] },
    )
    try {
      const ready = await bounded(
        `rlpx-server (${impl}) start`,
        20_000,
        new Promise<{ port: number; publicKey: string }>((resolve, reject) => {
          proc.on('message', (m: { type?: string; port: number; publicKey: string }) => {
            if (m.type === 'ready') resolve(m)
          })
          proc.once('exit', (code) => reject(new Error(`rlpx-server (${impl}) exited with ${code}`)))
          proc.once('error', reject)
        }),
      )
      return new ServerChild(impl, proc, ready.port, fromHex(ready.publicKey))
    } catch (e) {
      proc.kill('SIGKILL')
      throw e
    }
  }

  request<T>(cmd: string, extra: object = {}): Promise<T> {
    const id = this.nextId++
    return bounded(
      `rlpx-server ${cmd}`,
      10_000,
      new Promise<T>((resolve, reject) => {
        if (!this.proc.connected) throw new Error(`rlpx-server (${this.impl}) is gone`)
        this.waiting.set(id, { resolve: resolve as (v: Record<string, unknown>) => void, reject })
        this.proc.send({ id, cmd, ...extra })
      }),
      () => this.waiting.delete(id),
    )
  }

  stats(): Promise<ServerStats> {
    return this.request<ServerStats>('stats')
  }

  mem(gc: boolean): Promise<MemReport> {
    return this.request<MemReport>('mem', { gc })
  }

  /** Ask the child to exit (so `--cpu-prof` profiles are written); kill it if it does not. */
  async stop(): Promise<void> {
    const p = this.proc
    if (p.exitCode !== null || p.signalCode !== null) return
    const exited = once(p, 'exit')
    try {
      if (p.connected) p.send({ id: 0, cmd: 'exit' })
      await bounded('rlpx-server exit', 3_000, exited)
    } catch {
      p.kill('SIGKILL')
    }
  }
}

// ---------------------------------------------------------------------------------------------
// The client side of each benchmark

function newIdentity(): Identity {
  const privateKey = generatePrivateKey()
  return { privateKey, publicKey: publicKeyFromPrivate(privateKey) }
}

/** One full handshake (connect, enc handshake, Hello each way), then close. */
function handshakeOnce(impl: Impl, server: ServerChild, id: Identity): Promise<void> {
  if (impl === 'ours')
    return ourDialSetup(server.port, id, server.publicKey, 'idle').then((r) => r.conn.close())
  return ejsDialSetup(server.port, id, server.publicKey, 'idle').then(({ socket }) => {
    socket.destroy()
  })
}

async function handshakeRow(
  impl: Impl,
  server: ServerChild,
  id: Identity,
  concurrency: number,
  ms: number,
  warmupMs: number,
): Promise<BenchRow> {
  let done = 0
  let errors = 0
  let lastError: unknown
  const loop = async (until: number, max: number): Promise<void> => {
    while (now() < until && done + errors < max) {
      try {
        await handshakeOnce(impl, server, id)
        done++
      } catch (e) {
        lastError = e
        if (++errors > MAX_HANDSHAKE_ERRORS)
          throw new Error(`handshakes (${impl}): ${errors} failures`, { cause: e })
      }
    }
  }
  const run = async (until: number, max: number): Promise<void> => {
    await Promise.all(Array.from({ length: concurrency }, () => loop(until, max)))
  }
  // Warm-up: at least one handshake per worker, `warmupMs`, and then up to WARMUP_HANDSHAKES in
  // all (at most 3 s more).
  await run(now() + warmupMs, concurrency)
  await run(now() + warmupMs, MAX_HANDSHAKES)
  if (done < WARMUP_HANDSHAKES) await run(now() + 3_000, WARMUP_HANDSHAKES)
  done = 0
  errors = 0
  const before = await server.stats()
  const m0 = machineBusyUs()
  const c0 = cpuUs()
  const t0 = now()
  await run(t0 + ms, MAX_HANDSHAKES)
  const elapsed = now() - t0
  const c1 = cpuUs()
  const after = await server.stats()
  const m1 = machineBusyUs()
  // The server completes its side just after the client: give the count a moment.
  await sleep(50)
  const counted = await server.stats()
  const row: BenchRow = {
    name: `handshake c=${concurrency}`,
    impl,
    ops_per_s: (done * 1000) / elapsed,
    handshakes: done,
    server_ok: counted.established - before.established,
    // CPU time per handshake on each side.
    cli_cpu_us: Math.round((c1 - c0) / Math.max(1, done)),
    srv_cpu_us: Math.round((after.cpuUs - before.cpuUs) / Math.max(1, done)),
    other_cpu_pct: otherCpuPct(m0, m1, c1 - c0 + after.cpuUs - before.cpuUs, elapsed / 1000),
  }
  if (errors > 0) {
    row.errors = errors
    row.last_error = String(lastError instanceof Error ? lastError.message : lastError)
  }
  if (counted.failed > before.failed) row.server_failed = counted.failed - before.failed
  return row
}

/** A throughput client: send Data for a while, sync with the server, get its counters. */
interface TpClient {
  /** Send Data messages until `until`; returns how many. */
  sendUntil(until: number): Promise<number>
  /** Send `code` (empty payload) and wait for the server's message `reply`. */
  call(code: number, reply: number): Promise<Uint8Array>
  close(): void
}

async function ourTpClient(
  server: ServerChild,
  id: Identity,
  payload: Uint8Array,
  snappy: boolean,
): Promise<TpClient> {
  const mode: ConnMode = snappy ? 'tp-snappy' : 'tp-raw'
  const r = await ourDialSetup(server.port, id, server.publicKey, mode)
  const conn: RLPxConn = r.conn
  conn.setSnappy(snappy)
  const data = BENCH_OFFSET + Code.Data
  return {
    async sendUntil(until) {
      let n = 0
      while (now() < until) {
        await conn.writeMsg(data, payload)
        n++
      }
      return n
    },
    async call(code, reply) {
      await conn.writeMsg(BENCH_OFFSET + code, EMPTY)
      const m = await conn.readMsg()
      if (m.code !== BENCH_OFFSET + reply)
        throw new Error(`expected code ${BENCH_OFFSET + reply}, got ${m.code}`)
      return m.payload
    },
    close: () => conn.close(),
  }
}

async function ejsTpClient(
  server: ServerChild,
  id: Identity,
  payload: Uint8Array,
  snappy: boolean,
): Promise<TpClient> {
  const mode: ConnMode = snappy ? 'tp-snappy' : 'tp-raw'
  const { peer, socket }: { peer: EjsPeer; socket: Socket } = await ejsDialSetup(
    server.port,
    id,
    server.publicKey,
    mode,
  )
  if (!snappy) ejsDisableSnappy(peer)
  const proto = ejsProtocol(peer)
  const compress = jsSnappy().compress
  let waiter: { code: number; resolve: (p: Uint8Array) => void } | undefined
  proto.onMessage((code, p) => {
    if (waiter?.code === code) {
      const w = waiter
      waiter = undefined
      w.resolve(p)
    }
  })
  return {
    async sendUntil(until) {
      let n = 0
      while (now() < until) {
        // ethereumjs sub-protocols compress what they send themselves (its ETH protocol does).
        proto.send(Code.Data, snappy ? compress(payload) : payload)
        n++
        // Its Peer ignores backpressure; wait for the socket as a real sender must.
        if (socket.writableNeedDrain) await once(socket, 'drain')
      }
      return n
    },
    call(code, reply) {
      return new Promise((resolve, reject) => {
        waiter = { code: reply, resolve }
        socket.once('close', () => reject(new Error('ethereumjs: connection closed')))
        proto.send(code, snappy ? compress(EMPTY) : EMPTY)
      })
    },
    close: () => socket.destroy(),
  }
}

async function throughputRow(
  impl: Impl,
  server: ServerChild,
  id: Identity,
  size: number,
  snappy: boolean,
  ms: number,
  warmupMs: number,
): Promise<BenchRow> {
  const payload = makePayload(size, snappy)
  const client = await (impl === 'ours' ? ourTpClient : ejsTpClient)(server, id, payload, snappy)
  try {
    return await bounded(
      `throughput ${impl} ${size} B`,
      ms + warmupMs + 30_000,
      (async () => {
        await client.sendUntil(now() + warmupMs)
        await client.call(Code.Sync, Code.SyncAck)
        const s0 = await server.stats()
        const m0 = machineBusyUs()
        const c0 = cpuUs()
        const t0 = now()
        const sent = await client.sendUntil(t0 + ms)
        const res: TpResult = parseResult(await client.call(Code.End, Code.Result))
        const seconds = (now() - t0) / 1000
        const c1 = cpuUs()
        const s1 = await server.stats()
        const m1 = machineBusyUs()
        if (res.msgs !== sent) throw new Error(`sent ${sent} messages, the server counted ${res.msgs}`)
        const row: BenchRow = {
          name: `throughput ${sizeLabel(size)} snappy ${snappy ? 'on' : 'off'}`,
          impl,
          ops_per_s: res.msgs / seconds,
          mb_per_s: res.bytes / 1e6 / seconds,
          msgs: res.msgs,
          // CPU use of each process during the measurement (100 = one core busy).
          cli_cpu_pct: Math.round((c1 - c0) / 1e4 / seconds),
          srv_cpu_pct: Math.round((s1.cpuUs - s0.cpuUs) / 1e4 / seconds),
          other_cpu_pct: otherCpuPct(m0, m1, c1 - c0 + s1.cpuUs - s0.cpuUs, seconds),
        }
        if (snappy) {
          // Wire size: as counted by our server, or as ethereumjs' sender compresses it.
          const wire = impl === 'ours' ? res.wire / res.bytes : jsSnappy().compress(payload).length / size
          row.wire_pct = Math.round(wire * 1000) / 10
        }
        return row
      })(),
      () => client.close(),
    )
  } finally {
    client.close()
  }
}

function sizeLabel(n: number): string {
  return n >= MiB ? `${n / MiB} MiB` : n >= KiB ? `${n / KiB} KiB` : `${n} B`
}

interface Held {
  close(): void
}

async function holdIdlePeer(impl: MemImpl, server: ServerChild, id: Identity): Promise<Held> {
  if (impl === 'socket') {
    const socket = await dial(server.port)
    socket.on('error', () => {})
    return { close: () => socket.destroy() }
  }
  if (impl === 'ours' || impl === 'ours-handler') {
    const mode = impl === 'ours' ? 'idle' : 'idle-handler'
    const r = await ourDialSetup(server.port, id, server.publicKey, mode)
    return { close: () => r.conn.close() }
  }
  const { socket } = await ejsDialSetup(server.port, id, server.publicKey, 'idle')
  return { close: () => socket.destroy() }
}

/** Connect `count` more idle peers (8 at a time) into `held`; resolves once the server counts them. */
async function connectIdle(
  impl: MemImpl,
  server: ServerChild,
  id: Identity,
  held: Held[],
  count: number,
  /** At most this many connections started per second (undefined: as fast as they complete). */
  perSecond?: number,
): Promise<void> {
  const target = held.length + count
  const first = held.length
  let started = held.length
  const t0 = now()
  await bounded(
    `${count} idle peers (${impl})`,
    120_000,
    Promise.all(
      Array.from({ length: 8 }, async () => {
        while (started < target) {
          if (perSecond !== undefined) {
            const at = t0 + ((started - first) * 1000) / perSecond
            if (at > now()) await sleep(at - now())
            if (started >= target) break
          }
          started++
          held.push(await holdIdlePeer(impl, server, id))
        }
      }),
    ),
  )
  // The server's side of the last Hellos may still be in flight.
  for (let i = 0; i < 100 && (await server.stats()).open < target; i++) await sleep(20)
}

/**
 * The two memory measurements. The young generation grows (up to 2 x 16 MiB semi-spaces, by
 * V8's own heuristics) under the handshakes' garbage, by megabytes from run to run, whichever
 * the implementation: a per-process allowance, not a per-peer cost. So the headline row pins the
 * semi-space at 1 MiB (`--max-semi-space-size=1`, both implementations alike); the second row
 * (left out by --quick) uses V8's defaults, as a node would run.
 */
interface MemVariant {
  readonly name: string
  readonly nodeFlags: readonly string[]
  /** Connections started per second at most (default: as fast as they complete). */
  readonly connectsPerSecond?: number
}
const MEM_PINNED: MemVariant = {
  name: 'idle peers, server memory per peer',
  nodeFlags: ['--max-semi-space-size=1'],
}
const MEM_DEFAULT: MemVariant = {
  name: 'idle peers, server memory per peer, V8 defaults',
  nodeFlags: [],
}
/** Steps of the memory measurement (a fit over `MEM_STEPS + 1` points). */
const MEM_STEPS = 4
/**
 * Wait after each step before measuring, the same for every implementation: the rows measure
 * idle peers, and ours release their cipher contexts after 1-2 s without traffic (RLPxConn
 * `idleCipherReleaseMs`, default 1 s).
 */
const MEM_SETTLE_MS = 2_500

/** Least-squares slope of `y` over `x`, and R². */
function fit(x: readonly number[], y: readonly number[]): { slope: number; r2: number } {
  const n = x.length
  const mx = x.reduce((a, b) => a + b, 0) / n
  const my = y.reduce((a, b) => a + b, 0) / n
  let sxy = 0
  let sxx = 0
  let syy = 0
  for (let i = 0; i < n; i++) {
    sxy += (x[i]! - mx) * (y[i]! - my)
    sxx += (x[i]! - mx) ** 2
    syy += (y[i]! - my) ** 2
  }
  const slope = sxy / sxx
  return { slope, r2: syy === 0 ? 1 : (sxy * sxy) / (sxx * syy) }
}

/**
 * Server memory per connected idle peer, on a fresh server: 4 handshakes (to load the code), then
 * `peers` idle peers connected in {@link MEM_STEPS} steps, with RSS, V8 heap used and external
 * memory read after forced GCs {@link MEM_SETTLE_MS} after each step. The figures are least-squares slopes over the
 * steps' points (KiB per peer; the first step, which also pays one-time costs, is the fit's
 * start): `kib_per_peer` (RSS, with its R²), `heap_kib_per_peer`, `ext_kib_per_peer`,
 * `rss_excl_young_kib_per_peer` (RSS less V8's young generation, whose size is V8's per-process
 * choice); and
 * `peak_kib_per_peer`, the highest RSS sampled (every 5 ms) while they connected, minus the
 * start, / peers. No warm-up round of peers: memory freed by closed peers is reused by the next
 * ones without growing RSS, which would hide what a peer costs. A two-point difference over 100
 * peers moved by ±10 KiB per peer from run to run; the fit over more peers is the stable figure.
 */
async function memoryRow(
  impl: MemImpl,
  server: ServerChild,
  id: Identity,
  v: MemVariant,
  peers: number,
): Promise<BenchRow> {
  const held: Held[] = []
  try {
    for (let i = 0; i < 4; i++) (await holdIdlePeer(impl, server, id)).close()
    await sleep(300)
    await server.mem(true)
    await server.request('mark')
    const xs: number[] = []
    const rss: number[] = []
    const heap: number[] = []
    const heapTotal: number[] = []
    const ext: number[] = []
    const rssOld: number[] = []
    const point = async (): Promise<MemReport> => {
      const m = await server.mem(true)
      xs.push(held.length)
      rss.push(m.rss / KiB)
      rssOld.push((m.rss - m.young) / KiB)
      heap.push(m.heapUsed / KiB)
      heapTotal.push(m.heapTotal / KiB)
      ext.push(m.external / KiB)
      return m
    }
    const start = await point()
    await snapshot(server, `${impl}-before`)
    const t0 = now()
    let connectMs = 0
    let peak = 0
    for (let step = 1; step <= MEM_STEPS; step++) {
      const t = now()
      await connectIdle(
        impl,
        server,
        id,
        held,
        Math.round((peers * step) / MEM_STEPS) - held.length,
        v.connectsPerSecond ??
          (process.env.RLPX_BENCH_MEM_RATE ? Number(process.env.RLPX_BENCH_MEM_RATE) : undefined),
      )
      connectMs += now() - t
      await sleep(MEM_SETTLE_MS)
      peak = Math.max(peak, (await server.mem(false)).peakRss)
      await point()
    }
    await snapshot(server, `${impl}-after`)
    const open = (await server.stats()).open
    // The fit leaves out the start: the first step also pays one-time costs (code, caches).
    xs.shift()
    rss.shift()
    heap.shift()
    heapTotal.shift()
    ext.shift()
    rssOld.shift()
    const r = fit(xs, rss)
    return {
      name: v.name,
      impl,
      peers,
      server_open: open,
      kib_per_peer: r.slope,
      rss_r2: Math.round(r.r2 * 1000) / 1000,
      peak_kib_per_peer: (Math.max(peak, start.peakRss) - start.rss) / KiB / peers,
      heap_kib_per_peer: fit(xs, heap).slope,
      heap_total_kib_per_peer: fit(xs, heapTotal).slope,
      ext_kib_per_peer: fit(xs, ext).slope,
      rss_excl_young_kib_per_peer: fit(xs, rssOld).slope,
      rss_start_mib: start.rss / MiB,
      connect_ms: Math.round(connectMs),
      total_ms: Math.round(now() - t0),
    }
  } finally {
    for (const h of held.splice(0)) h.close()
  }
}

/**
 * With RLPX_BENCH_HEAP_DIR set, the server writes a V8 heap snapshot there before and after the
 * measured peers connect (`<impl>-before|after.heapsnapshot`): `scripts/heap-diff.mjs` shows what
 * each peer keeps, by constructor and by closure.
 */
async function snapshot(server: ServerChild, name: string): Promise<void> {
  const dir = process.env.RLPX_BENCH_HEAP_DIR
  if (dir) await server.request('snapshot', { path: `${dir}/${name}.heapsnapshot` })
}

/** The median of each numeric field over `rows` (same name and impl); `kib_per_peer_runs` lists them all. */
function medianRow(rows: readonly BenchRow[]): BenchRow {
  const first = rows[0]!
  if (rows.length === 1) return first
  const out: BenchRow = { ...first, runs: rows.length }
  for (const [k, v] of Object.entries(first)) {
    if (typeof v !== 'number') continue
    const xs = rows
      .map((r) => r[k])
      .filter((x): x is number => typeof x === 'number')
      .sort((a, b) => a - b)
    out[k] = xs[Math.floor(xs.length / 2)]!
  }
  out.kib_per_peer_runs = rows.map((r) => Number(r.kib_per_peer).toFixed(2)).join(' / ')
  return out
}

// ---------------------------------------------------------------------------------------------
// The suite

function ratioRow(
  name: string,
  ours: BenchRow | undefined,
  theirs: BenchRow | undefined,
  field: string,
  /** Absent: shown for information, not judged. */
  target?: { min?: number; max?: number },
): BenchRow | undefined {
  const a = ours?.[field]
  const b = theirs?.[field]
  if (typeof a !== 'number' || typeof b !== 'number' || b === 0) return undefined
  const ratio = a / b
  const row: BenchRow = {
    name: `ratio ${name}`,
    impl: 'ours/ethereumjs',
    ratio: Math.round(ratio * 100) / 100,
  }
  if (target === undefined) {
    row.target = 'info'
    return row
  }
  const ok =
    (target.min === undefined || ratio >= target.min) && (target.max === undefined || ratio <= target.max)
  // A negative or zero figure (RSS can shrink while peers connect) is noise, not a result.
  const meaningful = a > 0 && b > 0
  row.target = target.min !== undefined ? `>=${target.min}x` : `<=${target.max}x`
  row.met = !meaningful ? 'n/a (noise)' : ok ? 'yes' : 'NO'
  return row
}

async function runRlpx(opts: BenchOptions): Promise<BenchRow[]> {
  const impls = (process.env.RLPX_BENCH_IMPLS?.split(',') ?? IMPLS).filter((i): i is Impl =>
    IMPLS.includes(i as Impl),
  )
  const parts = new Set(process.env.RLPX_BENCH_PARTS?.split(',') ?? ['hs', 'tp', 'mem'])
  const concurrencies = (process.env.RLPX_BENCH_HS_CONC?.split(',') ?? ['1', '8'])
    .map(Number)
    .filter((c) => Number.isInteger(c) && c > 0 && c <= 64)
  // Default timing (min 600 ms): 3 s per handshake row, 2 s per throughput row; --quick: 1/4.
  const hsMs = opts.minMs * 5
  const tpMs = Math.round((opts.minMs * 10) / 3)
  const warmupMs = Math.max(100, opts.warmupMs * 2)
  const serverMaxMs = 60_000 + 20 * (hsMs + tpMs + warmupMs)
  const id = newIdentity()
  if (nativeSnappy() === undefined) console.error('rlpx bench: native snappy unavailable, ours uses snappyjs')

  const byImpl = new Map<Impl, BenchRow[]>(impls.map((i) => [i, []]))
  if (parts.has('hs') || parts.has('tp')) {
    // Both servers up at once, and each measure run for both implementations back to back, so a
    // burst of load on this (shared) machine hits both sides of a ratio alike.
    const servers = new Map<Impl, ServerChild>()
    const each = async (f: (impl: Impl, server: ServerChild) => Promise<BenchRow>): Promise<void> => {
      for (const impl of impls) byImpl.get(impl)!.push(await f(impl, servers.get(impl)!))
    }
    try {
      for (const impl of impls) servers.set(impl, await ServerChild.start(impl, serverMaxMs))
      if (parts.has('hs'))
        for (const c of concurrencies)
          await each((impl, srv) => handshakeRow(impl, srv, id, c, hsMs, warmupMs))
      if (parts.has('tp'))
        for (const snappy of [false, true])
          for (const size of TP_SIZES)
            await each((impl, srv) => throughputRow(impl, srv, id, size, snappy, tpMs, warmupMs))
    } finally {
      for (const srv of servers.values()) await srv.stop()
    }
  }
  // The V8-defaults row only adds noise-bound figures: --quick leaves it out.
  const quick = opts.minMs < DEFAULT_OPTIONS.minMs / 2
  // Idle peers for the memory rows: 800 (ethereumjs takes about 10 s per 1,000), 200 with --quick.
  const idlePeers = Number(process.env.RLPX_BENCH_IDLE_PEERS ?? (quick ? 200 : 800))
  // Each memory row is the median of this many runs (each on a fresh server, the implementations
  // taking turns so that a busy moment of the machine does not land on one of them only).
  const memReps = Number(process.env.RLPX_BENCH_MEM_REPS ?? (quick ? 1 : 3))
  // Ours runs twice: with a loop-style protocol (run/readMsg, geth's way) and a handler-style one
  // (onMsg, ethereumjs's way: the like-for-like comparison).
  const memImpls: MemImpl[] = [
    ...impls,
    ...(impls.includes('ours') ? (['ours-handler'] as const) : []),
    'socket',
  ]
  const floorRows: BenchRow[] = []
  const handlerRows: BenchRow[] = []
  if (parts.has('mem'))
    for (const v of quick ? [MEM_PINNED] : [MEM_PINNED, MEM_DEFAULT]) {
      const runs = new Map<MemImpl, BenchRow[]>()
      for (let rep = 0; rep < memReps; rep++)
        for (const impl of memImpls) {
          // A fresh server: memory freed by earlier rows must not hide the peers' cost.
          const serverImpl: ServerImpl = impl === 'ours-handler' ? 'ours' : impl
          const server = await ServerChild.start(serverImpl, serverMaxMs + 240_000, v.nodeFlags)
          try {
            runs.set(impl, [...(runs.get(impl) ?? []), await memoryRow(impl, server, id, v, idlePeers)])
          } finally {
            await server.stop()
          }
        }
      for (const [impl, rows] of runs) {
        const row = medianRow(rows)
        if (impl === 'socket') floorRows.push({ ...row, impl: 'floor: net.Socket alone' })
        else if (impl === 'ours-handler') handlerRows.push({ ...row, impl: 'ours, onMsg protocol' })
        else byImpl.get(impl)!.push(row)
      }
    }

  // Interleave: each measure, ours then ethereumjs, each ours row with its ratio.
  const out: BenchRow[] = []
  const names = [...new Set([...byImpl.values()].flat().map((r) => r.name))]
  const find = (impl: Impl, name: string): BenchRow | undefined =>
    byImpl.get(impl)?.find((r) => r.name === name)
  for (const name of names) {
    const o = find('ours', name)
    const t = find('ethereumjs', name)
    if (o && t) {
      const f =
        o.mb_per_s !== undefined ? 'mb_per_s' : o.ops_per_s !== undefined ? 'ops_per_s' : 'kib_per_peer'
      const a = o[f]
      const b = t[f]
      if (typeof a === 'number' && typeof b === 'number' && b !== 0) o.x_ethereumjs = a / b
    }
    if (o) out.push(o)
    if (t) out.push(t)
    const handler = handlerRows.find((r) => r.name === name)
    if (handler) out.push(handler)
    const floor = floorRows.find((r) => r.name === name)
    if (floor) out.push(floor)
  }
  const ratios = [
    ratioRow(
      'handshake/s c=1',
      find('ours', 'handshake c=1'),
      find('ethereumjs', 'handshake c=1'),
      'ops_per_s',
      {
        min: 15,
      },
    ),
    ratioRow(
      'handshake/s c=8',
      find('ours', 'handshake c=8'),
      find('ethereumjs', 'handshake c=8'),
      'ops_per_s',
      {
        min: 15,
      },
    ),
    ratioRow(
      'MB/s 64 KiB snappy off',
      find('ours', 'throughput 64 KiB snappy off'),
      find('ethereumjs', 'throughput 64 KiB snappy off'),
      'mb_per_s',
      { min: 10 },
    ),
    ratioRow(
      'MB/s 64 KiB snappy on',
      find('ours', 'throughput 64 KiB snappy on'),
      find('ethereumjs', 'throughput 64 KiB snappy on'),
      'mb_per_s',
      { min: 10 },
    ),
    // Memory, judged for both protocol styles: RSS and V8 heap per idle peer.
    ...(
      [
        ['', find('ours', MEM_PINNED.name)],
        [', ours with an onMsg protocol', handlerRows.find((r) => r.name === MEM_PINNED.name)],
      ] as const
    ).flatMap(([label, ours]) =>
      (
        [
          ['RSS/peer', 'kib_per_peer'],
          ['V8 heap/peer', 'heap_kib_per_peer'],
        ] as const
      ).map(([what, field]) =>
        ratioRow(`${what}${label}`, ours, find('ethereumjs', MEM_PINNED.name), field, { max: 0.5 }),
      ),
    ),
    ratioRow(
      'peak RSS/peer',
      find('ours', MEM_PINNED.name),
      find('ethereumjs', MEM_PINNED.name),
      'peak_kib_per_peer',
    ),
    ratioRow(
      'RSS/peer, V8 defaults',
      find('ours', MEM_DEFAULT.name),
      find('ethereumjs', MEM_DEFAULT.name),
      'kib_per_peer',
    ),
    // V8 grows the young generation once (by up to 2 x 16 MiB) when the allocation rate calls
    // for it: inside the measured steps for one implementation and before them for the other,
    // from run to run. Without it, what stays is what the peers keep.
    ratioRow(
      'RSS/peer excluding the young generation, V8 defaults',
      find('ours', MEM_DEFAULT.name),
      find('ethereumjs', MEM_DEFAULT.name),
      'rss_excl_young_kib_per_peer',
    ),
  ]
  for (const r of ratios) if (r) out.push(r)
  // What each implementation adds above the floor every Node TCP connection costs.
  const o = find('ours', MEM_PINNED.name)?.kib_per_peer
  const t = find('ethereumjs', MEM_PINNED.name)?.kib_per_peer
  const f = floorRows.find((r) => r.name === MEM_PINNED.name)?.kib_per_peer
  if (typeof o === 'number' && typeof t === 'number' && typeof f === 'number' && t > f)
    out.push({
      name: 'ratio RSS/peer above the socket floor',
      impl: 'ours/ethereumjs',
      ratio: Math.round(((o - f) / (t - f)) * 100) / 100,
      target: 'info',
    })
  return out
}

export const rlpxSuite: Suite = {
  name: 'rlpx',
  description:
    'RLPx over TCP 127.0.0.1, server in a child process: handshakes/s, throughput, RSS per idle peer; ours vs @ethereumjs/devp2p',
  run: runRlpx,
}

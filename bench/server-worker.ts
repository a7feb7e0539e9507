/**
 * Worker process of the `server` benchmark suite (bench/server.ts), one role per process:
 *
 *   node --expose-gc --import tsx bench/server-worker.ts --role=mesh|hub|driver --max-ms=N
 *
 *  - `mesh` (`start`, `stats`, `mem`): `count` Servers with discv4 on 127.0.0.1, bootstrapped
 *    from the given bootnode; peer/table sizes, setup metrics, CPU, event-loop figures, memory.
 *  - `hub` (`start`, `stats`, `measure`): ONE Server (no discovery, no dialing, maxPeers above
 *    the peer count) running the `bench/1` echo protocol; `measure` takes messages/s, CPU, and
 *    its own event-loop delay (perf_hooks `monitorEventLoopDelay`) and utilisation over a window.
 *  - `driver` (`start`, `stats`, `rate`, `rtt`): `count` peers dialing the hub with
 *    `setupConnection` + `Peer` (each its own identity), each sending a `size`-byte `bench/1`
 *    message every `intervalMs` (random phase; `rate` changes it) and timing the hub's echo.
 *
 * It talks to its parent over IPC only (stdout stays clean for `--json`):
 *
 *   → {type: 'ready'}                        once loaded
 *   ← {id, cmd, ...args}  → {id, ...result}  or {id, error}
 *   ← {id, cmd: 'exit'}                      stops its servers and peers, exits
 *
 * and exits by itself when the parent goes away (IPC disconnect) or after `--max-ms`.
 */
import { createConnection, type Socket } from 'node:net'
import { createHistogram, type IntervalHistogram, monitorEventLoopDelay, performance } from 'node:perf_hooks'
import { generatePrivateKey, publicKeyFromPrivate } from '../src/crypto/index.js'
import { parseNode } from '../src/enode/index.js'
import {
  BASE_PROTOCOL_VERSION,
  type Hello,
  matchProtocols,
  Peer,
  type Protocol,
  Server,
  setupConnection,
} from '../src/p2p/index.js'
import { fromHex, systemClock, toHex } from '../src/util/index.js'

function arg(name: string): string | undefined {
  const p = `--${name}=`
  return process.argv.find((a) => a.startsWith(p))?.slice(p.length)
}

const role = arg('role')
if (role !== 'mesh' && role !== 'hub' && role !== 'driver')
  throw new Error('--role: expected mesh, hub or driver')
const maxMs = Number(arg('max-ms') ?? 90_000)
if (!process.send) throw new Error('server-worker must be started with an IPC channel')

/** A request from the parent. */
type Cmd = { id: number; cmd: string } & Record<string, unknown>
type Handler = (m: Cmd) => Promise<object> | object

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))

function cpuUs(): number {
  const c = process.cpuUsage()
  return c.user + c.system
}

function gc(): void {
  const g = (globalThis as { gc?: () => void }).gc
  if (g) {
    g()
    g()
  }
}

function mem(): { rss: number; heapUsed: number } {
  const u = process.memoryUsage()
  return { rss: u.rss, heapUsed: u.heapUsed }
}

// ---------------------------------------------------------------------------------------------
// mesh: many Servers with discv4

const meshServers: Server[] = []
const meshDelay = monitorEventLoopDelay({ resolution: 1 })
let meshElu0 = performance.eventLoopUtilization()

const mesh: Record<string, Handler> = {
  async start(m) {
    const count = m.count as number
    const boot = parseNode(m.bootnode as string)
    const maxPeers = m.maxPeers as number
    gc()
    const before = mem()
    const cpu0 = cpuUs()
    meshDelay.enable()
    meshElu0 = performance.eventLoopUtilization()
    // Started together, as the nodes of a network coming up.
    const started = await Promise.all(
      Array.from({ length: count }, (_, i) =>
        Server.start({
          privateKey: generatePrivateKey(),
          name: `devp2p-ts/bench-${m.tag as string}-${i}`,
          listenAddr: '127.0.0.1:0',
          bootnodes: [boot],
          maxPeers,
        }),
      ),
    )
    meshServers.push(...started)
    return { before, cpuStartUs: cpu0, cpuUs: cpuUs() }
  },
  /** Counters and peer/table sizes; event-loop figures since the last `reset`. */
  stats(m) {
    let setups = 0
    let setupSeconds = 0
    let dialsFailed = 0
    for (const s of meshServers) {
      for (const direction of ['inbound', 'outbound']) {
        setups += s.metrics.count('p2p_handshake_duration_seconds', { direction })
        setupSeconds += s.metrics.get('p2p_handshake_duration_seconds', { direction })
      }
      dialsFailed +=
        s.metrics.total('p2p_dials_total') - s.metrics.get('p2p_dials_total', { result: 'success' })
    }
    const loop = {
      elu: performance.eventLoopUtilization(meshElu0).utilization,
      delayMs: histSummary(meshDelay, 1e6),
    }
    if (m.reset === true) {
      meshDelay.reset()
      meshElu0 = performance.eventLoopUtilization()
    }
    return {
      ...loop,
      setups,
      setupSeconds,
      dialsFailed,
      peers: meshServers.map((s) => s.peerCount()),
      outbound: meshServers.map((s) => s.peerCounts().outbound),
      tables: meshServers.map((s) => s.tableSize()),
      cpuUs: cpuUs(),
      ...mem(),
    }
  },
  mem(m) {
    if (m.gc === true) gc()
    return mem()
  },
}

// ---------------------------------------------------------------------------------------------
// hub: one Server with many peers

const hubCounters = { received: 0, sent: 0 }
let hub: Server | undefined

/** `bench/1` on the hub: count every message and echo it back as code 1. */
const echoBench: Protocol = {
  name: 'bench',
  version: 1,
  length: 2,
  async run(peer, rw) {
    for (;;) {
      const msg = await rw.readMsg({ signal: peer.signal })
      hubCounters.received++
      await rw.writeMsg(1, msg.payload, { signal: peer.signal })
      hubCounters.sent++
    }
  },
}

function histSummary(h: IntervalHistogram | ReturnType<typeof createHistogram>, scale: number) {
  return {
    p50: h.percentile(50) / scale,
    p99: h.percentile(99) / scale,
    max: h.max / scale,
    mean: h.mean / scale,
    count: h.count,
  }
}

const hubRole: Record<string, Handler> = {
  async start(m) {
    hub = await Server.start({
      privateKey: generatePrivateKey(),
      name: 'devp2p-ts/bench-hub',
      listenAddr: '127.0.0.1:0',
      maxPeers: m.maxPeers as number,
      noDiscovery: true,
      noDial: true,
      protocols: [echoBench],
    })
    gc()
    return { port: hub.port, publicKey: toHex(publicKeyFromPrivate(hub.config.privateKey)), ...mem() }
  },
  stats() {
    return { peers: hub?.peerCount() ?? 0, ...hubCounters, cpuUs: cpuUs(), ...mem() }
  },
  /** Measure for `ms`: messages in/out, CPU, event-loop delay and utilisation, memory. */
  async measure(m) {
    const ms = m.ms as number
    const delay = monitorEventLoopDelay({ resolution: 1 })
    const r0 = hubCounters.received
    const s0 = hubCounters.sent
    const c0 = cpuUs()
    const elu0 = performance.eventLoopUtilization()
    const t0 = performance.now()
    delay.enable()
    await sleep(ms)
    delay.disable()
    const seconds = (performance.now() - t0) / 1000
    const elu = performance.eventLoopUtilization(elu0)
    return {
      seconds,
      peers: hub?.peerCount() ?? 0,
      received: hubCounters.received - r0,
      sent: hubCounters.sent - s0,
      cpuUs: cpuUs() - c0,
      elu: elu.utilization,
      delayMs: histSummary(delay, 1e6),
      ...mem(),
    }
  },
}

// ---------------------------------------------------------------------------------------------
// driver: many peers sending small messages to the hub

const driverCounters = { connected: 0, failed: 0, open: 0, sent: 0, skipped: 0, echoes: 0 }
const rtt = createHistogram()
const driverPeers: Peer[] = []
const driverSockets: Socket[] = []

function dial(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = createConnection({ port, host: '127.0.0.1' }, () => {
      s.off('error', reject)
      s.on('error', () => {})
      resolve(s)
    })
    s.once('error', reject)
  })
}

/** The send interval of every driver peer (ms); the `rate` command changes it. */
let sendIntervalMs = 50

/**
 * `bench/1` on a driver peer: a `size`-byte message every {@link sendIntervalMs} (random first
 * phase; a chain of timeouts, so a new interval applies from the next send), echoes timed.
 * A send due while the previous one is still being written is skipped and counted.
 */
function senderProtocol(size: number): Protocol {
  return {
    name: 'bench',
    version: 1,
    length: 2,
    async run(peer, rw) {
      let inflight = false
      const tick = (): void => {
        if (inflight) {
          driverCounters.skipped++
          return
        }
        inflight = true
        const payload = new Uint8Array(size)
        new DataView(payload.buffer).setFloat64(0, performance.now())
        rw.writeMsg(0, payload, { signal: peer.signal }).then(
          () => {
            inflight = false
            driverCounters.sent++
          },
          () => {},
        )
      }
      let timer: NodeJS.Timeout | undefined
      const next = (): void => {
        tick()
        timer = setTimeout(next, sendIntervalMs)
      }
      timer = setTimeout(next, Math.floor(Math.random() * sendIntervalMs))
      try {
        for (;;) {
          const msg = await rw.readMsg({ signal: peer.signal })
          driverCounters.echoes++
          const sentAt = new DataView(msg.payload.buffer, msg.payload.byteOffset, 8).getFloat64(0)
          rtt.record(Math.max(1, Math.round((performance.now() - sentAt) * 1000)))
        }
      } finally {
        clearTimeout(timer)
      }
    },
  }
}

async function connectOne(port: number, remote: Uint8Array, proto: Protocol, name: string): Promise<void> {
  const privateKey = generatePrivateKey()
  const socket = await dial(port)
  driverSockets.push(socket)
  const hello: Hello = {
    version: BASE_PROTOCOL_VERSION,
    name,
    caps: [{ name: proto.name, version: proto.version }],
    listenPort: 0,
    id: publicKeyFromPrivate(privateKey),
    rest: [],
  }
  const res = await setupConnection({
    socket,
    privateKey,
    remotePublicKey: remote,
    hello,
    clock: systemClock,
    timeoutMs: 10_000,
  })
  const peer = new Peer({
    transport: res.transport,
    hello: res.hello,
    protocols: matchProtocols([proto], res.hello.caps),
    inbound: false,
    clock: systemClock,
  })
  driverPeers.push(peer)
  driverCounters.open++
  void peer.run().then(() => {
    driverCounters.open--
  })
}

const driver: Record<string, Handler> = {
  async start(m) {
    const port = m.port as number
    const remote = fromHex(m.publicKey as string)
    const count = m.count as number
    const concurrency = m.concurrency as number
    sendIntervalMs = m.intervalMs as number
    const proto = senderProtocol(m.size as number)
    let next = 0
    const lane = async (): Promise<void> => {
      while (next < count) {
        const i = next++
        try {
          await connectOne(port, remote, proto, `devp2p-ts/bench-${m.tag as string}-${i}`)
          driverCounters.connected++
        } catch {
          driverCounters.failed++
        }
      }
    }
    await Promise.all(Array.from({ length: Math.min(concurrency, count) }, lane))
    return { ...driverCounters }
  },
  stats() {
    return { ...driverCounters, cpuUs: cpuUs(), ...mem() }
  },
  /** Change the send interval of every peer. */
  rate(m) {
    sendIntervalMs = m.intervalMs as number
    return {}
  },
  /** The echo round-trip times since the last `rtt` (ms), then reset. */
  rtt() {
    const s = histSummary(rtt, 1000)
    rtt.reset()
    return s
  },
}

// ---------------------------------------------------------------------------------------------

const handlers: Record<string, Handler> = role === 'mesh' ? mesh : role === 'hub' ? hubRole : driver

async function stopAll(): Promise<void> {
  for (const p of driverPeers) p.disconnect(0x08)
  await Promise.race([
    Promise.allSettled([...meshServers, ...(hub ? [hub] : [])].map((s) => s.stop())),
    sleep(5_000),
  ])
  for (const s of driverSockets) s.destroy()
}

let exiting = false
function exit(code: number): void {
  if (exiting) return
  exiting = true
  void stopAll().finally(() => process.exit(code))
}

process.on('message', (m: Cmd) => {
  if (m.cmd === 'exit') {
    exit(0)
    return
  }
  const h = handlers[m.cmd]
  if (!h) {
    process.send?.({ id: m.id, error: `unknown command ${m.cmd} for role ${role}` })
    return
  }
  Promise.resolve()
    .then(() => h(m))
    .then(
      (r) => process.send?.({ id: m.id, ...r }),
      (e: unknown) => process.send?.({ id: m.id, error: e instanceof Error ? e.message : String(e) }),
    )
})
process.on('disconnect', () => exit(0))
setTimeout(() => {
  console.error(`server-worker (${role}): --max-ms=${maxMs} reached, exiting`)
  exit(3)
}, maxMs).unref()
process.send({ type: 'ready' })

/**
 * Server worker of the `rlpx` benchmark suite, run in its own process by bench/rlpx.ts:
 *
 *   node --expose-gc --import tsx bench/rlpx-server.ts --impl=ours|ethereumjs|socket --max-ms=N
 *
 * Listens on 127.0.0.1 (ephemeral port) with a fresh identity and accepts RLPx connections with
 * the chosen implementation: encryption handshake + Hello each way, then, by the mode the client
 * announced in its Hello name (see bench/rlpx-common.ts), an idle peer or a throughput sink.
 * It talks to its parent over the IPC channel only (stdout stays clean for `--json`):
 *
 *   → {type: 'ready', port, publicKey}                              once listening
 *   ← {id, cmd: 'stats'}      → {id, established, failed, open, cpuUs}
 *   ← {id, cmd: 'mark'}       → {id}                                 restart peak-RSS sampling
 *   ← {id, cmd: 'mem', gc}    → {id, rss, peakRss, heapUsed, heapTotal, young, external, arrayBuffers}
 *                                (with RLPX_BENCH_SMAPS_DIR set, a gc'd point also copies
 *                                /proc/self/smaps there: `<impl>-<pid>-<n>.txt`, for
 *                                scripts/smaps-diff.mjs)
 *   ← {id, cmd: 'snapshot', path} → {id, path}                     GC, then a V8 heap snapshot
 *   ← {id, cmd: 'exit'}                                              exits (cpu profiles written)
 *
 * It exits by itself when the parent goes away (IPC disconnect) or after `--max-ms`.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { createServer, type Socket } from 'node:net'
import { join } from 'node:path'
import { getHeapSpaceStatistics, writeHeapSnapshot } from 'node:v8'
import { generatePrivateKey, publicKeyFromPrivate } from '../src/crypto/index.js'
import { setupConnection } from '../src/p2p/transport.js'
import { systemClock, toHex } from '../src/util/index.js'
import {
  ejsPeer,
  ejsRemoteMode,
  ejsSink,
  type Identity,
  modeOfName,
  ourHello,
  ourRunIdlePeer,
  ourSink,
  SETUP_TIMEOUT_MS,
  type ServerImpl,
} from './rlpx-common.js'

function arg(name: string): string | undefined {
  const p = `--${name}=`
  return process.argv.find((a) => a.startsWith(p))?.slice(p.length)
}

const impl = arg('impl') as ServerImpl
if (impl !== 'ours' && impl !== 'ethereumjs' && impl !== 'socket')
  throw new Error(`--impl: expected ours, ethereumjs or socket`)
const maxMs = Number(arg('max-ms') ?? 120_000)
if (!process.send) throw new Error('rlpx-server must be started with an IPC channel')

const privateKey = generatePrivateKey()
const id: Identity = { privateKey, publicKey: publicKeyFromPrivate(privateKey) }
const stats = { established: 0, failed: 0, open: 0 }

function acceptOurs(socket: Socket): void {
  setupConnection({
    socket,
    privateKey,
    hello: ourHello(id, 'idle'),
    clock: systemClock,
    timeoutMs: SETUP_TIMEOUT_MS,
  }).then(
    (r) => {
      stats.established++
      stats.open++
      const mode = modeOfName(r.hello.name)
      if (mode === 'idle' || mode === 'idle-handler') {
        // The peer closes the socket when it ends. The memory rows count the harness too, so
        // an idle peer costs it one shared listener, as for ethereumjs below.
        socket.on('close', countClosed) // not once(): that wraps the listener per socket
        void ourRunIdlePeer(r, true, mode === 'idle-handler')
        return
      }
      r.conn.setSnappy(mode === 'tp-snappy')
      const conn = r.conn
      const ended = (): void => {
        stats.open--
        conn.close()
      }
      ourSink(conn).then(ended, ended)
    },
    () => {
      stats.failed++
    },
  )
}

/** Shared listeners (no closure per connection): the harness's own cost per idle peer. */
function countClosed(): void {
  stats.open--
}
function noop(): void {}
const CONNECTED: unique symbol = Symbol('connected')
function ejsClosed(this: Socket & { [CONNECTED]?: boolean }): void {
  if (this[CONNECTED]) stats.open--
  else stats.failed++
}

function acceptEthereumjs(socket: Socket): void {
  const peer = ejsPeer(socket, id, null, 'idle')
  peer.events.once('connect', () => {
    ;(socket as Socket & { [CONNECTED]?: boolean })[CONNECTED] = true
    stats.established++
    stats.open++
    const mode = ejsRemoteMode(peer)
    if (mode !== 'idle') ejsSink(peer, mode === 'tp-snappy')
  })
  socket.on('error', noop)
  socket.on('close', ejsClosed)
}

/** The memory floor: a socket that reads and drops, nothing else. */
function acceptSocket(socket: Socket): void {
  stats.established++
  stats.open++
  socket.on('data', () => {})
  socket.on('error', () => {})
  socket.once('close', () => {
    stats.open--
  })
}

const server = createServer(
  impl === 'ours' ? acceptOurs : impl === 'ethereumjs' ? acceptEthereumjs : acceptSocket,
)

let peakRss = process.memoryUsage.rss()
let sampler: NodeJS.Timeout | undefined
function sample(): void {
  const r = process.memoryUsage.rss()
  if (r > peakRss) peakRss = r
}

/** Physical memory of V8's young generation (its size is V8's per-process choice, by allocation rate). */
function youngGeneration(): number {
  let n = 0
  for (const sp of getHeapSpaceStatistics())
    if (sp.space_name === 'new_space' || sp.space_name === 'new_large_object_space')
      n += sp.physical_space_size
  return n
}

let smapsCopies = 0
/** With RLPX_BENCH_SMAPS_DIR: a copy of /proc/self/smaps (Linux), to see which mappings grew. */
function saveSmaps(): void {
  const dir = process.env.RLPX_BENCH_SMAPS_DIR
  if (!dir) return
  mkdirSync(dir, { recursive: true })
  // (copyFile reads nothing from procfs: its files report size 0)
  writeFileSync(join(dir, `${impl}-${process.pid}-${++smapsCopies}.txt`), readFileSync('/proc/self/smaps'))
}

function exit(code: number): void {
  if (sampler) clearInterval(sampler)
  server.close()
  process.exit(code)
}

type Cmd = { id: number; cmd: 'stats' | 'mark' | 'mem' | 'snapshot' | 'exit'; gc?: boolean; path?: string }
process.on('message', (m: Cmd) => {
  const reply = (v: object): void => {
    process.send?.({ id: m.id, ...v })
  }
  switch (m.cmd) {
    case 'stats': {
      const c = process.cpuUsage()
      reply({ ...stats, cpuUs: c.user + c.system })
      break
    }
    case 'mark':
      if (sampler) clearInterval(sampler)
      peakRss = process.memoryUsage.rss()
      sampler = setInterval(sample, 5)
      reply({})
      break
    case 'mem': {
      sample()
      const g = (globalThis as { gc?: () => void }).gc
      if (m.gc && g) {
        g()
        g()
      }
      if (m.gc) saveSmaps()
      const u = process.memoryUsage()
      reply({
        rss: u.rss,
        peakRss,
        heapUsed: u.heapUsed,
        heapTotal: u.heapTotal,
        young: youngGeneration(),
        external: u.external,
        arrayBuffers: u.arrayBuffers,
      })
      break
    }
    case 'snapshot': {
      const g = (globalThis as { gc?: () => void }).gc
      g?.()
      reply({ path: writeHeapSnapshot(m.path) })
      break
    }
    case 'exit':
      exit(0)
      break
  }
})
process.on('disconnect', () => exit(0))
setTimeout(() => {
  console.error(`rlpx-server (${impl}): --max-ms=${maxMs} reached, exiting`)
  exit(3)
}, maxMs).unref()

server.listen(0, '127.0.0.1', () => {
  const addr = server.address()
  if (addr === null || typeof addr === 'string') throw new Error('unexpected server address')
  process.send?.({ type: 'ready', port: addr.port, publicKey: toHex(id.publicKey) })
})

/**
 * Test helper for `../shared/natlab`: bring a private NAT lab (miniupnpd + stund in network
 * namespaces) up with a unique prefix and state dir, run node scripts inside its namespaces and
 * read their JSON lines, inspect the router's port-forwarding rules, and take it down again.
 * {@link natlabSkipReason} says why the lab cannot run here (not Linux, not root, tools missing),
 * for node:test's `{ skip }`. Nothing here sends traffic from the root namespace.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process'
import { accessSync, constants, existsSync, readFileSync, rmSync } from 'node:fs'
import { dirname, resolve } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..')

/** The lab script (override with `DEVP2P_NATLAB`). */
export const NATLAB_SCRIPT = process.env.DEVP2P_NATLAB ?? resolve(ROOT, '../shared/natlab/natlab.sh')

/** Fixed addresses of the lab (see natlab/README.md). */
export const NATLAB = Object.freeze({
  gateway: '10.99.1.1',
  externalIP: '10.99.0.1',
  lanIP: '10.99.1.2',
  lan2IP: '10.99.1.3',
  stunServer: '10.99.0.2:3478',
  /** An address on the LAN where nothing answers (no host: ARP fails, packets vanish). */
  silentGateway: '10.99.1.77',
})

const TOOLS = ['ip', 'nft', 'miniupnpd', 'stund']
const PATHS = ['/usr/sbin', '/usr/bin', '/sbin', '/bin', '/usr/local/sbin', '/usr/local/bin']

function hasTool(name: string): boolean {
  const dirs = [...(process.env.PATH ?? '').split(':').filter(Boolean), ...PATHS]
  for (const d of dirs) {
    try {
      accessSync(resolve(d, name), constants.X_OK)
      return true
    } catch {
      // keep looking
    }
  }
  return false
}

/** Why the lab cannot run here, or `undefined` when it can. Printed once per process. */
export function natlabSkipReason(): string | undefined {
  let reason: string | undefined
  if (process.platform !== 'linux')
    reason = `natlab needs Linux network namespaces (platform ${process.platform})`
  else if (typeof process.getuid !== 'function' || process.getuid() !== 0)
    reason = 'natlab needs root (not root)'
  else if (!existsSync(NATLAB_SCRIPT)) reason = `natlab script not found at ${NATLAB_SCRIPT}`
  else {
    const missing = TOOLS.filter((t) => !hasTool(t))
    if (missing.length > 0)
      reason = `natlab tools missing: ${missing.join(', ')} (apt-get install iproute2 nftables miniupnpd-nftables stun-server)`
  }
  if (reason && !printed) {
    printed = true
    process.stdout.write(`# natlab tests skipped: ${reason}\n`)
  }
  return reason
}
let printed = false

function run(
  file: string,
  args: readonly string[],
  env: NodeJS.ProcessEnv,
  timeoutMs: number,
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((res) => {
    execFile(file, args, { env, timeout: timeoutMs, maxBuffer: 4 * 1024 * 1024 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0
      res({ code, stdout: String(stdout), stderr: String(stderr) })
    })
  })
}

let counter = 0

/** A running lab. */
export interface NatLab {
  readonly prefix: string
  readonly dir: string
  /** Namespace names. */
  readonly ns: { readonly wan: string; readonly rtr: string; readonly lan: string; readonly lan2: string }
  /** Take the lab down (idempotent). */
  down(): Promise<void>
  /** The router's current port-forwarding rules (from nftables in the router namespace). */
  forwards(): Promise<{ proto: 'tcp' | 'udp'; extPort: number; to: string }[]>
  /** Stop miniupnpd (the router stops answering UPnP and NAT-PMP). */
  stopDaemon(): Promise<void>
}

/** Options of {@link natlabUp}. */
export interface NatLabOptions {
  /** Device description version. @default 2 */
  readonly igd?: 1 | 2
  /** Seconds before the lab's daemons end themselves (a safety net). @default 60 */
  readonly lifetimeSec?: number
}

/** Bring a fresh lab up with a unique prefix (`nt<pid><n>`) and its own state dir. */
export async function natlabUp(opts: NatLabOptions = {}): Promise<NatLab> {
  const prefix = `nt${process.pid.toString(36)}${(counter++).toString(36)}`
  const dir = `/tmp/devp2p-natlab-${prefix}`
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    PATH: `${process.env.PATH ?? ''}:${PATHS.join(':')}`,
    NL_PREFIX: prefix,
    NL_DIR: dir,
    NL_IGD: String(opts.igd ?? 2),
    NL_LIFETIME: String(opts.lifetimeSec ?? 60),
    NL_TIMEOUT: '15',
  }
  const ns = { wan: `${prefix}-wan`, rtr: `${prefix}-rtr`, lan: `${prefix}-lan`, lan2: `${prefix}-lan2` }
  let isDown = false
  const down = async (): Promise<void> => {
    if (isDown) return
    isDown = true
    await run(NATLAB_SCRIPT, ['down'], env, 30_000)
    rmSync(dir, { recursive: true, force: true })
  }
  const up = await run(NATLAB_SCRIPT, ['up'], env, 30_000)
  if (up.code !== 0) {
    await down()
    throw new Error(`natlab up failed (${up.code}): ${up.stderr.slice(0, 2000)}`)
  }
  return {
    prefix,
    dir,
    ns,
    down,
    async forwards() {
      const r = await run(
        'ip',
        ['netns', 'exec', ns.rtr, 'nft', 'list', 'chain', 'inet', 'filter', 'prerouting_miniupnpd'],
        env,
        10_000,
      )
      if (r.code !== 0) throw new Error(`nft list failed: ${r.stderr}`)
      const out: { proto: 'tcp' | 'udp'; extPort: number; to: string }[] = []
      // e.g.: iif "rwan" @nh,72,8 0x6 th dport 30303 dnat ip to 10.99.1.2:30303
      for (const m of r.stdout.matchAll(/@nh,72,8 (0x6|0x11) th dport (\d+) dnat ip to (\S+)/g)) {
        out.push({ proto: m[1] === '0x6' ? 'tcp' : 'udp', extPort: Number(m[2]), to: m[3]! })
      }
      return out
    },
    async stopDaemon() {
      // The lab's own miniupnpd, by the pid it wrote.
      const pid = Number(readFileSync(`${dir}/miniupnpd.pid`, 'utf8').trim())
      if (!Number.isInteger(pid) || pid <= 1) throw new Error('natlab: bad miniupnpd pid file')
      process.kill(pid, 'SIGTERM')
      // Wait (bounded) until the router namespace has no process left.
      for (let i = 0; i < 50; i++) {
        const r = await run('ip', ['netns', 'pids', ns.rtr], env, 5_000)
        if (r.stdout.trim() === '') return
        await new Promise((res) => setTimeout(res, 100))
      }
      throw new Error('natlab: miniupnpd did not stop')
    },
  }
}

/** A node script running in a namespace, speaking JSON lines. */
export interface NsProcess {
  /** The next JSON line matching `pred` (earlier non-matching lines are dropped). */
  next<T = Record<string, unknown>>(
    pred?: (o: Record<string, unknown>) => boolean,
    timeoutMs?: number,
  ): Promise<T>
  /** Write `stop` to the script's stdin and wait for it to exit (bounded). */
  stop(timeoutMs?: number): Promise<number>
  /** Kill it (SIGKILL) if still running. */
  kill(): void
  /** Exit code once it ends. */
  readonly exited: Promise<number>
  /** Everything it printed on stderr so far. */
  stderr(): string
}

/**
 * Start `node --import tsx <script> <args…>` inside namespace `ns` (cwd: the repository root).
 * The process is killed after `maxRunMs` whatever happens.
 */
export function spawnInNs(ns: string, script: string, args: readonly string[], maxRunMs = 30_000): NsProcess {
  const child: ChildProcess = spawn(
    'ip',
    ['netns', 'exec', ns, process.execPath, '--import', 'tsx', script, ...args],
    {
      cwd: ROOT,
      stdio: ['pipe', 'pipe', 'pipe'],
    },
  )
  const lines: Record<string, unknown>[] = []
  const waiters: (() => void)[] = []
  let err = ''
  let ended = false
  const wake = (): void => {
    for (const w of waiters.splice(0)) w()
  }
  child.stderr?.on('data', (d: Buffer) => {
    if (err.length < 64 * 1024) err += d.toString()
  })
  if (child.stdout) {
    createInterface({ input: child.stdout }).on('line', (l) => {
      try {
        const o: unknown = JSON.parse(l)
        if (o && typeof o === 'object') lines.push(o as Record<string, unknown>)
      } catch {
        // not JSON: ignore
      }
      wake()
    })
  }
  const exited = new Promise<number>((res) => {
    child.on('close', (code) => {
      ended = true
      clearTimeout(guard)
      wake()
      res(code ?? -1)
    })
  })
  const guard = setTimeout(() => child.kill('SIGKILL'), maxRunMs)
  const kill = (): void => {
    if (!ended) child.kill('SIGKILL')
  }
  return {
    exited,
    kill,
    stderr: () => err,
    async next<T>(
      pred: (o: Record<string, unknown>) => boolean = () => true,
      timeoutMs = 10_000,
    ): Promise<T> {
      const deadline = Date.now() + timeoutMs
      for (;;) {
        const i = lines.findIndex(pred)
        if (i >= 0) {
          const [o] = lines.splice(0, i + 1).slice(-1)
          return o as T
        }
        if (ended) throw new Error(`process ended without the expected line; stderr: ${err.slice(0, 2000)}`)
        const left = deadline - Date.now()
        if (left <= 0)
          throw new Error(`no expected line within ${timeoutMs} ms; stderr: ${err.slice(0, 2000)}`)
        await new Promise<void>((res) => {
          const t = setTimeout(res, left)
          waiters.push(() => {
            clearTimeout(t)
            res()
          })
        })
      }
    },
    async stop(timeoutMs = 10_000): Promise<number> {
      if (!ended) child.stdin?.end('stop\n')
      const t = setTimeout(kill, timeoutMs)
      try {
        return await exited
      } finally {
        clearTimeout(t)
      }
    },
  }
}

/** Run a script in `ns` to completion and return its last JSON line. */
export async function runJsonInNs<T = Record<string, unknown>>(
  ns: string,
  script: string,
  args: readonly string[],
  maxRunMs = 30_000,
): Promise<T> {
  const p = spawnInNs(ns, script, args, maxRunMs)
  const code = await p.exited
  let last: T | undefined
  for (;;) {
    try {
      last = await p.next<T>(() => true, 0)
    } catch {
      break
    }
  }
  if (last === undefined)
    throw new Error(`script exited ${code} without JSON output; stderr: ${p.stderr().slice(0, 2000)}`)
  return last
}

/**
 * Run the built `devp2p` CLI (dist/cli/main.js) inside a natlab namespace
 * (`ip netns exec <ns> node dist/cli/main.js …`): one-shot commands to completion
 * ({@link runCliInNs}), long-running `devp2p node` processes ({@link spawnCliInNs},
 * {@link startNodeInNs}), and JSON-RPC calls to a node's loopback `--http` endpoint made from
 * inside its namespace ({@link rpcInNs}). Every child is bounded in time; nothing here sends
 * traffic from the root namespace.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { type Node, parseNode } from '../../src/enode/index.js'
import { CLI } from './cli.js'

function checkBuilt(): void {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run "npm run build" first`)
}

/** What a finished CLI run printed. */
export interface NsCliResult {
  /** Exit code (-1 when killed by a signal, e.g. the time bound). */
  readonly code: number
  readonly stdout: string
  readonly stderr: string
  /** stdout parsed as JSON, when it is JSON. */
  readonly json: unknown
}

function parseJson(s: string): unknown {
  try {
    return JSON.parse(s)
  } catch {
    return undefined
  }
}

/** Run `devp2p <args…>` in namespace `ns` to completion (killed after `timeoutMs`). */
export function runCliInNs(ns: string, args: readonly string[], timeoutMs = 30_000): Promise<NsCliResult> {
  checkBuilt()
  return new Promise((resolve) => {
    execFile(
      'ip',
      ['netns', 'exec', ns, process.execPath, CLI, ...args],
      { timeout: timeoutMs, killSignal: 'SIGKILL', maxBuffer: 4 * 1024 * 1024 },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === 'number' ? err.code : -1) : 0
        resolve({ code, stdout: String(stdout), stderr: String(stderr), json: parseJson(String(stdout)) })
      },
    )
  })
}

/** A long-running CLI process in a namespace. */
export interface NsCli {
  readonly pid: number | undefined
  /** Exit code once it ends (-1 when killed by a signal). */
  readonly exited: Promise<number>
  /** Whether it has ended. */
  readonly ended: boolean
  stdout(): string
  stderr(): string
  /** Wait until stderr matches `re` (bounded); rejects if the process ends first. */
  waitStderr(re: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>
  /** SIGTERM, then SIGKILL after `timeoutMs`; resolves with the exit code. */
  stop(timeoutMs?: number): Promise<number>
  /** SIGKILL if still running. */
  kill(): void
}

/**
 * Start `devp2p <args…>` in namespace `ns`. `ip netns exec` execs node in place, so signals sent
 * to the child reach the CLI itself. The process is SIGKILLed after `maxRunMs` whatever happens.
 */
export function spawnCliInNs(ns: string, args: readonly string[], maxRunMs = 60_000): NsCli {
  checkBuilt()
  const child: ChildProcess = spawn('ip', ['netns', 'exec', ns, process.execPath, CLI, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let out = ''
  let err = ''
  let ended = false
  const waiters = new Set<() => void>()
  const wake = (): void => {
    for (const w of [...waiters]) w()
  }
  child.stdout?.setEncoding('utf8').on('data', (d: string) => {
    if (out.length < 1024 * 1024) out += d
    wake()
  })
  child.stderr?.setEncoding('utf8').on('data', (d: string) => {
    if (err.length < 1024 * 1024) err += d
    wake()
  })
  const guard = setTimeout(() => child.kill('SIGKILL'), maxRunMs)
  const exited = new Promise<number>((resolve) => {
    child.on('error', () => {
      ended = true
      clearTimeout(guard)
      wake()
      resolve(-1)
    })
    child.on('close', (code) => {
      ended = true
      clearTimeout(guard)
      wake()
      resolve(code ?? -1)
    })
  })
  const kill = (): void => {
    if (!ended) child.kill('SIGKILL')
  }
  return {
    pid: child.pid,
    exited,
    get ended() {
      return ended
    },
    stdout: () => out,
    stderr: () => err,
    kill,
    waitStderr(re: RegExp, timeoutMs = 10_000): Promise<RegExpMatchArray> {
      return new Promise((resolve, reject) => {
        const check = (): void => {
          const m = err.match(re)
          if (m) done(() => resolve(m))
          else if (ended)
            done(() => reject(new Error(`process ended before ${re}; stderr:\n${err.slice(-3000)}`)))
        }
        const t = setTimeout(
          () =>
            done(() => reject(new Error(`no ${re} within ${timeoutMs} ms; stderr:\n${err.slice(-3000)}`))),
          timeoutMs,
        )
        const done = (f: () => void): void => {
          clearTimeout(t)
          waiters.delete(check)
          f()
        }
        waiters.add(check)
        check()
      })
    },
    async stop(timeoutMs = 10_000): Promise<number> {
      if (!ended) child.kill('SIGTERM')
      const t = setTimeout(kill, timeoutMs)
      try {
        return await exited
      } finally {
        clearTimeout(t)
      }
    },
  }
}

// Runs inside the namespace: POST one JSON-RPC request, print the response body.
const RPC_SCRIPT = `
const [url, body, ms] = process.argv.slice(1)
fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body, signal: AbortSignal.timeout(Number(ms)) })
  .then((r) => r.text())
  .then((t) => { process.stdout.write(t); process.exit(0) }, (e) => { process.stderr.write(String(e)); process.exit(1) })
`

/**
 * Call JSON-RPC `method` on `url` (a loopback endpoint of a node in `ns`) from inside `ns`.
 * Rejects on transport errors and JSON-RPC errors.
 */
export function rpcInNs<T = unknown>(
  ns: string,
  url: string,
  method: string,
  params: readonly unknown[] = [],
  timeoutMs = 5000,
): Promise<T> {
  const body = JSON.stringify({ jsonrpc: '2.0', id: 1, method, params })
  return new Promise((resolve, reject) => {
    execFile(
      'ip',
      ['netns', 'exec', ns, process.execPath, '-e', RPC_SCRIPT, url, body, String(timeoutMs)],
      { timeout: timeoutMs + 2000, killSignal: 'SIGKILL', maxBuffer: 1024 * 1024 },
      (err, stdout, stderr) => {
        if (err) {
          reject(new Error(`${method} via ${url} in ${ns} failed: ${String(stderr) || err.message}`))
          return
        }
        const r = parseJson(String(stdout)) as { result?: T; error?: { message: string } } | undefined
        if (!r || r.error || !('result' in r))
          reject(new Error(`${method}: bad response ${String(stdout).slice(0, 500)}`))
        else resolve(r.result as T)
      },
    )
  })
}

/** geth's `admin_nodeInfo` (the fields the tests read). */
export interface NodeInfoJson {
  readonly id: string
  readonly name: string
  readonly enode: string
  readonly enr: string
  readonly ip: string
  readonly ports: { readonly discovery: number; readonly listener: number }
  readonly listenAddr: string
}

/** Options of {@link startNodeInNs}. */
export interface NsNodeOptions {
  /** TCP listen port (and UDP discovery port). */
  readonly port: number
  /** `--nat` spec. */
  readonly nat: string
  /** Loopback port of the admin JSON-RPC endpoint (inside the namespace). */
  readonly httpPort: number
  /** Client name in Hello. @default 'natlab-node' */
  readonly name?: string
  /** `--duration`: the node stops itself after this long. @default '45s' */
  readonly duration?: string
  /** Hard bound (SIGKILL). @default 55000 */
  readonly maxRunMs?: number
  /** More CLI arguments. */
  readonly extraArgs?: readonly string[]
}

/** A `devp2p node` running in a namespace. */
export interface NsNode {
  readonly proc: NsCli
  readonly rpcUrl: string
  /** The startup JSON the node printed ({id, enode, enr, tcp, udp, http}). */
  readonly started: { id: string; enode: string; enr: string; tcp: number; udp: number; http?: string }
  /** Current `admin_nodeInfo`. */
  nodeInfo(): Promise<NodeInfoJson>
  /**
   * Poll `admin_nodeInfo` until `pred` holds for its record (bounded); returns the info and the
   * node parsed from its ENR. Rejects with the last record seen on timeout.
   */
  waitRecord(pred: (n: Node) => boolean, timeoutMs?: number): Promise<{ info: NodeInfoJson; node: Node }>
}

/**
 * Start `devp2p node --addr 0.0.0.0 --port P --nat SPEC --json --http 127.0.0.1:H` in `ns`, and
 * wait (bounded) for its startup JSON.
 */
export async function startNodeInNs(ns: string, o: NsNodeOptions): Promise<NsNode> {
  const rpcUrl = `http://127.0.0.1:${o.httpPort}`
  const proc = spawnCliInNs(
    ns,
    [
      '--json',
      'node',
      '--addr',
      '0.0.0.0',
      '--port',
      String(o.port),
      '--nat',
      o.nat,
      '--http',
      `127.0.0.1:${o.httpPort}`,
      '--name',
      o.name ?? 'natlab-node',
      '--duration',
      o.duration ?? '45s',
      '--verbosity',
      'debug',
      ...(o.extraArgs ?? []),
    ],
    o.maxRunMs ?? 55_000,
  )
  // The startup JSON is printed (pretty) once the server and the HTTP endpoint run.
  const deadline = Date.now() + 15_000
  let started: NsNode['started'] | undefined
  while (!started) {
    const j = parseJson(proc.stdout().trim()) as NsNode['started'] | undefined
    if (j && typeof j.enr === 'string') started = j
    else if (proc.ended) throw new Error(`devp2p node ended early; stderr:\n${proc.stderr().slice(-3000)}`)
    else if (Date.now() > deadline) {
      proc.kill()
      throw new Error(`devp2p node printed no startup JSON; stderr:\n${proc.stderr().slice(-3000)}`)
    } else await new Promise((r) => setTimeout(r, 50))
  }
  const nodeInfo = (): Promise<NodeInfoJson> => rpcInNs<NodeInfoJson>(ns, rpcUrl, 'admin_nodeInfo')
  return {
    proc,
    rpcUrl,
    started,
    nodeInfo,
    async waitRecord(pred, timeoutMs = 15_000) {
      const until = Date.now() + timeoutMs
      let last: NodeInfoJson | undefined
      for (;;) {
        last = await nodeInfo()
        const node = parseNode(last.enr)
        if (pred(node)) return { info: last, node }
        if (Date.now() > until || proc.ended)
          throw new Error(
            `record never matched within ${timeoutMs} ms; last: ${last.enode}\nstderr:\n${proc.stderr().slice(-3000)}`,
          )
        await new Promise((r) => setTimeout(r, 250))
      }
    },
  }
}

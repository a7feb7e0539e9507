/**
 * Long-running `devp2p` children (dist/cli/main.js) for tests of `devp2p node` and `testnet`:
 * spawn, wait for what they print, signal them, and always kill what is left (by pid) with
 * {@link killAll}. Plus a small JSON-RPC client for `devp2p node --http`.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { CLI } from './cli.js'

/** How a child ended. */
export interface CliExit {
  readonly code: number | null
  readonly signal: NodeJS.Signals | null
}

/** A running CLI child. */
export interface CliProc {
  readonly child: ChildProcess
  stdout(): string
  stderr(): string
  /** Resolves when the child has exited (never rejects). */
  readonly exited: Promise<CliExit>
  /** Resolve with `pick(stdout)` once it is not undefined; rejects on exit or after `ms`. */
  waitStdout<T>(pick: (out: string) => T | undefined, ms?: number, what?: string): Promise<T>
  /** Resolve once `stderr` matches `re`; rejects on exit or after `ms`. */
  waitStderr(re: RegExp, ms?: number): Promise<void>
  /** Resolve with the exit once the child ended; kills it (SIGKILL) and rejects after `ms`. */
  waitExit(ms?: number): Promise<CliExit>
}

// BOUNDED: one entry per child a test file starts.
const live = new Set<ChildProcess>()

/** Kill (SIGKILL, by pid) every child started by {@link spawnCli} that is still running. */
export function killAll(): void {
  for (const c of live) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL')
  live.clear()
}

/** Start `devp2p ...args` without waiting for it. */
export function spawnCli(args: readonly string[]): CliProc {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run "npm run build" first`)
  const child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
  live.add(child)
  let out = ''
  let err = ''
  // BOUNDED: waiters of one test, removed when they settle.
  const waiters = new Set<() => void>()
  const poke = (): void => {
    for (const w of [...waiters]) w()
  }
  child.stdout!.setEncoding('utf8').on('data', (d: string) => {
    out += d
    poke()
  })
  child.stderr!.setEncoding('utf8').on('data', (d: string) => {
    err += d
    poke()
  })
  let exit: CliExit | undefined
  const exited = new Promise<CliExit>((resolve) => {
    child.on('close', (code, signal) => {
      exit = { code, signal }
      live.delete(child)
      resolve(exit)
      poke()
    })
    child.on('error', (e) => {
      err += `\nspawn error: ${e.message}`
      exit = { code: null, signal: null }
      live.delete(child)
      resolve(exit)
      poke()
    })
  })
  const wait = <T>(check: () => T | undefined, ms: number, what: string): Promise<T> =>
    new Promise<T>((resolve, reject) => {
      const t = setTimeout(() => {
        waiters.delete(w)
        reject(
          new Error(`devp2p ${args.join(' ')}: timed out after ${ms} ms waiting for ${what}\n${out}\n${err}`),
        )
      }, ms)
      const w = (): void => {
        const v = check()
        if (v !== undefined) {
          clearTimeout(t)
          waiters.delete(w)
          resolve(v)
        } else if (exit) {
          clearTimeout(t)
          waiters.delete(w)
          reject(
            new Error(
              `devp2p ${args.join(' ')}: exited (${exit.code ?? exit.signal}) before ${what}\n${out}\n${err}`,
            ),
          )
        }
      }
      waiters.add(w)
      w()
    })
  return {
    child,
    stdout: () => out,
    stderr: () => err,
    exited,
    waitStdout: (pick, ms = 10_000, what = 'output') => wait(() => pick(out), ms, what),
    waitStderr: async (re, ms = 10_000) => {
      await wait(() => (re.test(err) ? true : undefined), ms, `stderr ${re}`)
    },
    waitExit: async (ms = 10_000) => {
      let t: NodeJS.Timeout | undefined
      const timeout = new Promise<never>((_, reject) => {
        t = setTimeout(() => {
          child.kill('SIGKILL')
          reject(new Error(`devp2p ${args.join(' ')}: still running after ${ms} ms\n${err}`))
        }, ms)
      })
      try {
        return await Promise.race([exited, timeout])
      } finally {
        clearTimeout(t)
      }
    },
  }
}

/** The first complete JSON document at the start of `out`, or undefined while incomplete. */
export function jsonPrefix<T>(out: string): T | undefined {
  // `print` ends a JSON document with "}\n" at column 0.
  const end = out.indexOf('\n}\n')
  if (!out.startsWith('{') || end < 0) return undefined
  return JSON.parse(out.slice(0, end + 2)) as T
}

/** A JSON-RPC error object. */
export interface RpcErrorBody {
  readonly code: number
  readonly message: string
}

/** A JSON-RPC response as the node answers it. */
export interface RpcReply<T = unknown> {
  readonly jsonrpc: string
  readonly id: unknown
  readonly result?: T
  readonly error?: RpcErrorBody
}

/** POST `body` (sent as is) to `url`; the HTTP status and the parsed JSON answer. */
export async function postRaw(url: string, body: string): Promise<{ status: number; json: unknown }> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body,
    signal: AbortSignal.timeout(5000),
  })
  const text = await res.text()
  return { status: res.status, json: text === '' ? undefined : (JSON.parse(text) as unknown) }
}

let rpcId = 0

/** Call `method` and return the whole reply (result or error). */
export async function rpcCall<T = unknown>(
  url: string,
  method: string,
  params: unknown[] = [],
): Promise<RpcReply<T>> {
  const id = ++rpcId
  const { json } = await postRaw(url, JSON.stringify({ jsonrpc: '2.0', id, method, params }))
  return json as RpcReply<T>
}

/** Call `method` and return its result; throws on a JSON-RPC error. */
export async function rpc<T = unknown>(url: string, method: string, params: unknown[] = []): Promise<T> {
  const r = await rpcCall<T>(url, method, params)
  if (r.error) throw new Error(`${method}: ${r.error.code} ${r.error.message}`)
  return r.result as T
}

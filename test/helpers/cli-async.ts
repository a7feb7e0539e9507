/**
 * Runs the built `devp2p` binary (dist/cli/main.js) asynchronously, for tests whose server runs in
 * the same process: `spawnSync` would block the event loop that server needs to answer.
 */
import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { CLI, type CliResult } from './cli.js'

/** Run the CLI with `args`; the child is killed (by its pid) if it outlives `timeoutMs`. */
export function runCliAsync(args: readonly string[], timeoutMs = 30_000): Promise<CliResult> {
  if (!existsSync(CLI)) return Promise.reject(new Error(`${CLI} is missing: run "npm run build" first`))
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      stdout += d
    })
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      stderr += d
    })
    const t = setTimeout(() => {
      child.kill('SIGKILL')
      reject(new Error(`devp2p ${args.join(' ')}: still running after ${timeoutMs} ms\n${stderr}`))
    }, timeoutMs)
    child.on('error', (e) => {
      clearTimeout(t)
      reject(e)
    })
    child.on('close', (code, sig) => {
      clearTimeout(t)
      resolve({ status: code ?? (sig ? -1 : 0), stdout, stderr })
    })
  })
}

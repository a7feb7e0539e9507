/** Runs the built `devp2p` binary (dist/cli/main.js) and captures its output. */
import { spawnSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { dirname, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..')
/** Path of the built CLI entry. */
export const CLI = resolve(ROOT, 'dist/cli/main.js')

export interface CliResult {
  readonly status: number
  readonly stdout: string
  readonly stderr: string
}

/** Run the CLI with `args` (and optional stdin); throws if the build is missing. */
export function runCli(args: readonly string[], input?: string, timeoutMs = 30_000): CliResult {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run "npm run build" first`)
  const r = spawnSync(process.execPath, [CLI, ...args], {
    input,
    encoding: 'utf8',
    timeout: timeoutMs,
    cwd: ROOT,
  })
  return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr }
}

#!/usr/bin/env node
/**
 * `npm run bench [-- args]`: compile the project with tsc into build/bench (incremental), then run
 * the compiled bench (bench/main.js) with the same arguments. The bench measures the JavaScript
 * the package ships: run from source through tsx, every named closure is wrapped for keepNames,
 * which cost our RLPx path about a fifth of its handshake rate and a few KiB per idle peer.
 * `node --import tsx bench/main.ts` still runs it from source.
 */
import { spawnSync } from 'node:child_process'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const out = join(root, 'build', 'bench')
const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc')
const built = spawnSync(
  process.execPath,
  [
    tsc,
    '-p',
    join(root, 'tsconfig.json'),
    '--outDir',
    out,
    '--declaration',
    'false',
    '--sourceMap',
    'false',
    '--incremental',
    '--tsBuildInfoFile',
    join(out, '.tsbuildinfo'),
  ],
  { stdio: 'inherit' },
)
if (built.status !== 0) process.exit(built.status ?? 1)
const run = spawnSync(process.execPath, [join(out, 'bench', 'main.js'), ...process.argv.slice(2)], {
  stdio: 'inherit',
  cwd: root,
})
process.exit(run.status ?? 1)

#!/usr/bin/env node
// Runs every test file under test/ (or those whose path contains one of the arguments)
// with node's built-in test runner through tsx. Node 20's runner has no glob support.
import { spawnSync } from 'node:child_process'
import { readdirSync, statSync } from 'node:fs'
import { join } from 'node:path'

function walk(dir) {
  const out = []
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name)
    if (statSync(p).isDirectory()) out.push(...walk(p))
    else if (name.endsWith('.test.ts')) out.push(p)
  }
  return out
}
const filters = process.argv.slice(2).filter((a) => !a.startsWith('--'))
const flags = process.argv.slice(2).filter((a) => a.startsWith('--'))
const files = walk('test').filter((f) => filters.length === 0 || filters.some((x) => f.includes(x)))
if (files.length === 0) {
  console.error('no test files matched')
  process.exit(1)
}
const reporter = process.stdout.isTTY ? 'spec' : 'spec'
const r = spawnSync(
  process.execPath,
  ['--import', 'tsx', '--test', `--test-reporter=${reporter}`, '--test-concurrency=2', '--test-timeout=120000', ...flags, ...files],
  { stdio: 'inherit' },
)
process.exit(r.status ?? 1)

/**
 * Entry point of `npm run bench` (scripts/bench.mjs compiles the project into build/bench with
 * tsc and runs this file compiled: what the package ships): runs the registered suites and
 * prints their rows.
 *
 *   npm run bench                       all suites, readable text
 *   npm run bench -- primitives         only suites whose name contains "primitives"
 *   npm run -s bench -- --json          one JSON object {meta, suites: {<name>: {rows}}} on stdout
 *   npm run bench -- --quick            shorter rows (smoke test; figures are noisier)
 *   npm run bench -- --min-ms=1000      minimum measured time per row
 *
 * To add a suite, export a `Suite` from a file in bench/ and list it in SUITES.
 */
import { cpus } from 'node:os'
import { getSecp256k1Backend } from '../src/crypto/index.js'
import {
  type BenchOptions,
  type BenchRow,
  DEFAULT_OPTIONS,
  formatRows,
  roundRow,
  type Suite,
} from './harness.js'
import { primitivesSuite } from './primitives.js'

const SUITES: Suite[] = [primitivesSuite]
SUITES.push((await import('./rlpx.js')).rlpxSuite)
SUITES.push((await import('./discv4.js')).discv4Suite)
SUITES.push((await import('./server.js')).serverSuite)

function parseArgs(argv: string[]): { json: boolean; filters: string[]; opts: BenchOptions } {
  const opts: BenchOptions = { ...DEFAULT_OPTIONS }
  let json = false
  const filters: string[] = []
  for (const a of argv) {
    if (a === '--json') json = true
    else if (a === '--quick') {
      opts.minMs = 150
      opts.warmupMs = 30
    } else if (a.startsWith('--min-ms=')) opts.minMs = Number(a.slice('--min-ms='.length))
    else if (a.startsWith('--')) throw new Error(`unknown option ${a}`)
    else filters.push(a)
  }
  if (!Number.isFinite(opts.minMs) || opts.minMs <= 0) throw new Error('--min-ms must be a positive number')
  return { json, filters, opts }
}

async function main(): Promise<void> {
  const { json, filters, opts } = parseArgs(process.argv.slice(2))
  const selected = SUITES.filter((s) => filters.length === 0 || filters.some((f) => s.name.includes(f)))
  if (selected.length === 0) {
    console.error(`no suite matches ${filters.join(', ')}; suites: ${SUITES.map((s) => s.name).join(', ')}`)
    process.exitCode = 1
    return
  }
  const meta = {
    node: process.version,
    platform: `${process.platform}-${process.arch}`,
    cpu: cpus()[0]?.model ?? 'unknown',
    cpus: cpus().length,
    secp256k1_backend: getSecp256k1Backend(),
    min_ms: opts.minMs,
    date: new Date().toISOString(),
  }
  if (!json) {
    console.log(
      `node ${meta.node} ${meta.platform}, ${meta.cpus} x ${meta.cpu}, default secp256k1 backend: ${meta.secp256k1_backend}`,
    )
  }
  const suites: Record<string, { description: string; seconds: number; rows: BenchRow[] }> = {}
  for (const s of selected) {
    if (json) console.error(`running ${s.name}…`)
    else console.log(`\n## ${s.name}: ${s.description}`)
    const t0 = performance.now()
    const rows = (await s.run(opts)).map(roundRow)
    const seconds = Math.round((performance.now() - t0) / 100) / 10
    suites[s.name] = { description: s.description, seconds, rows }
    if (!json) console.log(`${formatRows(rows)}\n(${seconds} s)`)
  }
  if (json) console.log(JSON.stringify({ meta, suites }, null, 2))
}

await main()

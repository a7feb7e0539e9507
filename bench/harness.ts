/**
 * The benchmark harness: suites, wall-clock measurement and reporting.
 *
 * A {@link Suite} is a name and an async `run` that returns {@link BenchRow}s. Suites time their
 * work with {@link measure} (synchronous operations) or {@link measureAsync}, which warm up,
 * then repeat the operation in growing batches until a minimum duration has passed, and report
 * operations per second (and MB/s when the bytes per operation are given). `bench/main.ts`
 * registers the suites, filters them by name and prints either aligned text or one JSON object.
 */

/** One result line. Extra fields (numbers or strings) are printed after the standard ones. */
export interface BenchRow {
  /** What was measured, e.g. `ecdh` or `keccak256 32 B`. */
  name: string
  /** The implementation or backend, e.g. `native`, `noble`, `hash-wasm`. */
  impl: string
  /** Operations per second. */
  ops_per_s?: number
  /** Throughput in MB/s (10^6 bytes), when an operation processes a known number of bytes. */
  mb_per_s?: number
  [extra: string]: string | number | undefined
}

/** Settings handed to every suite. */
export interface BenchOptions {
  /** Minimum measured wall-clock time per row, in milliseconds. */
  minMs: number
  /** Warm-up time per row before measuring, in milliseconds. */
  warmupMs: number
}

/** A named group of benchmarks. */
export interface Suite {
  /** Short name, used for filtering (`npm run bench -- primitives`) and as the JSON key. */
  name: string
  /** One line describing the suite. */
  description: string
  /** Run every benchmark of the suite and return its rows. */
  run(opts: BenchOptions): Promise<BenchRow[]>
}

/** The figures {@link measure} returns, ready to spread into a {@link BenchRow}. */
export interface Measurement {
  /** Operations per second. */
  ops_per_s: number
  /** MB/s (10^6 bytes), when `bytesPerOp` was given. */
  mb_per_s?: number
  /** How many operations were timed. */
  iterations: number
}

/** Per-measurement options. */
export interface MeasureOptions extends Partial<BenchOptions> {
  /** Bytes processed by one operation; adds `mb_per_s`. */
  bytesPerOp?: number
}

/** Default timing: at least 0.6 s measured per row after a 0.15 s warm-up. */
export const DEFAULT_OPTIONS: BenchOptions = { minMs: 600, warmupMs: 150 }

/** Results are stored here so the optimiser cannot drop the operations producing them. */
let sink: unknown

/** Keep `v` alive so the operation producing it is not optimised away. */
export function consume(v: unknown): void {
  sink = v
}

/** The last value kept by {@link consume} or a measurement (for sanity checks). */
export function lastSink(): unknown {
  return sink
}

function summarise(ops: number, ms: number, bytesPerOp: number | undefined): Measurement {
  const opsPerS = (ops * 1000) / ms
  const m: Measurement = { ops_per_s: opsPerS, iterations: ops }
  if (bytesPerOp !== undefined) m.mb_per_s = (opsPerS * bytesPerOp) / 1e6
  return m
}

/**
 * Time a synchronous operation by wall clock. `fn(i)` receives the iteration number (use it to
 * rotate through prepared inputs). Runs `warmupMs` first, then batches of doubling size until
 * `minMs` has elapsed in total.
 */
export function measure(fn: (i: number) => unknown, opts: MeasureOptions = {}): Measurement {
  const minMs = opts.minMs ?? DEFAULT_OPTIONS.minMs
  const warmupMs = opts.warmupMs ?? DEFAULT_OPTIONS.warmupMs
  let i = 0
  const w0 = performance.now()
  while (performance.now() - w0 < warmupMs) for (let k = 0; k < 8; k++) sink = fn(i++)
  let batch = 1
  let ops = 0
  const t0 = performance.now()
  let elapsed = 0
  while (elapsed < minMs) {
    for (let k = 0; k < batch; k++) sink = fn(i++)
    ops += batch
    elapsed = performance.now() - t0
    if (elapsed < minMs / 8) batch *= 2
  }
  return summarise(ops, elapsed, opts.bytesPerOp)
}

/** Like {@link measure} for an asynchronous operation (awaited one at a time). */
export async function measureAsync(
  fn: (i: number) => Promise<unknown>,
  opts: MeasureOptions = {},
): Promise<Measurement> {
  const minMs = opts.minMs ?? DEFAULT_OPTIONS.minMs
  const warmupMs = opts.warmupMs ?? DEFAULT_OPTIONS.warmupMs
  let i = 0
  const w0 = performance.now()
  while (performance.now() - w0 < warmupMs) sink = await fn(i++)
  let ops = 0
  const t0 = performance.now()
  let elapsed = 0
  while (elapsed < minMs) {
    sink = await fn(i++)
    ops++
    elapsed = performance.now() - t0
  }
  return summarise(ops, elapsed, opts.bytesPerOp)
}

/** Round figures for output: ops/s to integers, MB/s to one decimal. */
export function roundRow(r: BenchRow): BenchRow {
  const out: BenchRow = { ...r }
  if (out.ops_per_s !== undefined) out.ops_per_s = Math.round(out.ops_per_s)
  if (out.mb_per_s !== undefined) out.mb_per_s = Math.round(out.mb_per_s * 10) / 10
  for (const [k, v] of Object.entries(out)) {
    if (typeof v === 'number' && k !== 'ops_per_s' && k !== 'mb_per_s' && !Number.isInteger(v))
      out[k] = Math.round(v * 1000) / 1000
  }
  return out
}

function fmtInt(n: number): string {
  return Math.round(n).toLocaleString('en-US')
}

function fmtUs(opsPerS: number): string {
  const us = 1e6 / opsPerS
  return us >= 100 ? us.toFixed(0) : us >= 10 ? us.toFixed(1) : us.toFixed(2)
}

/** Render one suite's rows as aligned text columns: name, impl, ops/s, µs/op, MB/s, extras. */
export function formatRows(rows: readonly BenchRow[]): string {
  const STANDARD = new Set(['name', 'impl', 'ops_per_s', 'mb_per_s', 'iterations'])
  const table = rows.map((r) => {
    const extras = Object.entries(r)
      .filter(([k, v]) => !STANDARD.has(k) && v !== undefined)
      .map(([k, v]) => `${k}=${String(v)}`)
      .join(' ')
    return [
      r.name,
      r.impl,
      r.ops_per_s === undefined ? '' : `${fmtInt(r.ops_per_s)} ops/s`,
      r.ops_per_s === undefined ? '' : `${fmtUs(r.ops_per_s)} µs/op`,
      r.mb_per_s === undefined ? '' : `${r.mb_per_s.toFixed(1)} MB/s`,
      extras,
    ]
  })
  const widths = [0, 1, 2, 3, 4].map((c) => Math.max(0, ...table.map((t) => t[c]!.length)))
  const rightAligned = new Set([2, 3, 4])
  return table
    .map((cols) =>
      cols
        .map((c, i) => {
          const w = widths[i]
          if (w === undefined) return c
          return rightAligned.has(i) ? c.padStart(w) : c.padEnd(w)
        })
        .join('  ')
        .trimEnd(),
    )
    .join('\n')
}

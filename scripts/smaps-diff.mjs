#!/usr/bin/env node
/**
 * Where a process's RSS grew between two copies of its /proc/<pid>/smaps, by kind of mapping:
 * the V8 heap (anonymous 256 KiB pages), malloc arenas (`[heap]` and anonymous regions),
 * JIT code (anonymous rwx), and files (the node binary, native addons). The rlpx bench writes
 * one copy per memory point with RLPX_BENCH_SMAPS_DIR:
 *
 *   RLPX_BENCH_SMAPS_DIR=/tmp/s RLPX_BENCH_PARTS=mem RLPX_BENCH_IMPLS=ours npm run bench -- rlpx --quick
 *   node scripts/smaps-diff.mjs /tmp/s/ours-<pid>-1.txt /tmp/s/ours-<pid>-5.txt
 *
 * This is how a one-time cost inside the measured window shows up (for example a native module
 * loaded on first use, with its thread): a new file mapping or a new arena, not the heap pages.
 */
import { readFileSync } from 'node:fs'

const [aPath, bPath] = process.argv.slice(2)
if (!aPath || !bPath) {
  console.error('usage: smaps-diff.mjs <smaps-before> <smaps-after>')
  process.exit(2)
}

/** Mappings of one smaps copy: kind of mapping → {rss KiB, count}. */
function load(path) {
  const kinds = new Map()
  let kind
  for (const line of readFileSync(path, 'utf8').split('\n')) {
    const m = /^([0-9a-f]+)-([0-9a-f]+) (\S+) \S+ \S+ \S+\s*(.*)$/.exec(line)
    if (m) {
      const size = (Number.parseInt(m[2], 16) - Number.parseInt(m[1], 16)) / 1024
      const name = m[4].trim()
      kind = name.startsWith('/')
        ? `file ${name.split('/').pop()}`
        : name !== ''
          ? name
          : `anon ${m[3]} ${size === 256 ? '256K (V8 heap page)' : size >= 65536 ? '>=64M' : `${size}K`}`
      const k = kinds.get(kind) ?? { rss: 0, count: 0 }
      k.count++
      kinds.set(kind, k)
      continue
    }
    const r = /^Rss:\s+(\d+) kB/.exec(line)
    if (r && kind) kinds.get(kind).rss += Number(r[1])
  }
  return kinds
}

const a = load(aPath)
const b = load(bPath)
const rows = []
for (const kind of new Set([...a.keys(), ...b.keys()])) {
  const x = a.get(kind) ?? { rss: 0, count: 0 }
  const y = b.get(kind) ?? { rss: 0, count: 0 }
  if (x.rss !== y.rss || x.count !== y.count) rows.push({ kind, before: x, after: y, d: y.rss - x.rss })
}
rows.sort((p, q) => q.d - p.d)
let total = 0
console.log('RSS KiB: before → after (change)   mappings   kind')
for (const r of rows) {
  total += r.d
  const d = `${r.d >= 0 ? '+' : ''}${r.d}`
  console.log(
    `${String(r.before.rss).padStart(8)} → ${String(r.after.rss).padStart(8)} (${d.padStart(7)})   ${String(r.before.count).padStart(3)} → ${String(r.after.count).padEnd(3)}   ${r.kind}`,
  )
}
console.log(`total RSS change: ${total >= 0 ? '+' : ''}${total} KiB`)

#!/usr/bin/env node
/**
 * What each connected peer keeps on the V8 heap, from two heap snapshots of the same process
 * (before and after `peers` peers connected), as the rlpx bench writes them with
 * RLPX_BENCH_HEAP_DIR:
 *
 *   RLPX_BENCH_HEAP_DIR=/tmp/h RLPX_BENCH_PARTS=mem RLPX_BENCH_IMPLS=ours npm run bench -- rlpx --quick
 *   node scripts/heap-diff.mjs /tmp/h/ours-before.heapsnapshot /tmp/h/ours-after.heapsnapshot 200
 *
 * Objects present only in the second snapshot (node ids are stable within a process) are summed
 * by kind and constructor; closures by the script and line of their function, so a closure each
 * peer creates shows where it comes from. Prints bytes and objects per peer, largest first.
 */
import { readFileSync } from 'node:fs'

const [beforePath, afterPath, peersArg, topArg] = process.argv.slice(2)
if (!beforePath || !afterPath || !peersArg) {
  console.error('usage: heap-diff.mjs <before.heapsnapshot> <after.heapsnapshot> <peers> [rows]')
  process.exit(2)
}
const peers = Number(peersArg)
const top = Number(topArg ?? 60)

const load = (path) => JSON.parse(readFileSync(path, 'utf8'))
const before = load(beforePath)
const after = load(afterPath)

const meta = after.snapshot.meta
const nodeFields = meta.node_fields
const nodeTypes = meta.node_types[0]
const edgeTypes = meta.edge_types[0]
const N = nodeFields.length
const E = meta.edge_fields.length
const TYPE = nodeFields.indexOf('type')
const NAME = nodeFields.indexOf('name')
const ID = nodeFields.indexOf('id')
const SIZE = nodeFields.indexOf('self_size')
const EDGES = nodeFields.indexOf('edge_count')
const { nodes, edges, strings } = after

const seen = new Set()
for (let i = 0; i < before.nodes.length; i += N) seen.add(before.nodes[i + ID])

// Index of each node's first edge.
const firstEdge = new Int32Array(nodes.length / N)
for (let i = 0, e = 0; i < nodes.length; i += N) {
  firstEdge[i / N] = e
  e += nodes[i + EDGES] * E
}
/** The node an edge named `name` of node `i` points to, or -1. */
function edgeTo(i, name) {
  for (let e = firstEdge[i / N], c = 0; c < nodes[i + EDGES]; c++, e += E) {
    const t = edgeTypes[edges[e]]
    if (t !== 'element' && t !== 'hidden' && strings[edges[e + 1]] === name) return edges[e + 2]
  }
  return -1
}
// Source positions of closures: [node index, script id, line, column].
const line = new Map()
const locs = after.locations ?? []
for (let k = 0; k < locs.length; k += 4) line.set(locs[k], locs[k + 2] + 1)

function closureWhere(i) {
  const shared = edgeTo(i, 'shared')
  const script = shared < 0 ? -1 : edgeTo(shared, 'script_or_debug_info')
  const url = script < 0 ? '' : String(strings[nodes[script + NAME]])
  const short = url.replace(/^.*\/(src|bench|test|node_modules)\//, '$1/')
  return `${short || '(builtin)'}:${line.get(i) ?? '?'}`
}

const groups = new Map()
let total = 0
for (let i = 0; i < nodes.length; i += N) {
  if (seen.has(nodes[i + ID])) continue
  const type = nodeTypes[nodes[i + TYPE]]
  let key = type
  if (type === 'closure') key += ` ${strings[nodes[i + NAME]] || '(anonymous)'} @ ${closureWhere(i)}`
  else if (!type.includes('string') && type !== 'code' && type !== 'number')
    key += ` ${String(strings[nodes[i + NAME]]).slice(0, 50)}`
  const g = groups.get(key) ?? { count: 0, bytes: 0 }
  g.count++
  g.bytes += nodes[i + SIZE]
  total += nodes[i + SIZE]
  groups.set(key, g)
}

const rows = [...groups].filter(([, g]) => g.count >= peers / 2).sort((a, b) => b[1].bytes - a[1].bytes)
console.log('bytes/peer  objects/peer  what')
for (const [key, g] of rows.slice(0, top))
  console.log(`${(g.bytes / peers).toFixed(0).padStart(10)}  ${(g.count / peers).toFixed(2).padStart(12)}  ${key}`)
console.log(`${(total / peers).toFixed(0).padStart(10)}  total new bytes per peer (all objects, including ones not per peer)`)

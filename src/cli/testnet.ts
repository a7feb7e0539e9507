/**
 * `devp2p testnet`: a live local network on 127.0.0.1. One discovery-only bootnode and N nodes
 * that find each other through it (discv4) and connect over RLPx with a `demo/1` capability
 * that sends a small message every second. A live view (per node: table size, peers in/out,
 * bytes) on a terminal, progress lines otherwise, and a summary at the end.
 */
import type { Command } from 'commander'
import { generatePrivateKey } from '../crypto/index.js'
import { maxDialedConns, type Protocol, Server, send } from '../p2p/index.js'
import { decode } from '../rlp/index.js'
import { parseDuration } from './node.js'
import { CliError, EXIT, print } from './output.js'

/** The demo capability: code 0 carries [counter, sentAt ms]; one message per second per peer. */
function demoProtocol(stats: { sent: number; received: number }): Protocol {
  return {
    name: 'demo',
    version: 1,
    length: 1,
    async run(peer, rw) {
      const signal = peer.signal
      const reader = (async () => {
        for (;;) {
          const m = await rw.readMsg({ signal })
          decode(m.payload)
          stats.received++
        }
      })()
      reader.catch(() => {})
      let n = 0
      while (!signal.aborted) {
        await send(rw, 0, [++n, Date.now()], { signal })
        stats.sent++
        await new Promise<void>((resolve) => {
          const onAbort = (): void => {
            clearTimeout(t)
            resolve()
          }
          const t = setTimeout(() => {
            signal.removeEventListener('abort', onAbort)
            resolve()
          }, 1000)
          signal.addEventListener('abort', onAbort, { once: true })
        })
      }
    },
  }
}

interface Row {
  readonly name: string
  readonly table: number
  readonly peersIn: number
  readonly peersOut: number
  readonly bytesIn: number
  readonly bytesOut: number
}

function rowOf(name: string, s: Server): Row {
  let bytesIn = 0
  let bytesOut = 0
  for (const p of s.peers()) {
    bytesIn += p.bytesIn
    bytesOut += p.bytesOut
  }
  const c = s.peerCounts()
  return { name, table: s.tableSize(), peersIn: c.inbound, peersOut: c.outbound, bytesIn, bytesOut }
}

function human(n: number): string {
  if (n < 1024) return `${n} B`
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`
  return `${(n / 1024 / 1024).toFixed(1)} MiB`
}

function render(rows: Row[], elapsed: number, n: number): string {
  const lines = [
    `devp2p testnet: ${n} nodes + 1 bootnode on 127.0.0.1   t=${(elapsed / 1000).toFixed(1)}s   (Ctrl-C to stop)`,
    '',
    `${'node'.padEnd(8)}${'table'.padStart(7)}${'in'.padStart(6)}${'out'.padStart(6)}${'bytes in'.padStart(13)}${'bytes out'.padStart(13)}`,
  ]
  for (const r of rows)
    lines.push(
      `${r.name.padEnd(8)}${String(r.table).padStart(7)}${String(r.peersIn).padStart(6)}${String(r.peersOut).padStart(6)}${human(r.bytesIn).padStart(13)}${human(r.bytesOut).padStart(13)}`,
    )
  return lines.join('\n')
}

/** Register `devp2p testnet` (what `npm start` runs). */
export function registerTestnet(program: Command, json: () => boolean): void {
  program
    .command('testnet')
    .description('run a local network on 127.0.0.1 and watch it form (npm start)')
    .option('--nodes <n>', 'number of nodes (besides the bootnode)', '20')
    .option('--duration <d>', 'how long to run', '20s')
    .option('--maxpeers <n>', 'maxPeers of each node', '50')
    .action(async (o: { nodes: string; duration: string; maxpeers: string }) => {
      const n = Number(o.nodes)
      if (!Number.isInteger(n) || n < 2 || n > 200) throw new CliError('--nodes: expected 2..200', EXIT.usage)
      const maxPeers = Number(o.maxpeers)
      if (!Number.isInteger(maxPeers) || maxPeers < 1)
        throw new CliError('--maxpeers: expected a positive integer', EXIT.usage)
      const duration = parseDuration(o.duration, '--duration')
      const tty = process.stdout.isTTY === true && !json()
      const stats = { sent: 0, received: 0 }
      const started = performance.now()
      const servers: Server[] = []
      const stop = new AbortController()
      const onSignal = (): void => stop.abort()
      process.once('SIGINT', onSignal)
      process.once('SIGTERM', onSignal)
      let tablesFullAt: number | undefined
      let meshAt: number | undefined
      let dialTargetAt: number | undefined
      try {
        const boot = await Server.start({
          privateKey: generatePrivateKey(),
          listenAddr: '127.0.0.1:0',
          maxPeers: 0,
          name: 'devp2p-ts/testnet-bootnode',
        })
        servers.push(boot)
        const nodes = await Promise.all(
          Array.from({ length: n }, (_, i) =>
            Server.start({
              privateKey: generatePrivateKey(),
              listenAddr: '127.0.0.1:0',
              bootnodes: [boot.self()],
              maxPeers,
              name: `devp2p-ts/testnet-${i + 1}`,
              protocols: [demoProtocol(stats)],
            }),
          ),
        )
        servers.push(...nodes)
        const wantPeers = Math.min(maxPeers, n - 1)
        // Each node dials up to maxPeers / dialRatio peers; the rest of its peers are inbound.
        const dialTarget = Math.min(maxDialedConns({ maxPeers, dialRatio: 3, noDial: false }), n - 1)
        const deadline = started + duration
        let lastLine = 0
        while (!stop.signal.aborted && performance.now() < deadline) {
          await new Promise((r) => setTimeout(r, tty ? 500 : 250))
          const now = performance.now() - started
          const rows = nodes.map((s, i) => rowOf(`n${i + 1}`, s))
          if (tablesFullAt === undefined && rows.every((r) => r.table >= n - 1)) tablesFullAt = now
          if (meshAt === undefined && rows.every((r) => r.peersIn + r.peersOut >= wantPeers)) meshAt = now
          if (dialTargetAt === undefined && rows.every((r) => r.peersIn + r.peersOut >= dialTarget))
            dialTargetAt = now
          if (tty) process.stdout.write(`\x1b[H\x1b[2J${render(rows, now, n)}\n`)
          else if (!json() && now - lastLine >= 2000) {
            lastLine = now
            const peers = rows.map((r) => r.peersIn + r.peersOut)
            process.stdout.write(
              `t=${(now / 1000).toFixed(1)}s tables ${Math.min(...rows.map((r) => r.table))}-${Math.max(...rows.map((r) => r.table))} peers ${Math.min(...peers)}-${Math.max(...peers)} messages ${stats.received}\n`,
            )
          }
        }
        const rows = nodes.map((s, i) => rowOf(`n${i + 1}`, s))
        const peers = rows.map((r) => r.peersIn + r.peersOut)
        const summary = {
          nodes: n,
          seconds: Math.round((performance.now() - started) / 100) / 10,
          tablesFullSeconds: tablesFullAt === undefined ? null : Math.round(tablesFullAt / 100) / 10,
          fullMeshSeconds: meshAt === undefined ? null : Math.round(meshAt / 100) / 10,
          dialTarget,
          dialTargetSeconds: dialTargetAt === undefined ? null : Math.round(dialTargetAt / 100) / 10,
          peers: { min: Math.min(...peers), max: Math.max(...peers), wanted: wantPeers },
          tables: { min: Math.min(...rows.map((r) => r.table)), max: Math.max(...rows.map((r) => r.table)) },
          messages: { sent: stats.sent, received: stats.received },
          bytes: rows.reduce((a, r) => a + r.bytesIn, 0),
        }
        print(json(), summary, (s) =>
          [
            '',
            `summary: ${s.nodes} nodes for ${s.seconds}s`,
            `  every table held all ${s.nodes - 1} others after: ${s.tablesFullSeconds === null ? 'not reached' : `${s.tablesFullSeconds}s`}`,
            `  every node had >= ${s.dialTarget} peers (its dial target) after: ${s.dialTargetSeconds === null ? 'not reached' : `${s.dialTargetSeconds}s`}`,
            `  full mesh (${s.peers.wanted} peers each): ${s.fullMeshSeconds === null ? 'not reached (a node dials at most its dial target; the rest must dial it)' : `after ${s.fullMeshSeconds}s`}`,
            `  peers per node: ${s.peers.min}-${s.peers.max}; table sizes: ${s.tables.min}-${s.tables.max}`,
            `  demo messages: ${s.messages.sent} sent, ${s.messages.received} received (${human(s.bytes)})`,
          ].join('\n'),
        )
      } finally {
        process.off('SIGINT', onSignal)
        process.off('SIGTERM', onSignal)
        await Promise.all(servers.map((s) => s.stop()))
      }
    })
}

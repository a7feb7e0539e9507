/**
 * `devp2p discv4 ...`: Node Discovery v4 from the command line, as go-ethereum's `cmd/devp2p`:
 * `ping`, `requestenr` and `resolve` a node, `listen` (a discovery-only node, i.e. a bootnode)
 * and `crawl` the DHT into a `nodes.json` node set. Every command runs its own ephemeral
 * discovery node on `--addr` (default `127.0.0.1:0`), contacts only the nodes it was given (and,
 * for `resolve`/`crawl`/`listen`, what those answer), bounds every wait, and stops on SIGINT.
 */
import { randomBytes } from 'node:crypto'
import { existsSync, readFileSync, renameSync, unlinkSync, writeFileSync } from 'node:fs'
import { isIP } from 'node:net'
import type { Command } from 'commander'
import { generatePrivateKey } from '../crypto/index.js'
import {
  type CrawlProgress,
  crawl,
  Discv4,
  type Discv4Config,
  Discv4Error,
  formatNodesJson,
  listenUdp,
  type NodeSet,
  parseNodesJson,
} from '../discv4/index.js'
import { type Node, NodeDB, parseNode } from '../enode/index.js'
import { isAbortError, TimeoutError } from '../util/index.js'
import { describeEnr } from './enr.js'
import { readKeyFile } from './key.js'
import { CliError, EXIT, kv, print } from './output.js'

/** Options every discv4 command takes. */
interface CommonOpts {
  addr: string
  nodekey?: string
}

const DEFAULT_ADDR = '127.0.0.1:0'

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }

/** A Go-style duration (`500ms`, `10s`, `30m`, `1h30m`; `0` alone) in ms; usage error otherwise. */
function parseDuration(v: string, flag: string): number {
  const s = v.trim()
  if (s === '0') return 0
  const re = /(\d+(?:\.\d+)?)(ms|s|m|h)/gy
  let total = 0
  let matched = 0
  for (let m = re.exec(s); m !== null; m = re.exec(s)) {
    total += Number(m[1]) * UNITS[m[2]!]!
    matched = re.lastIndex
  }
  if (s.length === 0 || matched !== s.length || !Number.isFinite(total))
    throw new CliError(`${flag}: expected a duration like 500ms, 10s, 30m or 1h, got ${v}`, EXIT.usage)
  return Math.round(total)
}

function parseCount(v: string, flag: string, min: number, max: number): number {
  const n = Number(v)
  if (!/^\d+$/.test(v.trim()) || n < min || n > max)
    throw new CliError(`${flag}: expected an integer in [${min}, ${max}], got ${v}`, EXIT.usage)
  return n
}

/** `ip:port` or `[ipv6]:port`. */
function parseAddr(v: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(v.trim())
  const host = m === null ? '' : (m[1] ?? m[2] ?? '')
  const port = m === null ? Number.NaN : Number(m[3])
  if (isIP(host) === 0 || !(port >= 0 && port <= 65535))
    throw new CliError(`--addr: expected IP:port (e.g. 127.0.0.1:30301), got ${v}`, EXIT.usage)
  return { host, port }
}

/** A node argument with a UDP endpoint; usage error otherwise. */
function parseNodeArg(text: string, what = 'node'): Node {
  let node: Node
  try {
    node = parseNode(text.trim())
  } catch (e) {
    throw new CliError(`bad ${what}: ${(e as Error).message}`, EXIT.usage)
  }
  if (node.udpEndpoint() === undefined)
    throw new CliError(
      `bad ${what}: ${node.hostname !== undefined ? 'DNS names are not resolved, give an IP address' : 'no IP address and UDP port'}`,
      EXIT.usage,
    )
  return node
}

/** A comma-separated node list (`--bootnodes`). */
function parseBootnodes(list: string | undefined): Node[] {
  if (list === undefined) return []
  return list
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0)
    .map((s) => parseNodeArg(s, 'bootnode'))
}

function endpointText(n: Node): string {
  const ep = n.udpEndpoint()!
  return ep.ip.includes(':') ? `[${ep.ip}]:${ep.port}` : `${ep.ip}:${ep.port}`
}

/** An AbortSignal that fires on SIGINT/SIGTERM (and a disposer removing the handlers). */
function interruptSignal(): { signal: AbortSignal; dispose(): void } {
  const ac = new AbortController()
  const on = (): void => ac.abort(new Error('interrupted'))
  process.once('SIGINT', on)
  process.once('SIGTERM', on)
  return {
    signal: ac.signal,
    dispose: () => {
      process.off('SIGINT', on)
      process.off('SIGTERM', on)
    },
  }
}

/** Bind `--addr` and start an ephemeral discovery node on it. */
async function startDisc(
  o: CommonOpts,
  extra: { bootnodes?: Node[]; db?: NodeDB; config?: Partial<Discv4Config>; signal?: AbortSignal } = {},
): Promise<Discv4> {
  const addr = parseAddr(o.addr)
  const privateKey = o.nodekey ? readKeyFile(o.nodekey) : generatePrivateKey()
  let conn: Awaited<ReturnType<typeof listenUdp>>
  try {
    conn = await listenUdp({ host: addr.host, port: addr.port })
  } catch (e) {
    throw new CliError(`cannot listen on ${o.addr}: ${(e as Error).message}`)
  }
  try {
    return await Discv4.start({
      privateKey,
      conn,
      bootnodes: extra.bootnodes ?? [],
      ...(extra.db !== undefined ? { db: extra.db } : {}),
      ...(extra.config !== undefined ? { config: extra.config } : {}),
    })
  } catch (e) {
    conn.close()
    throw new CliError(`cannot start discovery: ${(e as Error).message}`)
  }
}

/** The CliError for a failed request to `what`. */
function requestFailed(e: unknown, what: string, interrupt: AbortSignal): CliError {
  if (e instanceof CliError) return e
  if (interrupt.aborted) return new CliError(`${what}: interrupted`)
  if (e instanceof TimeoutError) return new CliError(`${what}: no answer within ${e.timeoutMs} ms`)
  if (e instanceof Discv4Error) return new CliError(`${what}: ${e.message.replace(/^discv4: /, '')}`)
  if (isAbortError(e)) return new CliError(`${what}: aborted`)
  return new CliError(`${what}: ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}`)
}

/**
 * Start an ephemeral discovery node for one request: run `fn` with it and a SIGINT/SIGTERM
 * signal, turn failures into a CliError about `what`, and always close the node.
 */
async function oneRequest<T>(
  o: CommonOpts,
  extra: Parameters<typeof startDisc>[1],
  what: string,
  fn: (disc: Discv4, signal: AbortSignal) => Promise<T>,
): Promise<T> {
  const it = interruptSignal()
  try {
    const disc = await startDisc(o, extra)
    try {
      return await fn(disc, it.signal)
    } catch (e) {
      throw requestFailed(e, what, it.signal)
    } finally {
      disc.close()
    }
  } finally {
    it.dispose()
  }
}

function withCommon(cmd: Command): Command {
  return cmd
    .option('--addr <ip:port>', 'our UDP endpoint', DEFAULT_ADDR)
    .option('--nodekey <file>', 'our key file (default: a fresh key)')
}

/** The record fields of a node, as `enr dump` prints them. */
function recordText(d: Record<string, unknown>): string {
  return kv([
    ...Object.entries(d).filter(([k]) => k !== 'otherKeys'),
    ...Object.entries((d.otherKeys ?? {}) as Record<string, string>).map(
      ([k, x]) => [`key ${k}`, x] as const,
    ),
  ])
}

/** Write `text` to `file` atomically: a temporary file in the same directory, then rename. */
function writeAtomic(file: string, text: string): void {
  const tmp = `${file}.${process.pid}-${randomBytes(4).toString('hex')}.tmp`
  try {
    writeFileSync(tmp, text, { mode: 0o644, flag: 'wx' })
    renameSync(tmp, file)
  } catch (e) {
    try {
      unlinkSync(tmp)
    } catch {
      // not created
    }
    throw new CliError(`cannot write ${file}: ${(e as Error).message}`)
  }
}

function progressLine(p: CrawlProgress): string {
  return `crawl: found ${p.found}, queried ${p.queried}, live ${p.live}, queued ${p.queued}, in set ${p.nodes}`
}

/** Register the `discv4` commands. */
export function registerDiscv4(program: Command, json: () => boolean): void {
  const d4 = program
    .command('discv4')
    .description('Node Discovery v4: ping, records, DHT lookups, bootnode, crawler')

  withCommon(d4.command('ping <node>'))
    .description(
      'ping a node (enode:// or enr:) and print its Pong: record seq, our endpoint as it saw it, RTT',
    )
    .option('--timeout <duration>', 'reply deadline', '500ms')
    .action(async (target: string, o: CommonOpts & { timeout: string }) => {
      const node = parseNodeArg(target)
      const timeout = parseDuration(o.timeout, '--timeout')
      if (timeout <= 0) throw new CliError('--timeout: must be positive', EXIT.usage)
      await oneRequest(
        o,
        { config: { respTimeoutMs: timeout } },
        `no pong from ${endpointText(node)}`,
        async (disc, signal) => {
          const t0 = performance.now()
          const r = await disc.ping(node, { signal })
          const rttMs = Math.round((performance.now() - t0) * 100) / 100
          print(
            json(),
            {
              id: node.idHex,
              addr: endpointText(node),
              seq: r.seq,
              observed: r.observed === undefined ? null : r.observed,
              rttMs,
            },
            (v) =>
              kv([
                ['id', v.id],
                ['addr', v.addr],
                ['seq', v.seq],
                ['observed', v.observed === null ? '-' : `${v.observed.ip}:${v.observed.port}`],
                ['rtt', `${v.rttMs} ms`],
              ]),
          )
        },
      )
    })

  withCommon(d4.command('requestenr <node>'))
    .description('ask a node for its signed record (EIP-868 ENRRequest, after bonding) and print it')
    .option('--timeout <duration>', 'deadline of each reply (bonding takes up to three)', '500ms')
    .action(async (target: string, o: CommonOpts & { timeout: string }) => {
      const node = parseNodeArg(target)
      const timeout = parseDuration(o.timeout, '--timeout')
      if (timeout <= 0) throw new CliError('--timeout: must be positive', EXIT.usage)
      await oneRequest(
        o,
        { config: { respTimeoutMs: timeout } },
        `cannot retrieve the record of ${endpointText(node)}`,
        async (disc, signal) => {
          const rn = await disc.requestENR(node, { signal })
          if (rn.record === undefined) throw new CliError(`no record from ${endpointText(node)}`)
          print(json(), describeEnr(rn.record), recordText)
        },
      )
    })

  withCommon(d4.command('resolve <node>'))
    .description(
      'find the newest record of a node: ask it, else look its id up in the DHT through --bootnodes',
    )
    .option('--bootnodes <list>', 'comma-separated enode:// or enr: nodes to look the node up through')
    .option('--timeout <duration>', 'bound on the whole resolution', '60s')
    .action(async (target: string, o: CommonOpts & { bootnodes?: string; timeout: string }) => {
      const node = parseNodeArg(target)
      const bootnodes = parseBootnodes(o.bootnodes)
      const timeout = parseDuration(o.timeout, '--timeout')
      if (timeout <= 0) throw new CliError('--timeout: must be positive', EXIT.usage)
      await oneRequest(
        o,
        { bootnodes, config: { lookupTimeoutMs: timeout } },
        `cannot resolve node ${node.idHex.slice(0, 16)}`,
        async (disc, signal) => {
          const rn = await disc.resolve(node, { signal })
          if (rn.record === undefined)
            throw new CliError(
              `no record found for node ${node.idHex} (it did not answer, the DHT did not know it)`,
            )
          print(json(), { ...describeEnr(rn.record), newer: rn.seq > node.seq }, recordText)
        },
      )
    })

  withCommon(d4.command('listen'))
    .description(
      'run a discovery-only node (a bootnode): print its enode and record, serve until SIGINT/SIGTERM or --duration',
    )
    .option('--nodedb <path>', 'node database file (default: in memory)')
    .option('--bootnodes <list>', 'comma-separated nodes to join (default: none, wait to be contacted)')
    .option('--extip <ip>', 'the IP to put in our record (default: the bound IP, or 127.0.0.1)')
    .option('--duration <duration>', 'stop after this long (default: until a signal)')
    .action(
      async (o: CommonOpts & { nodedb?: string; bootnodes?: string; extip?: string; duration?: string }) => {
        const bootnodes = parseBootnodes(o.bootnodes)
        const duration = o.duration === undefined ? undefined : parseDuration(o.duration, '--duration')
        const extip = o.extip
        if (extip !== undefined && isIP(extip) === 0)
          throw new CliError(`--extip: not an IP address: ${o.extip}`, EXIT.usage)
        parseAddr(o.addr)
        let db: NodeDB | undefined
        if (o.nodedb !== undefined) {
          try {
            db = NodeDB.open(o.nodedb)
          } catch (e) {
            throw new CliError(`--nodedb: ${(e as Error).message}`)
          }
        }
        // Handlers first: a signal arriving right after we print must not kill us uncleanly.
        let stop: (reason: string) => void = () => {}
        const stopped = new Promise<string>((resolve) => {
          stop = resolve
        })
        const onInt = (): void => stop('SIGINT')
        const onTerm = (): void => stop('SIGTERM')
        process.once('SIGINT', onInt)
        process.once('SIGTERM', onTerm)
        let timer: ReturnType<typeof setTimeout> | undefined
        let disc: Discv4
        try {
          disc = await startDisc(o, { bootnodes, ...(db !== undefined ? { db } : {}) })
        } catch (e) {
          process.off('SIGINT', onInt)
          process.off('SIGTERM', onTerm)
          db?.close()
          throw e
        }
        try {
          if (duration !== undefined) timer = setTimeout(() => stop('duration'), duration)
          if (extip !== undefined) disc.localNode.setStaticIP(extip)
          const self = disc.self()
          const la = disc.localAddress()
          print(
            json(),
            {
              id: self.idHex,
              enode: self.toEnodeUrl(),
              enr: self.toString(),
              addr: la.ip.includes(':') ? `[${la.ip}]:${la.port}` : `${la.ip}:${la.port}`,
            },
            (v) =>
              kv([
                ['id', v.id],
                ['enode', v.enode],
                ['enr', v.enr],
                ['addr', v.addr],
              ]),
          )
          const why = await stopped
          const s = disc.stats()
          process.stderr.write(
            `devp2p: discv4 listen stopped (${why}); ${disc.tableNodes().length} nodes in table, ` +
              `${s.ingressPackets} packets in, ${s.egressPackets} out\n`,
          )
        } finally {
          process.off('SIGINT', onInt)
          process.off('SIGTERM', onTerm)
          if (timer !== undefined) clearTimeout(timer)
          disc.close()
          db?.close()
        }
      },
    )

  withCommon(d4.command('crawl <nodes.json>'))
    .description(
      "crawl the DHT into a node set in geth's nodes.json format; an existing file is re-checked and updated (written atomically; - for stdout)",
    )
    .option('--bootnodes <list>', 'comma-separated enode:// or enr: nodes to start from')
    .option('--timeout <duration>', 'bound on the whole crawl', '30m')
    .option('--parallel <n>', 'nodes worked on at once', '16')
    .option(
      '--revalidate <duration>',
      'do not re-check nodes checked more recently than this (geth: 10m)',
      '10m',
    )
    .option('--max-nodes <n>', 'most nodes seen and kept', '100000')
    .action(
      async (
        file: string,
        o: CommonOpts & {
          bootnodes?: string
          timeout: string
          parallel: string
          revalidate: string
          maxNodes: string
        },
      ) => {
        const bootnodes = parseBootnodes(o.bootnodes)
        const timeoutMs = parseDuration(o.timeout, '--timeout')
        if (timeoutMs <= 0) throw new CliError('--timeout: must be positive', EXIT.usage)
        const revalidateIntervalMs = parseDuration(o.revalidate, '--revalidate')
        const parallel = parseCount(o.parallel, '--parallel', 1, 1024)
        const maxNodes = parseCount(o.maxNodes, '--max-nodes', 1, 10_000_000)
        parseAddr(o.addr)
        const toStdout = file === '-'
        let input: NodeSet = new Map()
        if (!toStdout && existsSync(file)) {
          let text: string
          try {
            text = readFileSync(file, 'utf8')
          } catch (e) {
            throw new CliError(`cannot read ${file}: ${(e as Error).message}`)
          }
          try {
            input = parseNodesJson(text, maxNodes)
          } catch (e) {
            throw new CliError(`${file}: ${(e as Error).message}`)
          }
        }
        if (input.size === 0 && bootnodes.length === 0)
          throw new CliError('nothing to crawl: give --bootnodes or an existing node set', EXIT.usage)
        const it = interruptSignal()
        const disc = await startDisc(o, { bootnodes }).catch((e: unknown) => {
          it.dispose()
          throw e
        })
        const tty = process.stderr.isTTY === true
        const started = performance.now()
        let result: Awaited<ReturnType<typeof crawl>>
        try {
          result = await crawl(disc, {
            input,
            bootnodes,
            parallel,
            timeoutMs,
            revalidateIntervalMs,
            maxNodes,
            signal: it.signal,
            ...(tty
              ? { onProgress: (p: CrawlProgress) => process.stderr.write(`\r\x1b[K${progressLine(p)}`) }
              : {}),
          })
        } finally {
          if (tty) process.stderr.write('\n')
          disc.close()
          it.dispose()
        }
        const text = formatNodesJson(result.nodes)
        if (toStdout) process.stdout.write(`${text}\n`)
        else writeAtomic(file, text)
        const p = result.progress
        const summary = {
          file,
          end: result.end,
          nodes: result.nodes.size,
          found: p.found,
          queried: p.queried,
          live: p.live,
          added: p.added,
          updated: p.updated,
          removed: p.removed,
          skippedRecent: p.skippedRecent,
          skippedIncompatible: p.skippedIncompatible,
          dropped: p.dropped,
          seconds: Math.round((performance.now() - started) / 100) / 10,
        }
        const render = (v: typeof summary): string => kv(Object.entries(v))
        if (toStdout) process.stderr.write(`${json() ? JSON.stringify(summary) : render(summary)}\n`)
        else print(json(), summary, render)
      },
    )
}

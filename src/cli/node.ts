/**
 * `devp2p node`: run a node with a persistent key and node database in a data directory,
 * print its enode and ENR, log peers joining and leaving, and optionally serve geth's admin
 * JSON-RPC methods and Prometheus metrics on a loopback HTTP endpoint.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { join } from 'node:path'
import type { Command } from 'commander'
import { formatNodeKey, generatePrivateKey, parseNodeKey } from '../crypto/index.js'
import { type Node, parseNode } from '../enode/index.js'
import { type Nat, parseNat } from '../nat/index.js'
import { isLoopback, Netlist, tryParseIP } from '../netutil/index.js'
import { handleRpc, Server } from '../p2p/index.js'
import { parseLevel, stderrLogger } from './log.js'
import { BOOTNODES, NETWORKS, type NetworkName } from './networks.js'
import { CliError, EXIT, kv, print } from './output.js'

/** Largest JSON-RPC request body accepted. */
const MAX_RPC_BODY = 1024 * 1024

interface NodeOpts {
  datadir?: string
  nodekey?: string
  addr: string
  port: string
  discport?: string
  maxpeers: string
  maxpendpeers: string
  bootnodes?: string
  network?: string
  nat: string
  netrestrict?: string
  nodiscover?: boolean
  nodial?: boolean
  static?: string
  trusted?: string
  http?: string
  name: string
  duration?: string
  verbosity: string
  logFormat: string
}

function nodes(list: string | undefined, flag: string): Node[] {
  if (!list) return []
  return list
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0)
    .map((s) => {
      try {
        return parseNode(s)
      } catch (e) {
        throw new CliError(`${flag}: ${(e as Error).message}`, EXIT.usage)
      }
    })
}

function intOpt(v: string, flag: string, min: number, max: number): number {
  const n = Number(v)
  if (!Number.isInteger(n) || n < min || n > max)
    throw new CliError(`${flag}: expected an integer in [${min}, ${max}]`, EXIT.usage)
  return n
}

/** Parse `30s`, `5m`, `1h`, `1500ms` or plain seconds. */
export function parseDuration(v: string, flag: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(v.trim())
  if (!m) throw new CliError(`${flag}: expected a duration like 30s, 5m, 1h`, EXIT.usage)
  const n = Number(m[1])
  const unit = m[2] ?? 's'
  return Math.round(n * (unit === 'ms' ? 1 : unit === 's' ? 1000 : unit === 'm' ? 60_000 : 3_600_000))
}

function loadOrCreateKey(o: NodeOpts): Uint8Array {
  if (o.nodekey) {
    try {
      return parseNodeKey(readFileSync(o.nodekey, 'utf8'))
    } catch (e) {
      throw new CliError(`--nodekey ${o.nodekey}: ${(e as Error).message}`)
    }
  }
  if (!o.datadir) return generatePrivateKey()
  const file = join(o.datadir, 'nodekey')
  if (existsSync(file)) {
    try {
      return parseNodeKey(readFileSync(file, 'utf8'))
    } catch (e) {
      throw new CliError(`${file}: ${(e as Error).message}`)
    }
  }
  const key = generatePrivateKey()
  writeFileSync(file, formatNodeKey(key), { mode: 0o600, flag: 'wx' })
  return key
}

// async: a bad address rejects (so the caller stops the server) instead of throwing past its .catch
async function serveHttp(srv: Server, addr: string): Promise<{ close(): Promise<void>; url: string }> {
  const m = /^(?:\[([^\]]+)\]|([^:]+)):(\d{1,5})$/.exec(addr)
  const host = m?.[1] ?? m?.[2]
  const ip = host === 'localhost' ? tryParseIP('127.0.0.1') : host ? tryParseIP(host) : undefined
  if (!m || !ip || !isLoopback(ip))
    throw new CliError(`--http: expected a loopback host:port, got ${addr}`, EXIT.usage)
  const handler = (req: IncomingMessage, res: ServerResponse): void => {
    if (req.method === 'GET' && req.url === '/metrics') {
      res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' })
      res.end(srv.prometheus())
      return
    }
    if (req.method !== 'POST') {
      res.writeHead(405, { allow: 'POST, GET /metrics' }).end()
      return
    }
    const chunks: Buffer[] = []
    let size = 0
    req.on('data', (c: Buffer) => {
      size += c.length
      if (size > MAX_RPC_BODY) {
        res.writeHead(413).end()
        req.destroy()
        return
      }
      chunks.push(c)
    })
    req.on('end', () => {
      if (res.writableEnded) return
      let body: unknown
      try {
        body = JSON.parse(Buffer.concat(chunks).toString('utf8'))
      } catch {
        res.writeHead(200, { 'content-type': 'application/json' })
        res.end(JSON.stringify({ jsonrpc: '2.0', id: null, error: { code: -32700, message: 'parse error' } }))
        return
      }
      res.writeHead(200, { 'content-type': 'application/json' })
      res.end(JSON.stringify(handleRpc(srv, body)))
    })
  }
  return new Promise((resolve, reject) => {
    const http = createServer(handler)
    http.once('error', reject)
    http.listen(Number(m[3]), host, () => {
      const a = http.address() as AddressInfo
      resolve({
        url: `http://${a.family === 'IPv6' ? `[${a.address}]` : a.address}:${a.port}`,
        close: () => new Promise((r) => http.close(() => r())),
      })
    })
  })
}

/** Register `devp2p node`. */
export function registerNode(program: Command, json: () => boolean): void {
  program
    .command('node')
    .description('run a devp2p node (persistent key and node database in --datadir)')
    .option(
      '--datadir <dir>',
      'data directory for nodekey and nodes.db (default: ephemeral key, in-memory db)',
    )
    .option('--nodekey <file>', 'key file (overrides the datadir key)')
    .option('--addr <ip>', 'listen IP', '0.0.0.0')
    .option('--port <port>', 'TCP listen port', '30303')
    .option('--discport <port>', 'UDP discovery port (default: --port)')
    .option('--maxpeers <n>', 'maximum peers', '50')
    .option('--maxpendpeers <n>', 'maximum concurrent handshakes', '50')
    .option('--bootnodes <list>', 'comma-separated enode/enr bootnodes')
    .option('--network <name>', `built-in bootnodes: ${NETWORKS.join('|')}`)
    .option('--nat <spec>', 'none|any|upnp|pmp[:gw]|extip:IP|stun[:host:port]', 'none')
    .option('--netrestrict <cidrs>', 'only these networks, e.g. 10.0.0.0/8,192.168.0.0/16')
    .option('--nodiscover', 'disable discovery')
    .option('--nodial', 'never dial')
    .option('--static <list>', 'comma-separated static nodes')
    .option('--trusted <list>', 'comma-separated trusted nodes')
    .option('--http <host:port>', 'serve admin_* JSON-RPC and /metrics on this loopback address')
    .option('--name <name>', 'client name in Hello', 'devp2p-ts')
    .option('--duration <d>', 'stop after this long (e.g. 30s, 10m)')
    .option('--verbosity <level>', 'trace|debug|info|warn|error', 'info')
    .option('--log-format <fmt>', 'text|json', 'text')
    .action(async (o: NodeOpts) => {
      let level: ReturnType<typeof parseLevel>
      try {
        level = parseLevel(o.verbosity)
      } catch (e) {
        throw new CliError((e as Error).message, EXIT.usage)
      }
      if (o.logFormat !== 'text' && o.logFormat !== 'json')
        throw new CliError('--log-format: text|json', EXIT.usage)
      const log = stderrLogger(level, o.logFormat)
      const port = intOpt(o.port, '--port', 0, 65535)
      const discport = o.discport === undefined ? port : intOpt(o.discport, '--discport', 0, 65535)
      if (o.network !== undefined && !NETWORKS.includes(o.network as NetworkName))
        throw new CliError(`--network: expected ${NETWORKS.join('|')}`, EXIT.usage)
      const bootnodes = [...nodes(o.bootnodes, '--bootnodes')]
      if (o.network) bootnodes.push(...nodes(BOOTNODES[o.network as NetworkName].join(','), '--network'))
      let netRestrict: Netlist | undefined
      try {
        netRestrict = o.netrestrict ? Netlist.parse(o.netrestrict) : undefined
      } catch (e) {
        throw new CliError(`--netrestrict: ${(e as Error).message}`, EXIT.usage)
      }
      let nat: Nat | undefined
      try {
        nat = parseNat(o.nat)
      } catch (e) {
        throw new CliError(`--nat: ${(e as Error).message}`, EXIT.usage)
      }
      const duration = o.duration ? parseDuration(o.duration, '--duration') : undefined
      if (o.datadir) mkdirSync(o.datadir, { recursive: true })
      const privateKey = loadOrCreateKey(o)
      const host = o.addr.includes(':') ? `[${o.addr}]` : o.addr
      let srv: Server
      try {
        srv = await Server.start(
          {
            privateKey,
            name: o.name,
            listenAddr: `${host}:${port}`,
            discAddr: `${host}:${discport}`,
            maxPeers: intOpt(o.maxpeers, '--maxpeers', 0, 100_000),
            maxPendingPeers: intOpt(o.maxpendpeers, '--maxpendpeers', 1, 10_000),
            bootnodes,
            staticNodes: nodes(o.static, '--static'),
            trustedNodes: nodes(o.trusted, '--trusted'),
            netRestrict,
            noDiscovery: o.nodiscover === true,
            noDial: o.nodial === true,
            nodeDatabase: o.datadir ? join(o.datadir, 'nodes.db') : '',
          },
          { logger: log, ...(nat ? { nat } : {}) },
        )
      } catch (e) {
        if (e instanceof CliError) throw e
        throw new CliError(`cannot start node: ${(e as Error).message}`)
      }
      const http = o.http
        ? await serveHttp(srv, o.http).catch(async (e: unknown) => {
            await srv.stop()
            throw e
          })
        : undefined
      // Signal handlers go in before anything is printed: a supervisor may signal as soon as it
      // reads our enode.
      const stopped = new Promise<void>((resolve) => {
        const done = (): void => {
          process.off('SIGINT', done)
          process.off('SIGTERM', done)
          if (timer) clearTimeout(timer)
          resolve()
        }
        const timer = duration === undefined ? undefined : setTimeout(done, duration)
        process.once('SIGINT', done)
        process.once('SIGTERM', done)
      })
      const self = srv.self()
      print(
        json(),
        {
          id: self.idHex,
          enode: self.toEnodeUrl(),
          enr: self.record?.toText() ?? '',
          tcp: srv.port,
          udp: srv.discoveryPort,
          http: http?.url,
        },
        (v) =>
          kv([
            ['id', v.id],
            ['enode', v.enode],
            ['enr', v.enr],
            ['http', v.http],
          ]),
      )
      srv.subscribe((e) => {
        if (e.type === 'add')
          log.info('peer joined', {
            id: e.peer.slice(0, 16),
            remote: e.remote,
            inbound: e.inbound,
            peers: srv.peerCount(),
          })
        else if (e.type === 'drop')
          log.info('peer left', {
            id: e.peer.slice(0, 16),
            reason: e.reason,
            side: e.side,
            peers: srv.peerCount(),
          })
      })
      await stopped
      log.info('stopping')
      await http?.close()
      await srv.stop()
    })
}

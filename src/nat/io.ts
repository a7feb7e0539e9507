/**
 * The Node implementations of the NAT layer's injected services ({@link NatDeps}): UDP sockets
 * over `node:dgram`, a size-bounded HTTP client over `node:http`, the interface list from
 * `node:os`, and the default gateways from `/proc/net/route`. Tests replace all of them.
 */
import { createSocket } from 'node:dgram'
import { readFileSync } from 'node:fs'
import { request } from 'node:http'
import { networkInterfaces } from 'node:os'
import { systemClock } from '../util/clock.js'
import { DecodeError } from '../util/errors.js'
import { silentLogger } from '../util/logger.js'
import { secureRandom } from '../util/random.js'
import { NatError } from './errors.js'
import { parseRouteTable } from './gateway.js'
import type {
  HttpClient,
  HttpRequest,
  HttpResponse,
  LocalInterface,
  NatDeps,
  UdpPeer,
  UdpSocket,
  UdpSocketFactory,
} from './nat.js'

/** UDP sockets from `node:dgram` (IPv4, ephemeral port, host names resolved by Node). */
export const nodeUdpSocketFactory: UdpSocketFactory = (opts) =>
  new Promise<UdpSocket>((resolve, reject) => {
    const sock = createSocket({ type: 'udp4' })
    let closed = false
    let handler: ((data: Uint8Array, from: UdpPeer) => void) | undefined
    const onBindError = (err: Error): void => {
      closed = true
      sock.close()
      reject(err)
    }
    sock.once('error', onBindError)
    sock.on('message', (msg, rinfo) => {
      handler?.(new Uint8Array(msg.buffer, msg.byteOffset, msg.byteLength), {
        address: rinfo.address,
        port: rinfo.port,
      })
    })
    sock.bind(0, () => {
      sock.off('error', onBindError)
      // Later socket errors (e.g. ICMP-driven) only lose the current exchange, which times out.
      sock.on('error', () => {})
      if (opts?.multicastTTL !== undefined) sock.setMulticastTTL(opts.multicastTTL)
      resolve({
        send: (data, port, address) =>
          new Promise<void>((res, rej) => {
            if (closed) {
              rej(new NatError('UDP socket closed'))
              return
            }
            sock.send(data, port, address, (err) => (err ? rej(err) : res()))
          }),
        onMessage: (h) => {
          handler = h
        },
        close: () => {
          if (closed) return
          closed = true
          sock.close()
        },
      })
    })
  })

/** An HTTP/1.1 client over `node:http` that refuses bodies beyond `maxBytes` and honours `signal`. */
export const nodeHttpClient: HttpClient = (req: HttpRequest) =>
  new Promise<HttpResponse>((resolve, reject) => {
    let url: URL
    try {
      url = new URL(req.url)
    } catch (e) {
      reject(new NatError(`bad URL ${JSON.stringify(req.url.slice(0, 200))}`, { cause: e }))
      return
    }
    if (url.protocol !== 'http:') {
      reject(new NatError(`unsupported URL scheme ${url.protocol}`))
      return
    }
    const body = req.body === undefined ? undefined : Buffer.from(req.body, 'utf8')
    const headers: Record<string, string> = { ...req.headers, Connection: 'close' }
    if (body) headers['Content-Length'] = String(body.length)
    const r = request(url, { method: req.method, headers, agent: false, signal: req.signal }, (res) => {
      const declared = Number(res.headers['content-length'])
      if (Number.isFinite(declared) && declared > req.maxBytes) {
        res.destroy()
        reject(new DecodeError('http', `body of ${declared} bytes exceeds ${req.maxBytes}`))
        return
      }
      const chunks: Buffer[] = []
      let total = 0
      res.on('data', (c: Buffer) => {
        total += c.length
        if (total > req.maxBytes) {
          res.destroy()
          reject(new DecodeError('http', `body exceeds ${req.maxBytes} bytes`))
          return
        }
        chunks.push(c)
      })
      res.on('error', reject)
      res.on('end', () => {
        const hs: Record<string, string> = {}
        for (const [k, v] of Object.entries(res.headers)) {
          if (v !== undefined) hs[k.toLowerCase()] = Array.isArray(v) ? v.join(', ') : v
        }
        const localAddress = res.socket?.localAddress
        resolve({
          status: res.statusCode ?? 0,
          headers: hs,
          body: new Uint8Array(Buffer.concat(chunks)),
          ...(localAddress ? { localAddress } : {}),
        })
      })
    })
    r.on('error', reject)
    r.end(body)
  })

/** The IPv4 and IPv6 addresses of `os.networkInterfaces()`, flattened. */
export function nodeInterfaces(): readonly LocalInterface[] {
  const out: LocalInterface[] = []
  for (const list of Object.values(networkInterfaces())) {
    for (const a of list ?? []) {
      out.push({ address: a.address, netmask: a.netmask, family: a.family, internal: a.internal })
    }
  }
  return out
}

/** IPv4 default gateways from `/proc/net/route` (empty where that file does not exist). */
export function nodeDefaultGateways(): readonly string[] {
  let text: string
  try {
    text = readFileSync('/proc/net/route', 'utf8')
  } catch {
    return []
  }
  return parseRouteTable(text)
}

/** Fill in the Node defaults for every service not given. */
export function resolveNatDeps(partial: Partial<NatDeps> = {}): NatDeps {
  return Object.freeze({
    clock: partial.clock ?? systemClock,
    logger: partial.logger ?? silentLogger,
    random: partial.random ?? secureRandom,
    udp: partial.udp ?? nodeUdpSocketFactory,
    http: partial.http ?? nodeHttpClient,
    interfaces: partial.interfaces ?? nodeInterfaces,
    defaultGateways: partial.defaultGateways ?? nodeDefaultGateways,
  })
}

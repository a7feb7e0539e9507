/**
 * Fakes for the NAT unit tests: an in-memory UDP network (sockets from a factory, scripted
 * responders keyed by `host:port`, deliveries on the simulated clock) and a scripted HTTP client
 * that enforces `maxBytes` like the real one.
 */
import {
  type HttpClient,
  type HttpRequest,
  type HttpResponse,
  type LocalInterface,
  type NatDeps,
  resolveNatDeps,
  type UdpPeer,
  type UdpSocket,
  type UdpSocketFactory,
} from '../../../src/nat/index.js'
import { DecodeError, type SimulatedClock, seededRandom, utf8 } from '../../../src/util/index.js'

/** One datagram sent by code under test. */
export interface SentPacket {
  readonly at: number
  readonly to: string
  readonly data: Uint8Array
  readonly socket: number
}

/** A responder: given a datagram, the replies to deliver (each from `from`, after `delayMs`). */
export type Responder = (
  data: Uint8Array,
  sender: UdpPeer,
) => { data: Uint8Array; from?: UdpPeer; delayMs?: number }[] | undefined

/** An in-memory UDP network on a simulated clock. */
export class FakeUdpNetwork {
  readonly sent: SentPacket[] = []
  readonly responders = new Map<string, Responder>()
  openSockets = 0
  private nextId = 0
  constructor(private readonly clock: SimulatedClock) {}

  /** Register what answers datagrams sent to `host:port`. */
  on(host: string, port: number, r: Responder): void {
    this.responders.set(`${host}:${port}`, r)
  }

  readonly factory: UdpSocketFactory = async () => {
    const id = ++this.nextId
    const local: UdpPeer = { address: '10.0.0.2', port: 40000 + id }
    let handler: ((d: Uint8Array, f: UdpPeer) => void) | undefined
    let closed = false
    this.openSockets++
    const sock: UdpSocket = {
      send: async (data, port, address) => {
        if (closed) throw new Error('closed')
        const to = `${address}:${port}`
        this.sent.push({ at: this.clock.now(), to, data: data.slice(), socket: id })
        const r = this.responders.get(to)
        const replies = r?.(data.slice(), local) ?? []
        for (const rep of replies) {
          const from = rep.from ?? { address, port }
          const deliver = (): void => {
            if (!closed) handler?.(rep.data, from)
          }
          if (rep.delayMs) this.clock.setTimeout(deliver, rep.delayMs)
          else queueMicrotask(deliver)
        }
      },
      onMessage: (h) => {
        handler = h
      },
      close: () => {
        if (!closed) this.openSockets--
        closed = true
      },
    }
    return sock
  }

  /** Packets sent to `to`. */
  sentTo(to: string): SentPacket[] {
    return this.sent.filter((p) => p.to === to)
  }
}

/** A scripted HTTP handler. */
export type HttpHandler = (
  req: HttpRequest,
) =>
  | { status: number; body: string; localAddress?: string }
  | Promise<{ status: number; body: string; localAddress?: string }>

/** A scripted HTTP client: handlers by URL; unknown URLs reject like a refused connection. */
export class FakeHttp {
  readonly requests: HttpRequest[] = []
  readonly handlers = new Map<string, HttpHandler>()
  on(url: string, h: HttpHandler): void {
    this.handlers.set(url, h)
  }
  readonly client: HttpClient = async (req): Promise<HttpResponse> => {
    this.requests.push(req)
    const h = this.handlers.get(req.url)
    if (!h) throw Object.assign(new Error(`connect ECONNREFUSED ${req.url}`), { code: 'ECONNREFUSED' })
    const r = await h(req)
    const body = utf8(r.body)
    if (body.length > req.maxBytes) throw new DecodeError('http', `body exceeds ${req.maxBytes} bytes`)
    return {
      status: r.status,
      headers: {},
      body,
      ...(r.localAddress ? { localAddress: r.localAddress } : {}),
    }
  }
  /** SOAP actions requested, in order (from the SOAPAction header). */
  actions(): string[] {
    return this.requests
      .filter((r) => r.method === 'POST')
      .map((r) => (r.headers?.['SOAPAction'] ?? '').replace(/^".*#|"$/g, ''))
  }
}

/** The LAN of the tests: 192.168.1.2/24 plus loopback. */
export const LAN_INTERFACES: readonly LocalInterface[] = [
  { address: '127.0.0.1', netmask: '255.0.0.0', family: 'IPv4', internal: true },
  { address: '192.168.1.2', netmask: '255.255.255.0', family: 'IPv4', internal: false },
  { address: 'fe80::1', netmask: 'ffff:ffff:ffff:ffff::', family: 'IPv6', internal: false },
]

/** NatDeps on the fakes. */
export function fakeDeps(
  clock: SimulatedClock,
  udp: FakeUdpNetwork,
  http: FakeHttp = new FakeHttp(),
  extra: Partial<NatDeps> = {},
): NatDeps {
  return resolveNatDeps({
    clock,
    udp: udp.factory,
    http: http.client,
    random: seededRandom(7),
    interfaces: () => LAN_INTERFACES,
    defaultGateways: () => [],
    ...extra,
  })
}

/** Advance the simulated clock in steps until `p` settles (bounded), and return its outcome. */
export async function settle<T>(
  clock: SimulatedClock,
  p: Promise<T>,
  stepMs = 50,
  maxMs = 120_000,
): Promise<{ ok: true; value: T } | { ok: false; error: unknown }> {
  let done: { ok: true; value: T } | { ok: false; error: unknown } | undefined
  p.then(
    (value) => {
      done = { ok: true, value }
    },
    (error: unknown) => {
      done = { ok: false, error }
    },
  )
  for (let t = 0; t <= maxMs && !done; t += stepMs) await clock.advance(stepMs)
  if (!done) throw new Error(`promise did not settle within ${maxMs} simulated ms`)
  return done
}

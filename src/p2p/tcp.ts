/**
 * TCP for the server: the default {@link Dialer} (connect with a deadline and an AbortSignal)
 * and listening on an explicit address. The only socket code of the p2p folder besides the
 * server's accept loop.
 */
import { type AddressInfo, createServer, type Server, Socket } from 'node:net'
import type { Node } from '../enode/index.js'
import { AbortError, type Clock, systemClock, withTimeout } from '../util/index.js'

/** Opens TCP connections to nodes (geth's `NodeDialer`). */
export interface Dialer {
  dial(node: Node, opts: { signal: AbortSignal }): Promise<Socket>
}

/** Default dial deadline (geth: defaultDialTimeout 15 s). */
export const DEFAULT_DIAL_TIMEOUT_MS = 15_000

/** Connect to `host:port`; rejects with AbortError (the signal carries the deadline) or the socket error. */
export function connectTcp(host: string, port: number, opts: { signal?: AbortSignal } = {}): Promise<Socket> {
  return new Promise<Socket>((resolve, reject) => {
    const sock = new Socket()
    const cleanup = (): void => {
      opts.signal?.removeEventListener('abort', onAbort)
      sock.off('error', onError)
      sock.off('connect', onConnect)
    }
    const fail = (e: Error): void => {
      cleanup()
      sock.destroy()
      reject(e)
    }
    const onError = (e: Error): void => fail(e)
    const onAbort = (): void => fail(new AbortError('dial aborted', { cause: opts.signal?.reason }))
    const onConnect = (): void => {
      cleanup()
      resolve(sock)
    }
    if (opts.signal?.aborted) {
      onAbort()
      return
    }
    opts.signal?.addEventListener('abort', onAbort, { once: true })
    sock.once('error', onError)
    sock.once('connect', onConnect)
    sock.connect({ host, port })
  })
}

/** The default dialer: the node's IP and TCP port, with a deadline on `clock`. */
export function tcpDialer(opts: { clock?: Clock; timeoutMs?: number } = {}): Dialer {
  const clock = opts.clock ?? systemClock
  const timeoutMs = opts.timeoutMs ?? DEFAULT_DIAL_TIMEOUT_MS
  return {
    dial(node, o) {
      const ip = node.ip
      if (ip === undefined || node.tcp === 0)
        return Promise.reject(new RangeError(`node ${node.idHex.slice(0, 16)} has no TCP endpoint`))
      return withTimeout(clock, timeoutMs, `dial ${ip}:${node.tcp}`, o.signal, (signal) =>
        connectTcp(ip, node.tcp, { signal }),
      )
    },
  }
}

/** Listen on `host:port` (port 0 picks a free port); resolves with the server and its address. */
export function listenTcp(
  host: string,
  port: number,
  onConnection: (s: Socket) => void,
): Promise<{ server: Server; address: AddressInfo }> {
  return new Promise((resolve, reject) => {
    const server = createServer({ noDelay: true }, onConnection)
    server.once('error', reject)
    server.listen({ host, port, exclusive: true }, () => {
      server.off('error', reject)
      resolve({ server, address: server.address() as AddressInfo })
    })
  })
}

/** Split `host:port` / `[v6]:port` / `:port` text; the host defaults to 0.0.0.0. */
export function splitHostPort(addr: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d{1,5})$/.exec(addr.trim())
  if (!m) throw new RangeError(`address: expected host:port, got ${JSON.stringify(addr)}`)
  const port = Number(m[3])
  if (port > 65535) throw new RangeError(`address: port out of range in ${addr}`)
  return { host: m[1] ?? (m[2] || '0.0.0.0'), port }
}

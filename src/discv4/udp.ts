/**
 * The real datagram socket: {@link listenUdp} binds a `node:dgram` socket to exactly the given
 * address and adapts it to {@link PacketConn}. This is the only discovery file that does socket
 * I/O; everything else talks to a `PacketConn`. Send errors are logged, never thrown (a lost
 * datagram is normal for UDP); socket errors after binding are logged too.
 */
import { createSocket, type Socket } from 'node:dgram'
import { isTemporaryError } from '../netutil/index.js'
import { AbortError, type Logger, normalizeIP, silentLogger } from '../util/index.js'
import type { PacketConn, PacketHandler, UdpAddress } from './conn.js'
import { MAX_PACKET_SIZE } from './wire.js'

/** Options of {@link listenUdp}. */
export interface ListenUdpOptions {
  /** The IP to bind (IPv4 or IPv6 literal; `0.0.0.0` / `::` for all interfaces). */
  readonly host: string
  /** The port to bind; 0 picks a free one (read it back with `localAddress()`). */
  readonly port: number
  /** Abort binding. */
  readonly signal?: AbortSignal
  /** Where socket errors go. Default: silent. */
  readonly logger?: Logger
}

/**
 * Bind a UDP socket at exactly `host:port` (an IPv6 socket is IPv6-only, so binding `::` does not
 * also take the IPv4 port) and return it as a {@link PacketConn}. Datagrams longer than
 * {@link MAX_PACKET_SIZE} are dropped before they reach the handler. Rejects if the address
 * cannot be bound or `signal` aborts.
 */
export async function listenUdp(opts: ListenUdpOptions): Promise<PacketConn> {
  const ip = normalizeIP(opts.host)
  if (ip === undefined) throw new RangeError(`listenUdp: host must be an IP address, got ${opts.host}`)
  if (!Number.isInteger(opts.port) || opts.port < 0 || opts.port > 65535)
    throw new RangeError(`listenUdp: bad port ${opts.port}`)
  const log = (opts.logger ?? silentLogger).child({ module: 'discv4-udp' })
  const v6 = ip.includes(':')
  const socket: Socket = createSocket({ type: v6 ? 'udp6' : 'udp4', ipv6Only: v6, reuseAddr: false })
  await new Promise<void>((resolve, reject) => {
    const onError = (err: Error): void => {
      cleanup()
      socket.close()
      reject(err)
    }
    const onAbort = (): void => {
      cleanup()
      socket.close()
      reject(new AbortError('listenUdp aborted', { cause: opts.signal?.reason }))
    }
    const cleanup = (): void => {
      socket.off('error', onError)
      opts.signal?.removeEventListener('abort', onAbort)
    }
    if (opts.signal?.aborted) {
      onAbort()
      return
    }
    opts.signal?.addEventListener('abort', onAbort, { once: true })
    socket.once('error', onError)
    socket.bind({ address: ip, port: opts.port, exclusive: true }, () => {
      cleanup()
      resolve()
    })
  })
  const bound = socket.address()
  const local: UdpAddress = { ip: normalizeIP(bound.address) ?? bound.address, port: bound.port }
  let handler: PacketHandler | undefined
  let closed = false
  socket.on('error', (err) => log.debug('socket error', { err }))
  socket.on('message', (msg, rinfo) => {
    if (handler === undefined || msg.length > MAX_PACKET_SIZE) return
    const from = normalizeIP(rinfo.address)
    if (from === undefined) return
    handler(new Uint8Array(msg.buffer, msg.byteOffset, msg.length), { ip: from, port: rinfo.port })
  })
  return {
    send(bytes: Uint8Array, toIp: string, toPort: number): void {
      if (closed) return
      try {
        socket.send(bytes, toPort, toIp, (err) => {
          if (err && !isTemporaryError(err)) log.debug('send failed', { to: `${toIp}:${toPort}`, err })
        })
      } catch (err) {
        // Synchronous argument errors (e.g. port 0): the datagram is simply not sent.
        log.debug('send refused', { to: `${toIp}:${toPort}`, err })
      }
    },
    onPacket(h: PacketHandler): void {
      handler = h
    },
    close(): void {
      if (closed) return
      closed = true
      handler = undefined
      socket.close()
    },
    localAddress(): UdpAddress {
      return local
    },
  }
}

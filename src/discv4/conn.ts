/**
 * The datagram seam of discovery: {@link PacketConn}, the small interface the protocol engine
 * talks to instead of a socket, and {@link createMemoryNetwork}, an in-memory UDP network whose
 * endpoints are `PacketConn`s (a public test seam: protocol tests and simulations run many nodes
 * in one process, on a simulated clock, with optional packet loss). The real socket adapter is
 * `listenUdp` in `udp.ts`, the only file here that touches `node:dgram`.
 */
import { type Clock, normalizeIP, type RandomSource, secureRandom, systemClock } from '../util/index.js'

/** A UDP address with the IP as canonical text (IPv4 dotted, IPv6 RFC 5952, no brackets). */
export interface UdpAddress {
  /** Canonical IP text. */
  readonly ip: string
  /** UDP port. */
  readonly port: number
}

/** Receives one datagram and the address it came from. */
export type PacketHandler = (bytes: Uint8Array, from: UdpAddress) => void

/**
 * A bound datagram endpoint. `send` is fire-and-forget (datagrams may be lost; errors are the
 * adapter's to log). `onPacket` installs the single receive handler (a later call replaces it).
 * `close` is idempotent; nothing is delivered after it.
 */
export interface PacketConn {
  /** Send `bytes` to `ip:port`. */
  send(bytes: Uint8Array, ip: string, port: number): void
  /** Install the receive handler. */
  onPacket(handler: PacketHandler): void
  /** Stop receiving and release the endpoint. */
  close(): void
  /** The address this endpoint is bound to. */
  localAddress(): UdpAddress
}

/** Options of {@link createMemoryNetwork}. */
export interface MemoryNetworkOptions {
  /**
   * Clock on which datagrams are delivered (`latencyMs` after sending). With a `SimulatedClock`
   * nothing moves until the test advances time. Default: the system clock.
   */
  readonly clock?: Clock
  /** Delivery delay in ms. Default 0 (delivered on the clock's next turn, never synchronously). */
  readonly latencyMs?: number
  /** Probability in [0, 1] that a datagram is dropped. Default 0. */
  readonly loss?: number
  /** Randomness for `loss`. Default: `secureRandom`. */
  readonly random?: RandomSource
  /** Most datagrams in flight at once; more are dropped, as a full socket buffer would. Default 100 000. */
  readonly maxInFlight?: number
}

/** Counters of a {@link MemoryNetwork}. */
export interface MemoryNetworkStats {
  /** Datagrams handed to `send`. */
  readonly sent: number
  /** Datagrams delivered to a handler. */
  readonly delivered: number
  /** Datagrams lost: random loss, no listener, closed endpoint, or in-flight cap. */
  readonly dropped: number
}

/** A datagram seen by a {@link MemoryNetwork} tap. */
export interface TappedPacket {
  /** The sending endpoint. */
  readonly from: UdpAddress
  /** The destination as given to `send`. */
  readonly to: UdpAddress
  /** The datagram (a copy; do not modify). */
  readonly bytes: Uint8Array
}

/** An in-memory UDP network (see {@link createMemoryNetwork}). */
export interface MemoryNetwork {
  /**
   * Bind an endpoint at `ip:port`. Port 0 (the default) picks a free port from 30303 upwards.
   * Throws `RangeError` for a bad IP or an address already in use.
   */
  listen(ip: string, port?: number): PacketConn
  /** Change the loss probability. */
  setLoss(loss: number): void
  /** Counters since creation. */
  stats(): MemoryNetworkStats
  /** Observe every datagram at send time (before loss); returns a function that removes the tap. */
  tap(fn: (p: TappedPacket) => void): () => void
}

interface Queued {
  readonly to: string
  readonly from: UdpAddress
  readonly bytes: Uint8Array
}

/**
 * Create an in-memory UDP network. Datagrams are copied on send and delivered in FIFO order on
 * the given clock; a datagram to an address nobody listens on is dropped.
 */
export function createMemoryNetwork(opts: MemoryNetworkOptions = {}): MemoryNetwork {
  const clock = opts.clock ?? systemClock
  const latency = opts.latencyMs ?? 0
  const random = opts.random ?? secureRandom
  const maxInFlight = opts.maxInFlight ?? 100_000
  let loss = checkLoss(opts.loss ?? 0)
  let sent = 0
  let delivered = 0
  let dropped = 0
  let nextPort = 30303
  // BOUNDED: one entry per open endpoint; removed on close.
  const endpoints = new Map<string, { handler: PacketHandler | undefined }>()
  // BOUNDED: one entry per installed tap; removed by the function tap() returns.
  const taps = new Set<(p: TappedPacket) => void>()
  // Datagrams waiting for delivery, in send order; at most `maxInFlight`.
  const queue: Queued[] = []
  let head = 0
  let scheduled = false

  const key = (ip: string, port: number): string => `${ip}|${port}`

  const flush = (): void => {
    scheduled = false
    // Deliver what was queued before this turn; later sends wait for the next turn.
    const end = queue.length
    while (head < end) {
      const q = queue[head]!
      head++
      const ep = endpoints.get(q.to)
      if (ep?.handler === undefined) {
        dropped++
        continue
      }
      delivered++
      ep.handler(q.bytes, q.from)
    }
    if (head === queue.length) {
      queue.length = 0
      head = 0
    } else {
      // Drop the delivered prefix so the array does not grow under sustained traffic.
      if (head >= 1024) {
        queue.splice(0, head)
        head = 0
      }
      schedule()
    }
  }
  const schedule = (): void => {
    if (scheduled) return
    scheduled = true
    clock.setTimeout(flush, latency)
  }

  return {
    listen(ip: string, port = 0): PacketConn {
      const addrIp = normalizeIP(ip)
      if (addrIp === undefined) throw new RangeError(`memory network: not an IP address: ${ip}`)
      if (!Number.isInteger(port) || port < 0 || port > 65535)
        throw new RangeError(`memory network: bad port ${port}`)
      let p = port
      if (p === 0) {
        while (endpoints.has(key(addrIp, nextPort))) nextPort++
        p = nextPort++
      }
      const k = key(addrIp, p)
      if (endpoints.has(k)) throw new RangeError(`memory network: ${ip}:${p} already in use`)
      const self = { handler: undefined as PacketHandler | undefined }
      endpoints.set(k, self)
      const local: UdpAddress = { ip: addrIp, port: p }
      let closed = false
      return {
        send(bytes: Uint8Array, toIp: string, toPort: number): void {
          if (closed) return
          sent++
          const to = normalizeIP(toIp)
          const copy = bytes.slice()
          for (const t of taps) t({ from: local, to: { ip: to ?? toIp, port: toPort }, bytes: copy })
          if (to === undefined || (loss > 0 && random.int(1_000_000) < loss * 1_000_000)) {
            dropped++
            return
          }
          if (queue.length - head >= maxInFlight) {
            dropped++
            return
          }
          queue.push({ to: key(to, toPort), from: local, bytes: copy })
          schedule()
        },
        onPacket(handler: PacketHandler): void {
          if (!closed) self.handler = handler
        },
        close(): void {
          if (closed) return
          closed = true
          self.handler = undefined
          endpoints.delete(k)
        },
        localAddress(): UdpAddress {
          return local
        },
      }
    },
    setLoss(l: number): void {
      loss = checkLoss(l)
    },
    stats(): MemoryNetworkStats {
      return { sent, delivered, dropped }
    },
    tap(fn: (p: TappedPacket) => void): () => void {
      taps.add(fn)
      return () => {
        taps.delete(fn)
      }
    },
  }
}

function checkLoss(l: number): number {
  if (typeof l !== 'number' || !(l >= 0 && l <= 1))
    throw new RangeError('memory network: loss must be in [0, 1]')
  return l
}

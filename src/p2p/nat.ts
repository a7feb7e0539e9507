/**
 * The server's NAT loop (geth's `server_nat.go`): with `extip`, set the static IP once; with a
 * mapping mechanism (UPnP, NAT-PMP, any), run one port-mapping loop for the TCP listener and
 * one for the UDP discovery socket (not for loopback binds), and put the external IP and the
 * mapped ports into our record; with STUN, poll the external IP. Stopping deletes the mappings.
 */
import type { LocalNode } from '../enode/index.js'
import { type Nat, type PortMapping, shouldMapPort, startPortMapping } from '../nat/index.js'
import { type Clock, formatIP, type Logger, silentLogger, withTimeout } from '../util/index.js'

/** Timings of the NAT loop (defaults: geth's; see nat/mapping.ts). */
export interface ServerNatTimings {
  readonly lifetime?: number
  readonly refresh?: number
  readonly retryAfter?: number
  readonly extIPInterval?: number
}

/** What {@link startServerNat} needs. */
export interface ServerNatOptions {
  readonly nat: Nat
  readonly localNode: LocalNode
  /** The TCP listener's bound host and port, if listening. */
  readonly tcp?: { readonly host: string; readonly port: number }
  /** The UDP discovery socket's bound host and port, if any. */
  readonly udp?: { readonly host: string; readonly port: number }
  readonly clock: Clock
  readonly logger?: Logger
  readonly timings?: ServerNatTimings
}

/** A running NAT loop. */
export interface ServerNat {
  /** The current mapping loops (for info). */
  readonly mappings: readonly PortMapping[]
  /** Stop polling and delete the mappings (bounded). */
  stop(): Promise<void>
}

/** Start the NAT handling for a server. */
export async function startServerNat(o: ServerNatOptions): Promise<ServerNat> {
  const log = o.logger ?? silentLogger
  const { nat, localNode } = o
  if (nat.mechanism === 'extip') {
    const ip = await withTimeout(o.clock, 5000, 'extip', undefined, (signal) => nat.externalIP({ signal }))
    localNode.setStaticIP(formatIP(ip))
    log.info('NAT: static external IP', { ip: formatIP(ip) })
    return { mappings: [], stop: async () => {} }
  }
  const setIP = (ip: Uint8Array | undefined): void => {
    if (ip) localNode.setStaticIP(formatIP(ip))
    else localNode.clearStaticIP()
  }
  if (!nat.supportsMapping) {
    // STUN: the external IP only, polled every extIPInterval.
    const every = o.timings?.extIPInterval ?? 2 * 60_000
    const poll = (): void => {
      withTimeout(o.clock, 30_000, 'external IP', undefined, (signal) => nat.externalIP({ signal })).then(
        (ip) => setIP(ip),
        (err: unknown) => log.debug('NAT: external IP query failed', { err: err as Error }),
      )
    }
    poll()
    const t = o.clock.setInterval(poll, every)
    return { mappings: [], stop: async () => t.cancel() }
  }
  const mappings: PortMapping[] = []
  const common = { nat, clock: o.clock, logger: log, ...o.timings, onExternalIP: setIP }
  if (o.tcp && shouldMapPort(o.tcp.host)) {
    mappings.push(
      startPortMapping({
        ...common,
        protocol: 'tcp',
        intPort: o.tcp.port,
        name: 'ethereum p2p',
        onMapped: (ip, port) => {
          if (ip) setIP(ip)
          localNode.set('tcp', port)
          log.info('NAT: mapped TCP port', { ext: port, int: o.tcp?.port })
        },
        onUnmapped: () => localNode.set('tcp', o.tcp?.port ?? 0),
      }),
    )
  }
  if (o.udp && shouldMapPort(o.udp.host)) {
    mappings.push(
      startPortMapping({
        ...common,
        protocol: 'udp',
        intPort: o.udp.port,
        name: 'ethereum peer discovery',
        onMapped: (ip, port) => {
          if (ip) setIP(ip)
          localNode.setFallbackUDP(port)
          log.info('NAT: mapped UDP port', { ext: port, int: o.udp?.port })
        },
        onUnmapped: () => localNode.setFallbackUDP(o.udp?.port ?? 0),
      }),
    )
  }
  return {
    mappings,
    stop: async () => {
      await Promise.all(mappings.map((m) => m.stop()))
    },
  }
}

/**
 * The server's configuration (geth's `p2p.Config`): one documented object with defaults and
 * a resolver, and the derived peer limits. Injected services (clock, dialer, logger, NAT,
 * database) are passed separately, in {@link ServerServices} of `server.ts`.
 */
import type { Node } from '../enode/index.js'
import type { Netlist } from '../netutil/index.js'
import { checkProtocol, type Protocol } from './protocol.js'

/** Server options. Every field but `privateKey` has a default in {@link SERVER_DEFAULTS}. */
export interface ServerConfig {
  /** Our secp256k1 node key (32 bytes). Required. */
  readonly privateKey: Uint8Array
  /** Client name sent in Hello. */
  readonly name: string
  /** Most connected peers, of all kinds (geth default 50). 0 disables dialing. */
  readonly maxPeers: number
  /** Concurrent inbound handshakes, and concurrent dials (geth: 50). */
  readonly maxPendingPeers: number
  /** Inbound:dialed ratio: dialed peers = maxPeers / dialRatio, at least 1 (geth: 3). */
  readonly dialRatio: number
  /** Open no UDP socket and run no discovery. */
  readonly noDiscovery: boolean
  /** Never dial. */
  readonly noDial: boolean
  /** Discovery bootstrap nodes; also dialed one at a time while we have no peer (see dial.ts). */
  readonly bootnodes: readonly Node[]
  /** Nodes we always keep a connection to (redialed after a disconnect). */
  readonly staticNodes: readonly Node[]
  /** Nodes allowed in above the peer limits. */
  readonly trustedNodes: readonly Node[]
  /** When set, only these networks are dialed, accepted, learned from discovery or used as bootnodes. */
  readonly netRestrict: Netlist | undefined
  /** Path of the node database; empty: in memory. */
  readonly nodeDatabase: string
  /** Our sub-protocols. */
  readonly protocols: readonly Protocol[]
  /** TCP listen address `host:port` (port 0 picks a free port); empty: no listener. */
  readonly listenAddr: string
  /** UDP discovery address; empty: the listen address's host and port. */
  readonly discAddr: string
  /** Publish `msgsend`/`msgrecv` events for every message. */
  readonly enableMsgEvents: boolean
  /** Deadline of both handshakes of a connection (5 s). */
  readonly handshakeTimeoutMs: number
  /** Minimum time between inbound attempts from one non-LAN IP (geth: 30 s). */
  readonly inboundThrottleMs: number
  /** TCP connect deadline (geth: 15 s). */
  readonly dialTimeoutMs: number
  /** Dial bootnodes one at a time while we have had no peer for 20 s (the seed's dialstate rule). */
  readonly bootnodeFallback: boolean
  /** Interval of our Pings (geth: 15 s). */
  readonly pingIntervalMs: number
}

/** Defaults of {@link ServerConfig} (geth's, where geth has one). */
export const SERVER_DEFAULTS: Omit<ServerConfig, 'privateKey'> = Object.freeze({
  name: 'devp2p-ts',
  maxPeers: 50,
  maxPendingPeers: 50,
  dialRatio: 3,
  noDiscovery: false,
  noDial: false,
  bootnodes: [],
  staticNodes: [],
  trustedNodes: [],
  netRestrict: undefined,
  nodeDatabase: '',
  protocols: [],
  listenAddr: '0.0.0.0:30303',
  discAddr: '',
  enableMsgEvents: false,
  handshakeTimeoutMs: 5_000,
  inboundThrottleMs: 30_000,
  dialTimeoutMs: 15_000,
  bootnodeFallback: true,
  pingIntervalMs: 15_000,
})

/** A complete frozen config; throws RangeError/TypeError naming a bad field. */
export function resolveServerConfig(
  partial: Partial<ServerConfig> & { privateKey: Uint8Array },
): Readonly<ServerConfig> {
  const c: { -readonly [K in keyof ServerConfig]: ServerConfig[K] } = { ...SERVER_DEFAULTS, ...partial }
  if (!(c.privateKey instanceof Uint8Array) || c.privateKey.length !== 32)
    throw new TypeError('privateKey: expected 32 bytes')
  for (const k of ['maxPeers', 'maxPendingPeers', 'dialRatio'] as const)
    if (!Number.isInteger(c[k]) || c[k] < 0) throw new RangeError(`${k}: expected a non-negative integer`)
  if (c.maxPendingPeers === 0) c.maxPendingPeers = SERVER_DEFAULTS.maxPendingPeers
  if (c.dialRatio === 0) c.dialRatio = SERVER_DEFAULTS.dialRatio
  for (const k of ['handshakeTimeoutMs', 'inboundThrottleMs', 'dialTimeoutMs', 'pingIntervalMs'] as const)
    if (!(c[k] > 0)) throw new RangeError(`${k}: must be positive`)
  for (const p of c.protocols) checkProtocol(p)
  return Object.freeze(c)
}

/** Dialed-peer limit: 0 with noDial or maxPeers 0, else maxPeers / dialRatio, at least 1 (geth). */
export function maxDialedConns(c: Pick<ServerConfig, 'noDial' | 'maxPeers' | 'dialRatio'>): number {
  if (c.noDial || c.maxPeers === 0) return 0
  return Math.max(1, Math.floor(c.maxPeers / (c.dialRatio || 3)))
}

/** Inbound-peer limit: maxPeers minus the dialed limit. */
export function maxInboundConns(c: Pick<ServerConfig, 'noDial' | 'maxPeers' | 'dialRatio'>): number {
  return c.maxPeers - maxDialedConns(c)
}

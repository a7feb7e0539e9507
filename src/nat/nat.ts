/**
 * The NAT port-mapping interface ({@link Nat}, geth's `nat.Interface`), the options every mechanism
 * shares ({@link NAT_DEFAULTS}), and the injected services they run on ({@link NatDeps}: clock,
 * logger, randomness, UDP sockets, an HTTP client, the local interface list and default routes).
 */
import { assertInt, assertPort } from '../util/assert.js'
import type { Clock } from '../util/clock.js'
import type { Logger } from '../util/logger.js'
import type { RandomSource } from '../util/random.js'

/** Transport protocol of a port mapping. */
export type NatProtocol = 'tcp' | 'udp'

/** Options of every asynchronous NAT call. */
export interface NatCallOptions {
  /** Cancels the call; it rejects with `AbortError`. Every call also has its own timeout. */
  readonly signal?: AbortSignal
}

/** The mechanisms {@link parseNat} knows. */
export type NatMechanism = 'extip' | 'upnp' | 'pmp' | 'stun' | 'any'

/**
 * A way to learn our external IP and to map ports on the router in front of us (geth's
 * `nat.Interface`). Every method is bounded in time and honours `signal`.
 */
export interface Nat {
  /** The mechanism (for an auto-discovering `any`, still `any` after discovery). */
  readonly mechanism: NatMechanism
  /** False for mechanisms that only report the external IP (`extip`, `stun`): mapping is a no-op. */
  readonly supportsMapping: boolean
  /** The canonical spec text that {@link parseNat} reads back (`extip:1.2.3.4`, `pmp`, …). */
  readonly spec: string
  /** The router's address when known (the UPnP device host, the NAT-PMP gateway). */
  readonly gateway: string | undefined
  /** The router's external (internet-facing) address: 4 bytes (16 only for an IPv6 `extip` or router). */
  externalIP(opts?: NatCallOptions): Promise<Uint8Array>
  /**
   * Map `extPort` on the router to `intPort` on this host for `lifetimeSec` seconds, and resolve
   * with the external port actually mapped (the router may choose another one). `extPort` 0
   * means "same as `intPort`".
   */
  addMapping(
    protocol: NatProtocol,
    extPort: number,
    intPort: number,
    name: string,
    lifetimeSec: number,
    opts?: NatCallOptions,
  ): Promise<number>
  /** Remove a mapping made by {@link Nat.addMapping}; removing an absent mapping succeeds. */
  deleteMapping(protocol: NatProtocol, extPort: number, intPort: number, opts?: NatCallOptions): Promise<void>
  /** A short description for logs, e.g. `UPnP IGDv2-IP2(10.0.0.1)` or `NAT-PMP(192.168.0.1)`. */
  toString(): string
}

/** The remote side of a datagram. */
export interface UdpPeer {
  readonly address: string
  readonly port: number
}

/** The small part of a UDP socket the NAT clients need; the Node implementation is in `io.ts`. */
export interface UdpSocket {
  /** Send one datagram; `address` may be a host name (resolved by the implementation). */
  send(data: Uint8Array, port: number, address: string): Promise<void>
  /** Set the (single) handler for received datagrams. */
  onMessage(handler: (data: Uint8Array, from: UdpPeer) => void): void
  /** Close the socket; idempotent. */
  close(): void
}

/** Opens an IPv4 UDP socket bound to an ephemeral port. */
export type UdpSocketFactory = (opts?: { readonly multicastTTL?: number }) => Promise<UdpSocket>

/** An HTTP request made by the UPnP client (always plain `http:` on the LAN). */
export interface HttpRequest {
  readonly method: 'GET' | 'POST'
  readonly url: string
  readonly headers?: Readonly<Record<string, string>>
  readonly body?: string
  /** The body is refused (the call rejects with `DecodeError`) beyond this many bytes. */
  readonly maxBytes: number
  readonly signal?: AbortSignal
}

/** The reply to an {@link HttpRequest}. */
export interface HttpResponse {
  readonly status: number
  /** Header names in lower case. */
  readonly headers: Readonly<Record<string, string>>
  readonly body: Uint8Array
  /** Our local address on the connection, when the transport knows it. */
  readonly localAddress?: string
}

/** Performs one HTTP exchange; the caller bounds it in time through `signal`. */
export type HttpClient = (req: HttpRequest) => Promise<HttpResponse>

/** One address of a local network interface (the shape of `os.networkInterfaces()` entries). */
export interface LocalInterface {
  readonly address: string
  readonly netmask: string
  readonly family: 'IPv4' | 'IPv6'
  readonly internal: boolean
}

/** The services the NAT clients run on; every field has a Node default (see `io.ts`). */
export interface NatDeps {
  readonly clock: Clock
  readonly logger: Logger
  readonly random: RandomSource
  readonly udp: UdpSocketFactory
  readonly http: HttpClient
  /** The local interface addresses (default: `os.networkInterfaces()`). */
  readonly interfaces: () => readonly LocalInterface[]
  /** IPv4 default-route gateways (default: parsed from `/proc/net/route` when present). */
  readonly defaultGateways: () => readonly string[]
}

/** Tunables of the NAT clients; {@link NAT_DEFAULTS} holds the defaults. All times in ms. */
export interface NatOptions {
  /** How long UPnP discovery listens for SSDP answers. */
  readonly ssdpWindowMs: number
  /** At most this many distinct devices (LOCATIONs) are examined per discovery. */
  readonly ssdpMaxDevices: number
  /** Timeout of one UPnP HTTP exchange (description fetch or SOAP call); geth: 3 s. */
  readonly soapTimeoutMs: number
  /** Largest device description accepted. */
  readonly descriptionMaxBytes: number
  /** Largest SOAP reply accepted. */
  readonly soapMaxBytes: number
  /** Minimum gap between two SOAP requests to one router; geth: 200 ms. */
  readonly upnpRequestIntervalMs: number
  /** AddPortMapping attempts on the requested port for non-conflict errors; geth: 4. */
  readonly upnpRequestedPortTries: number
  /** Random external ports in [10000, 65535) tried after a conflict; geth: 3. */
  readonly upnpRandomPortTries: number
  /** How long NAT-PMP discovery waits for a gateway; geth: 1 s. */
  readonly pmpDiscoveryMs: number
  /** First NAT-PMP retransmission interval, doubled after each try; RFC 6886: 250 ms. */
  readonly pmpInitialRtoMs: number
  /** NAT-PMP sends per request; RFC 6886 allows up to 9 (64 s), bounded here by `pmpTimeoutMs`. */
  readonly pmpMaxTries: number
  /** Timeout of one NAT-PMP request. */
  readonly pmpTimeoutMs: number
  /** First STUN retransmission interval, doubled after each try; RFC 5389: 500 ms. */
  readonly stunInitialRtoMs: number
  /** STUN sends per server. */
  readonly stunMaxTries: number
  /** Timeout of one STUN server's exchange. */
  readonly stunTimeoutMs: number
  /** Servers tried (at most this many, in random order) when `stun` names none; geth: 3. */
  readonly stunServerTries: number
  /** Default STUN servers (`host:port`) for a bare `stun`. */
  readonly stunServers: readonly string[]
  /** Bound on router auto-discovery (`any`, `upnp`, `pmp` without a gateway). */
  readonly discoveryTimeoutMs: number
  /** Bound on any single public {@link Nat} call (including discovery it triggers). */
  readonly operationTimeoutMs: number
}

/** Defaults with geth's values where it has one. */
export const NAT_DEFAULTS: NatOptions = Object.freeze({
  ssdpWindowMs: 2000,
  ssdpMaxDevices: 16,
  soapTimeoutMs: 3000,
  descriptionMaxBytes: 256 * 1024,
  soapMaxBytes: 64 * 1024,
  upnpRequestIntervalMs: 200,
  upnpRequestedPortTries: 4,
  upnpRandomPortTries: 3,
  pmpDiscoveryMs: 1000,
  pmpInitialRtoMs: 250,
  pmpMaxTries: 9,
  pmpTimeoutMs: 4000,
  stunInitialRtoMs: 500,
  stunMaxTries: 4,
  stunTimeoutMs: 3000,
  stunServerTries: 3,
  stunServers: Object.freeze([
    'stun.l.google.com:19302',
    'stun1.l.google.com:19302',
    'stun2.l.google.com:19302',
    'stun3.l.google.com:19302',
    'stun4.l.google.com:19302',
    'stun.cloudflare.com:3478',
  ]),
  discoveryTimeoutMs: 5000,
  operationTimeoutMs: 30_000,
})

/** A complete, frozen options object from a partial one (unknown keys are ignored). */
export function resolveNatOptions(partial: Partial<NatOptions> = {}): NatOptions {
  const out: Record<string, unknown> = { ...NAT_DEFAULTS }
  for (const k of Object.keys(NAT_DEFAULTS) as (keyof NatOptions)[]) {
    const v = partial[k]
    if (v === undefined) continue
    if (k === 'stunServers') {
      if (!Array.isArray(v) || !v.every((x) => typeof x === 'string'))
        throw new TypeError('stunServers: expected an array of strings')
      out[k] = Object.freeze([...v])
    } else {
      assertInt(k, v, 0, 2 ** 31 - 1)
      out[k] = v
    }
  }
  return Object.freeze(out) as unknown as NatOptions
}

/** Argument checks shared by the mechanisms: protocol, ports and lifetime. */
export function checkMappingArgs(
  protocol: unknown,
  extPort: unknown,
  intPort: unknown,
  lifetimeSec: unknown,
): void {
  if (protocol !== 'tcp' && protocol !== 'udp') throw new TypeError(`protocol: expected 'tcp' or 'udp'`)
  assertPort('extPort', extPort)
  assertPort('intPort', intPort)
  if (intPort === 0) throw new RangeError('intPort: must not be 0')
  assertInt('lifetimeSec', lifetimeSec, 0, 0xffffffff)
}

/**
 * The mapping half of a {@link Nat} that only knows the external IP (`extip`, `stun`): mapping
 * calls check their arguments and do nothing; the "mapped" port is the one asked for.
 */
export abstract class ExternalIPOnlyNat {
  /** Mapping is a no-op for this mechanism. */
  readonly supportsMapping = false as const

  async addMapping(
    protocol: NatProtocol,
    extPort: number,
    intPort: number,
    _name: string,
    lifetimeSec: number,
  ): Promise<number> {
    checkMappingArgs(protocol, extPort, intPort, lifetimeSec)
    return extPort === 0 ? intPort : extPort
  }

  async deleteMapping(protocol: NatProtocol, extPort: number, intPort: number): Promise<void> {
    checkMappingArgs(protocol, extPort, intPort, 0)
  }
}

/**
 * UPnP Internet Gateway Device client: SSDP discovery within a bounded window, the device
 * description (size-bounded), and the WANIPConnection:2 / WANIPConnection:1 / WANPPPConnection:1
 * control actions (GetExternalIPAddress, GetNATRSIPStatus, AddAnyPortMapping, AddPortMapping,
 * DeletePortMapping), rate-limited per router as geth does. Conflicts (UPnP error 718) move the
 * mapping to a random port; IGD v2 routers pick the port themselves through AddAnyPortMapping.
 */
import { isLAN } from '../netutil/index.js'
import { abortReason, anySignal, raceAbort, throwIfAborted, withTimeout } from '../util/abort.js'
import { fromUtf8 } from '../util/bytes.js'
import type { Timer } from '../util/clock.js'
import { DecodeError, isAbortError } from '../util/errors.js'
import { formatIP, tryParseIP } from '../util/index.js'
import {
  NatError,
  NoRouterError,
  UPNP_CONFLICT_IN_MAPPING_ENTRY,
  UPNP_NO_SUCH_ENTRY,
  UPNP_ONLY_PERMANENT_LEASES,
  UpnpSoapError,
} from './errors.js'
import { localAddressFor } from './gateway.js'
import {
  checkMappingArgs,
  type Nat,
  type NatCallOptions,
  type NatDeps,
  type NatOptions,
  type NatProtocol,
} from './nat.js'
import { decodeSoapResponse, encodeSoapRequest } from './soap.js'
import { decodeSsdpResponse, encodeMSearch, IGD_SEARCH_TARGETS, SSDP_ADDRESS, SSDP_PORT } from './ssdp.js'
import { childText, findAll, findFirst, parseXml } from './xml.js'

/** The WAN connection services we can drive, best first. */
export const UPNP_SERVICE_TYPES = {
  'urn:schemas-upnp-org:service:WANIPConnection:2': 'IP2',
  'urn:schemas-upnp-org:service:WANIPConnection:1': 'IP1',
  'urn:schemas-upnp-org:service:WANPPPConnection:1': 'PPP1',
} as const

/** Which WAN connection service: WANIPConnection:2, WANIPConnection:1 or WANPPPConnection:1. */
export type UpnpServiceKind = (typeof UPNP_SERVICE_TYPES)[keyof typeof UPNP_SERVICE_TYPES]

const KIND_RANK: Readonly<Record<UpnpServiceKind, number>> = { IP2: 0, IP1: 1, PPP1: 2 }

/** A controllable service found in a device description. */
export interface UpnpService {
  readonly serviceType: string
  readonly kind: UpnpServiceKind
  /** Absolute control URL (same host as the description). */
  readonly controlURL: string
  /** 1 or 2, from the root device type (`InternetGatewayDevice:N`). */
  readonly igdVersion: 1 | 2
}

/** What {@link parseDeviceDescription} extracts. */
export interface UpnpDeviceDescription {
  readonly deviceType: string
  readonly friendlyName: string
  readonly igdVersion: 1 | 2
  /** Usable services, best first. */
  readonly services: readonly UpnpService[]
}

/**
 * Parse a device description fetched from `location`: the root device type and the WAN
 * connection services we can drive, with control URLs resolved against `URLBase` (or
 * `location`). Services whose control URL is not plain `http:` on the description's host are
 * dropped. Throws {@link DecodeError} on unreadable XML.
 */
export function parseDeviceDescription(
  xml: string,
  location: string,
  maxChars?: number,
): UpnpDeviceDescription {
  const doc = parseXml(xml, maxChars === undefined ? {} : { maxChars })
  const root = findFirst(doc, 'device')
  if (!root) throw new DecodeError('upnp-description', 'no <device> element')
  const deviceType = childText(root, 'deviceType') ?? ''
  const igdVersion: 1 | 2 = /InternetGatewayDevice:2$/.test(deviceType) ? 2 : 1
  let loc: URL
  try {
    loc = new URL(location)
  } catch (e) {
    throw new DecodeError('upnp-description', 'invalid location URL', { cause: e })
  }
  const urlBaseEl = findFirst(doc, 'URLBase')
  const base = urlBaseEl?.text.trim() || location
  const services: UpnpService[] = []
  for (const svc of findAll(doc, 'service')) {
    const serviceType = childText(svc, 'serviceType') ?? ''
    const kind = (UPNP_SERVICE_TYPES as Readonly<Record<string, UpnpServiceKind>>)[serviceType]
    const control = childText(svc, 'controlURL')
    if (!kind || !control) continue
    let url: URL
    try {
      url = new URL(control, base)
    } catch {
      continue
    }
    if (url.protocol !== 'http:' || url.hostname !== loc.hostname) continue
    if (services.some((s) => s.serviceType === serviceType && s.controlURL === url.href)) continue
    services.push({ serviceType, kind, controlURL: url.href, igdVersion })
  }
  services.sort((a, b) => KIND_RANK[a.kind] - KIND_RANK[b.kind])
  return { deviceType, friendlyName: childText(root, 'friendlyName') ?? '', igdVersion, services }
}

/** A NAT driven through one UPnP IGD WAN connection service. */
export class UpnpNat implements Nat {
  readonly mechanism = 'upnp' as const
  readonly supportsMapping = true
  readonly spec = 'upnp'
  /** The router's address (host of the control URL). */
  readonly gateway: string
  /** The service used. */
  readonly service: UpnpService
  /** geth's label: `IGDv2-IP2`, `IGDv1-IP1`, `IGDv1-PPP1`, … */
  readonly label: string
  private readonly deps: NatDeps
  private readonly options: NatOptions
  private readonly localAddress: string | undefined
  // Rate limit: requests to the router run one at a time, spaced by upnpRequestIntervalMs.
  private tail: Promise<void> = Promise.resolve()
  private lastRequestAt = Number.NEGATIVE_INFINITY

  constructor(service: UpnpService, deps: NatDeps, options: NatOptions, localAddress?: string) {
    this.service = service
    this.deps = deps
    this.options = options
    this.localAddress = localAddress
    this.gateway = new URL(service.controlURL).hostname
    this.label = `IGDv${service.igdVersion}-${service.kind}`
  }

  toString(): string {
    return `UPnP ${this.label}(${this.gateway})`
  }

  /** Send one SOAP action (rate-limited, bounded by the SOAP timeout) and return its outputs. */
  async soap(
    action: string,
    args: readonly (readonly [string, string])[],
    signal?: AbortSignal,
  ): Promise<Record<string, string>> {
    const { clock } = this.deps
    const prev = this.tail
    let release!: () => void
    const mine = new Promise<void>((r) => {
      release = r
    })
    this.tail = prev.then(() => mine)
    try {
      if (signal) await raceAbort(prev, signal)
      else await prev
      const wait = this.lastRequestAt + this.options.upnpRequestIntervalMs - clock.monotonic()
      if (wait > 0) await clock.sleep(wait, signal)
      throwIfAborted(signal)
      this.lastRequestAt = clock.monotonic()
      const req = encodeSoapRequest(this.service.serviceType, action, args)
      const res = await withTimeout(clock, this.options.soapTimeoutMs, `UPnP ${action}`, signal, (s) =>
        this.deps.http({
          method: 'POST',
          url: this.service.controlURL,
          headers: { 'Content-Type': 'text/xml; charset="utf-8"', SOAPAction: req.soapAction },
          body: req.body,
          maxBytes: this.options.soapMaxBytes,
          signal: s,
        }),
      )
      return decodeSoapResponse(action, res.status, fromUtf8(res.body), this.options.soapMaxBytes)
    } finally {
      release()
    }
  }

  private op<T>(
    what: string,
    opts: NatCallOptions | undefined,
    fn: (s: AbortSignal) => Promise<T>,
  ): Promise<T> {
    return withTimeout(this.deps.clock, this.options.operationTimeoutMs, what, opts?.signal, fn)
  }

  /** Whether the service reports NAT enabled (GetNATRSIPStatus); geth skips services without it. */
  natEnabled(opts?: NatCallOptions): Promise<boolean> {
    return this.op('UPnP GetNATRSIPStatus', opts, async (s) => {
      const r = await this.soap('GetNATRSIPStatus', [], s)
      const v = (r['NewNATEnabled'] ?? '').toLowerCase()
      return v === '1' || v === 'true' || v === 'yes'
    })
  }

  externalIP(opts?: NatCallOptions): Promise<Uint8Array> {
    return this.op('UPnP GetExternalIPAddress', opts, async (s) => {
      const r = await this.soap('GetExternalIPAddress', [], s)
      const text = r['NewExternalIPAddress'] ?? ''
      const ip = tryParseIP(text)
      if (!ip)
        throw new DecodeError('upnp', `bad external IP ${JSON.stringify(text.slice(0, 64))} in response`)
      return ip
    })
  }

  private internalClient(): string {
    const local = localAddressFor(this.deps.interfaces(), this.gateway) ?? this.localAddress
    if (!local) throw new NatError(`UPnP: no local address on the network of ${this.gateway}`)
    return local
  }

  async addMapping(
    protocol: NatProtocol,
    extPort: number,
    intPort: number,
    name: string,
    lifetimeSec: number,
    opts?: NatCallOptions,
  ): Promise<number> {
    checkMappingArgs(protocol, extPort, intPort, lifetimeSec)
    return this.op('UPnP add mapping', opts, async (s) => {
      const client = this.internalClient()
      const proto = protocol.toUpperCase()
      const wanted = extPort === 0 ? intPort : extPort
      let lease = lifetimeSec
      const args = (port: number): [string, string][] => [
        ['NewRemoteHost', ''],
        ['NewExternalPort', String(port)],
        ['NewProtocol', proto],
        ['NewInternalPort', String(intPort)],
        ['NewInternalClient', client],
        ['NewEnabled', '1'],
        ['NewPortMappingDescription', name],
        ['NewLeaseDuration', String(lease)],
      ]
      const log = this.deps.logger
      // Add at `port`; on 725 (only permanent leases) retry once with lease 0, as miniupnpc does.
      const add = async (port: number): Promise<void> => {
        try {
          await this.soap('AddPortMapping', args(port), s)
        } catch (e) {
          if (!(e instanceof UpnpSoapError) || e.code !== UPNP_ONLY_PERMANENT_LEASES || lease === 0) throw e
          lease = 0
          await this.soap('AddPortMapping', args(port), s)
        }
      }
      if (this.service.kind === 'IP2') {
        try {
          const r = await this.soap('AddAnyPortMapping', args(wanted), s)
          const text = r['NewReservedPort'] ?? ''
          const port = /^[0-9]{1,5}$/.test(text) ? Number(text) : 0
          if (port < 1 || port > 65535)
            throw new DecodeError('upnp', `bad NewReservedPort ${JSON.stringify(text.slice(0, 16))}`)
          return port
        } catch (e) {
          if (s.aborted || isAbortError(e)) throw e
          log.debug('UPnP AddAnyPortMapping failed, falling back to AddPortMapping', { err: e })
        }
      }
      let lastErr: unknown
      for (let i = 0; i < Math.max(1, this.options.upnpRequestedPortTries); i++) {
        try {
          await add(wanted)
          return wanted
        } catch (e) {
          if (s.aborted || isAbortError(e)) throw e
          lastErr = e
          log.debug('UPnP AddPortMapping failed', { proto, extPort: wanted, attempt: i + 1, err: e })
          if (e instanceof UpnpSoapError && e.code === UPNP_CONFLICT_IN_MAPPING_ENTRY) break
        }
      }
      for (let i = 0; i < this.options.upnpRandomPortTries; i++) {
        const port = 10000 + this.deps.random.int(65535 - 10000)
        try {
          await add(port)
          return port
        } catch (e) {
          if (s.aborted || isAbortError(e)) throw e
          lastErr = e
          log.debug('UPnP AddPortMapping on a random port failed', { proto, extPort: port, err: e })
        }
      }
      throw lastErr
    })
  }

  async deleteMapping(
    protocol: NatProtocol,
    extPort: number,
    intPort: number,
    opts?: NatCallOptions,
  ): Promise<void> {
    checkMappingArgs(protocol, extPort, intPort, 0)
    return this.op('UPnP delete mapping', opts, async (s) => {
      try {
        await this.soap(
          'DeletePortMapping',
          [
            ['NewRemoteHost', ''],
            ['NewExternalPort', String(extPort === 0 ? intPort : extPort)],
            ['NewProtocol', protocol.toUpperCase()],
          ],
          s,
        )
      } catch (e) {
        if (e instanceof UpnpSoapError && e.code === UPNP_NO_SUCH_ENTRY) return
        throw e
      }
    })
  }
}

/**
 * Examine the device at `location` (announced by `responder`): fetch and parse its description
 * and return a {@link UpnpNat} for the best service that reports NAT enabled. The location must
 * be `http:` on an IP literal that is the responder or a LAN address.
 */
export async function upnpFromLocation(
  location: string,
  responder: string,
  deps: NatDeps,
  options: NatOptions,
  signal?: AbortSignal,
): Promise<UpnpNat> {
  let url: URL
  try {
    url = new URL(location)
  } catch (e) {
    throw new NatError(`UPnP: bad LOCATION ${JSON.stringify(location.slice(0, 200))}`, { cause: e })
  }
  const host = tryParseIP(url.hostname)
  const resp = tryParseIP(responder)
  const sameHost = host && resp && formatIP(host) === formatIP(resp)
  if (url.protocol !== 'http:' || !host || !(sameHost || isLAN(host))) {
    throw new NatError(`UPnP: refusing LOCATION ${JSON.stringify(location.slice(0, 200))} from ${responder}`)
  }
  const res = await withTimeout(deps.clock, options.soapTimeoutMs, 'UPnP device description', signal, (s) =>
    deps.http({ method: 'GET', url: url.href, maxBytes: options.descriptionMaxBytes, signal: s }),
  )
  if (res.status !== 200) throw new NatError(`UPnP: description fetch returned HTTP ${res.status}`)
  const desc = parseDeviceDescription(fromUtf8(res.body), url.href, options.descriptionMaxBytes)
  if (desc.services.length === 0)
    throw new NatError('UPnP: device has no WANIPConnection/WANPPPConnection service')
  let lastErr: unknown = new NatError('UPnP: no service reports NAT enabled')
  for (const svc of desc.services) {
    const nat = new UpnpNat(svc, deps, options, res.localAddress)
    try {
      if (await nat.natEnabled({ signal })) return nat
    } catch (e) {
      if (signal?.aborted) throw e
      lastErr = e
    }
  }
  throw lastErr
}

/**
 * Find an Internet Gateway Device: multicast M-SEARCHes for IGD v1 and v2 (sent twice), examine
 * each distinct LOCATION (at most `ssdpMaxDevices`) as answers arrive, and resolve with the first
 * usable one. Rejects with {@link NoRouterError} when the window closes and nothing was usable.
 */
export async function discoverUpnp(
  deps: NatDeps,
  options: NatOptions,
  signal?: AbortSignal,
): Promise<UpnpNat> {
  throwIfAborted(signal)
  const { clock, logger } = deps
  const sock = await deps.udp({ multicastTTL: 2 })
  const stop = new AbortController()
  const s = anySignal(signal, stop.signal)
  const timers: Timer[] = []
  // BOUNDED: at most options.ssdpMaxDevices locations are recorded.
  const seen = new Set<string>()
  const failures: string[] = []
  let onAbort: (() => void) | undefined
  try {
    return await new Promise<UpnpNat>((resolve, reject) => {
      let settled = false
      let pending = 0
      let windowOver = false
      const finish = (): void => {
        if (settled || !windowOver || pending > 0) return
        settled = true
        const why = failures.length > 0 ? `: ${failures.slice(0, 4).join('; ')}` : ''
        reject(new NoRouterError(`no UPnP gateway found (${seen.size} device(s) answered)${why}`))
      }
      onAbort = () => {
        if (settled) return
        settled = true
        reject(abortReason(s))
      }
      s.addEventListener('abort', onAbort, { once: true })
      sock.onMessage((data, from) => {
        if (settled) return
        let loc: string
        try {
          loc = decodeSsdpResponse(data).location
        } catch {
          return
        }
        if (seen.has(loc) || seen.size >= options.ssdpMaxDevices) return
        seen.add(loc)
        pending++
        logger.debug('UPnP device answered', { location: loc, from: from.address })
        upnpFromLocation(loc, from.address, deps, options, s)
          .then(
            (nat) => {
              if (settled) return
              settled = true
              resolve(nat)
            },
            (e: unknown) => {
              failures.push(`${loc}: ${e instanceof Error ? e.message : String(e)}`)
              logger.debug('UPnP device unusable', { location: loc, err: e })
            },
          )
          .finally(() => {
            pending--
            finish()
          })
      })
      const search = (): void => {
        for (const st of IGD_SEARCH_TARGETS) {
          sock
            .send(encodeMSearch(st, Math.ceil(options.ssdpWindowMs / 1000)), SSDP_PORT, SSDP_ADDRESS)
            .catch((e) => {
              failures.push(`M-SEARCH: ${e instanceof Error ? e.message : String(e)}`)
            })
        }
      }
      search()
      timers.push(clock.setTimeout(search, Math.floor(options.ssdpWindowMs / 2)))
      timers.push(
        clock.setTimeout(() => {
          windowOver = true
          finish()
        }, options.ssdpWindowMs),
      )
    })
  } finally {
    for (const t of timers) t.cancel()
    if (onAbort) s.removeEventListener('abort', onAbort)
    stop.abort()
    sock.close()
  }
}

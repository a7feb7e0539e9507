/**
 * SSDP (UPnP discovery) codec: the `M-SEARCH` request and the parsing of unicast search
 * responses (`HTTP/1.1 200 OK` with `LOCATION`, `ST`, `USN`). Pure; the socket work is in
 * `upnp.ts`.
 */
import { fromUtf8, utf8 } from '../util/bytes.js'
import { DecodeError } from '../util/errors.js'

/** The SSDP multicast group and port. */
export const SSDP_ADDRESS = '239.255.255.250'
/** The SSDP port. */
export const SSDP_PORT = 1900
/** Largest SSDP response we read (real ones are a few hundred bytes). */
export const SSDP_MAX_RESPONSE = 8192

/** The search targets used to find Internet Gateway Devices, v1 and v2. */
export const IGD_SEARCH_TARGETS: readonly string[] = [
  'urn:schemas-upnp-org:device:InternetGatewayDevice:1',
  'urn:schemas-upnp-org:device:InternetGatewayDevice:2',
]

/** An `M-SEARCH` for `st`, asking devices to answer within `mx` seconds (1-5). */
export function encodeMSearch(st: string, mx: number): Uint8Array {
  if (/[\r\n]/.test(st)) throw new RangeError('st: must not contain line breaks')
  const m = Math.max(1, Math.min(5, Math.floor(mx)))
  return utf8(
    `M-SEARCH * HTTP/1.1\r\nHOST: ${SSDP_ADDRESS}:${SSDP_PORT}\r\nMAN: "ssdp:discover"\r\nMX: ${m}\r\nST: ${st}\r\n\r\n`,
  )
}

/** A parsed SSDP search response. */
export interface SsdpResponse {
  /** The device description URL. */
  readonly location: string
  /** The search target answered (may be empty). */
  readonly st: string
  /** The unique service name (may be empty). */
  readonly usn: string
  /** The `SERVER` header (may be empty). */
  readonly server: string
  /** All headers, names in lower case (the last one wins). */
  readonly headers: ReadonlyMap<string, string>
}

/**
 * Parse an SSDP search response. Throws {@link DecodeError} (`what: 'ssdp'`) unless it is an
 * HTTP 200 response of at most {@link SSDP_MAX_RESPONSE} bytes with a `LOCATION` header.
 */
export function decodeSsdpResponse(data: Uint8Array): SsdpResponse {
  if (data.length > SSDP_MAX_RESPONSE)
    throw new DecodeError('ssdp', `response larger than ${SSDP_MAX_RESPONSE} bytes`)
  const text = fromUtf8(data)
  const lines = text.split(/\r?\n/)
  const status = lines[0] ?? ''
  if (!/^HTTP\/1\.[01] 200(\s|$)/i.test(status)) throw new DecodeError('ssdp', 'not an HTTP 200 response')
  const headers = new Map<string, string>()
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i]!
    if (line === '') break
    const c = line.indexOf(':')
    if (c <= 0) continue
    headers.set(line.slice(0, c).trim().toLowerCase(), line.slice(c + 1).trim())
  }
  const location = headers.get('location') ?? ''
  if (location === '') throw new DecodeError('ssdp', 'response has no LOCATION')
  return {
    location,
    st: headers.get('st') ?? '',
    usn: headers.get('usn') ?? '',
    server: headers.get('server') ?? '',
    headers,
  }
}

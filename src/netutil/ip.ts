/**
 * IP addresses as bytes: address families, CIDR prefixes, the basic address classes (loopback,
 * private, link-local, multicast, unspecified, locality) and `ip:port` endpoints. The text codec
 * (`parseIP`, `formatIP`, `unmapIP`, ...) is util's (`util/ip.ts`). Pure: no `node:net`.
 *
 * An IP is a `Uint8Array` of 4 bytes (IPv4) or 16 bytes (IPv6). IPv4-mapped IPv6 addresses
 * (`::ffff:a.b.c.d`) are kept as 16 bytes by the parser; every classifier and matcher here unmaps
 * them first, as go-ethereum's netip-based code does.
 */
import { DecodeError } from '../util/errors.js'
import { formatIP, isIPv4Mapped, MAX_IP_TEXT, tryParseIP, unmapIP } from '../util/ip.js'

/** True for a 4-byte address or an IPv4-mapped 16-byte address. */
export function isIPv4(ip: Uint8Array): boolean {
  return ip.length === 4 || isIPv4Mapped(ip)
}

/** True for a 16-byte address that is not IPv4-mapped. */
export function isIPv6(ip: Uint8Array): boolean {
  return ip.length === 16 && !isIPv4Mapped(ip)
}

/** True for a valid IP byte length (4 or 16). */
export function isValidIP(ip: Uint8Array): boolean {
  return ip.length === 4 || ip.length === 16
}

/** Byte-wise equality of two IPs after unmapping IPv4-mapped addresses. */
export function ipEqual(a: Uint8Array, b: Uint8Array): boolean {
  const x = unmapIP(a)
  const y = unmapIP(b)
  if (x.length !== y.length) return false
  for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return false
  return true
}

/** A CIDR prefix: the network address (host bits cleared) and its length in bits. */
export interface Prefix {
  /** Network address, 4 or 16 bytes, host bits zero. */
  readonly ip: Uint8Array
  /** Prefix length: 0-32 for IPv4, 0-128 for IPv6. */
  readonly bits: number
}

/** `ip` with every bit after the first `bits` cleared (a new array; `bits` is clamped). */
export function maskIP(ip: Uint8Array, bits: number): Uint8Array {
  const out = ip.slice()
  const total = out.length * 8
  const b = Math.max(0, Math.min(bits, total))
  for (let i = 0; i < out.length; i++) {
    const keep = Math.max(0, Math.min(8, b - i * 8))
    out[i] = out[i]! & ((0xff << (8 - keep)) & 0xff)
  }
  return out
}

/**
 * Parse CIDR text such as `10.0.0.0/8` or `fc00::/7`. Host bits may be set (they are cleared, as
 * Go's `net.ParseCIDR` does). An IPv4-mapped IPv6 prefix of at least 96 bits is turned into the
 * equivalent IPv4 prefix. Throws {@link DecodeError} (`what: 'cidr'`) on bad text.
 */
export function parseCIDR(text: string): Prefix {
  const bad = (why: string): DecodeError =>
    new DecodeError('cidr', `${why} in ${JSON.stringify(String(text).slice(0, 80))}`)
  if (typeof text !== 'string' || text.length > MAX_IP_TEXT + 4) throw bad('invalid CIDR')
  const slash = text.lastIndexOf('/')
  if (slash < 0) throw bad('missing prefix length')
  const bitsText = text.slice(slash + 1)
  if (!/^[0-9]{1,3}$/.test(bitsText) || (bitsText.length > 1 && bitsText[0] === '0'))
    throw bad('invalid prefix length')
  let ip = tryParseIP(text.slice(0, slash))
  if (!ip) throw bad('invalid IP')
  let bits = Number(bitsText)
  if (bits > ip.length * 8) throw bad('prefix length out of range')
  if (isIPv4Mapped(ip) && bits >= 96) {
    ip = ip.slice(12)
    bits -= 96
  }
  return { ip: maskIP(ip, bits), bits }
}

/** Format a prefix as CIDR text (`10.0.0.0/8`). */
export function formatCIDR(p: Prefix): string {
  return `${formatIP(p.ip)}/${p.bits}`
}

/** Whether `ip` (unmapped first) lies in prefix `p`; address families must match. */
export function prefixContains(p: Prefix, ip: Uint8Array): boolean {
  const x = unmapIP(ip)
  if (x.length !== p.ip.length) return false
  const full = p.bits >> 3
  for (let i = 0; i < full; i++) if (x[i] !== p.ip[i]) return false
  const rest = p.bits & 7
  if (rest === 0) return true
  const m = (0xff << (8 - rest)) & 0xff
  return (x[full]! & m) === p.ip[full]
}

/**
 * Whether two IPs share their first `bits` bits (geth's `SameNet`). Both are unmapped first;
 * an IPv4 and an IPv6 address are never in the same net.
 */
export function sameNet(bits: number, a: Uint8Array, b: Uint8Array): boolean {
  const x = unmapIP(a)
  const y = unmapIP(b)
  if (x.length !== y.length) return false
  const mx = maskIP(x, bits)
  const my = maskIP(y, bits)
  for (let i = 0; i < mx.length; i++) if (mx[i] !== my[i]) return false
  return true
}

/** 127.0.0.0/8 or ::1 (IPv4-mapped forms included). */
export function isLoopback(ip: Uint8Array): boolean {
  const x = unmapIP(ip)
  if (x.length === 4) return x[0] === 127
  if (x.length !== 16) return false
  for (let i = 0; i < 15; i++) if (x[i] !== 0) return false
  return x[15] === 1
}

/** 0.0.0.0 or :: (IPv4-mapped `::ffff:0.0.0.0` counts as 0.0.0.0). */
export function isUnspecified(ip: Uint8Array): boolean {
  const x = unmapIP(ip)
  if (x.length !== 4 && x.length !== 16) return false
  for (let i = 0; i < x.length; i++) if (x[i] !== 0) return false
  return true
}

/** 224.0.0.0/4 or ff00::/8. */
export function isMulticast(ip: Uint8Array): boolean {
  const x = unmapIP(ip)
  if (x.length === 4) return (x[0]! & 0xf0) === 0xe0
  return x.length === 16 && x[0] === 0xff
}

/** RFC 1918 (10/8, 172.16/12, 192.168/16) and RFC 4193 (fc00::/7), as Go's `IsPrivate`. */
export function isPrivate(ip: Uint8Array): boolean {
  const x = unmapIP(ip)
  if (x.length === 4) {
    return x[0] === 10 || (x[0] === 172 && (x[1]! & 0xf0) === 16) || (x[0] === 192 && x[1] === 168)
  }
  return x.length === 16 && (x[0]! & 0xfe) === 0xfc
}

/** 169.254.0.0/16 or fe80::/10. */
export function isLinkLocalUnicast(ip: Uint8Array): boolean {
  const x = unmapIP(ip)
  if (x.length === 4) return x[0] === 169 && x[1] === 254
  return x.length === 16 && x[0] === 0xfe && (x[1]! & 0xc0) === 0x80
}

/**
 * How global an address is (go-ethereum's `localityScore`): unspecified 0, loopback 1,
 * link-local 2, private 3, anything else 4. A record with both `ip` and `ip6` uses the more
 * global one, IPv4 on a tie.
 */
export function localityScore(ip: Uint8Array): number {
  if (isUnspecified(ip)) return 0
  if (isLoopback(ip)) return 1
  if (isLinkLocalUnicast(ip)) return 2
  if (isPrivate(ip)) return 3
  return 4
}

/** An IP and port: what a peer tells us our endpoint is, or where we send to. */
export interface Endpoint {
  /** 4 or 16 bytes. */
  readonly ip: Uint8Array
  /** 0-65535. */
  readonly port: number
}

/** `host:port` text, with an IPv6 host in brackets: `1.2.3.4:30303`, `[2001:db8::1]:30303`. */
export function formatHostPort(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`
}

/** `1.2.3.4:30303` or `[2001:db8::1]:30303` (IPv4-mapped addresses as IPv4). */
export function formatEndpoint(ep: Endpoint): string {
  return formatHostPort(formatIP(unmapIP(ep.ip)), ep.port)
}

/**
 * Parse `ip:port` or `[ipv6]:port` (literal IPs only, no host names; an IPv4 address must not be
 * bracketed). The IP is as parsed (IPv4-mapped stays 16 bytes). `undefined` on bad text.
 */
export function tryParseEndpoint(text: string): Endpoint | undefined {
  if (typeof text !== 'string' || text.length > MAX_IP_TEXT + 8) return undefined
  let host: string
  let portText: string
  if (text.startsWith('[')) {
    const close = text.indexOf(']')
    if (close < 0 || text[close + 1] !== ':') return undefined
    host = text.slice(1, close)
    portText = text.slice(close + 2)
    if (!host.includes(':')) return undefined
  } else {
    const colon = text.lastIndexOf(':')
    if (colon < 0) return undefined
    host = text.slice(0, colon)
    portText = text.slice(colon + 1)
    if (host.includes(':')) return undefined
  }
  if (!/^[0-9]{1,5}$/.test(portText)) return undefined
  const port = Number(portText)
  if (port > 65535) return undefined
  const ip = tryParseIP(host)
  return ip === undefined ? undefined : { ip, port }
}

/** Like {@link tryParseEndpoint} but throws {@link DecodeError} (`what: 'endpoint'`) on bad text. */
export function parseEndpoint(text: string): Endpoint {
  const ep = tryParseEndpoint(text)
  if (ep === undefined)
    throw new DecodeError('endpoint', `invalid endpoint ${JSON.stringify(String(text).slice(0, 80))}`)
  return ep
}

/**
 * IP addresses as bytes: text parsing and formatting (IPv4 dotted quads, IPv6 per RFC 4291 with
 * RFC 5952 output), IPv4-mapped IPv6 handling, CIDR prefixes, and the basic address classes
 * (loopback, private, link-local, multicast, unspecified). Pure: no `node:net`.
 *
 * An IP is a `Uint8Array` of 4 bytes (IPv4) or 16 bytes (IPv6). IPv4-mapped IPv6 addresses
 * (`::ffff:a.b.c.d`) are kept as 16 bytes by the parser; every classifier and matcher here unmaps
 * them first, as go-ethereum's netip-based code does.
 */
import { DecodeError } from '../util/errors.js'

/** Longest IP text we look at; anything longer is rejected before parsing. */
const MAX_IP_TEXT = 64

const V4_MAPPED_PREFIX = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff] as const

/** True when `ip` is a 16-byte IPv4-mapped IPv6 address (`::ffff:a.b.c.d`). */
export function isIPv4Mapped(ip: Uint8Array): boolean {
  if (ip.length !== 16) return false
  for (let i = 0; i < 12; i++) if (ip[i] !== V4_MAPPED_PREFIX[i]) return false
  return true
}

/** The 4-byte form of an IPv4 or IPv4-mapped address; other addresses are returned unchanged. */
export function unmapIP(ip: Uint8Array): Uint8Array {
  return isIPv4Mapped(ip) ? ip.slice(12) : ip
}

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

function parseIPv4Text(s: string): Uint8Array | undefined {
  const parts = s.split('.')
  if (parts.length !== 4) return undefined
  const out = new Uint8Array(4)
  for (let i = 0; i < 4; i++) {
    const p = parts[i]!
    // Decimal only, 1-3 digits, no leading zeros (Go rejects them too: they read as octal elsewhere).
    if (!/^[0-9]{1,3}$/.test(p) || (p.length > 1 && p[0] === '0')) return undefined
    const n = Number(p)
    if (n > 255) return undefined
    out[i] = n
  }
  return out
}

function parseIPv6Text(s: string): Uint8Array | undefined {
  if (s.length < 2) return undefined
  const out = new Uint8Array(16)
  // Split an embedded IPv4 tail off the last group.
  let body = s
  let v4: Uint8Array | undefined
  const lastColon = s.lastIndexOf(':')
  if (lastColon >= 0 && s.indexOf('.', lastColon) > lastColon) {
    v4 = parseIPv4Text(s.slice(lastColon + 1))
    if (!v4) return undefined
    // Drop the colon before the IPv4 part unless it belongs to a "::" ("::1.2.3.4" keeps "::").
    body = s.slice(0, lastColon + 1)
    if (!body.endsWith('::')) body = body.slice(0, -1)
  }
  const maxGroups = v4 ? 6 : 8
  const dbl = body.indexOf('::')
  if (dbl >= 0 && body.indexOf('::', dbl + 1) >= 0) return undefined
  const parseGroups = (t: string): number[] | undefined => {
    if (t === '') return []
    const gs = t.split(':')
    const res: number[] = []
    for (const g of gs) {
      if (!/^[0-9a-fA-F]{1,4}$/.test(g)) return undefined
      res.push(Number.parseInt(g, 16))
    }
    return res
  }
  let groups: number[]
  if (dbl >= 0) {
    const head = parseGroups(body.slice(0, dbl))
    const tail = parseGroups(body.slice(dbl + 2))
    if (!head || !tail) return undefined
    const fill = maxGroups - head.length - tail.length
    if (fill < 1) return undefined
    groups = [...head, ...new Array<number>(fill).fill(0), ...tail]
  } else {
    const all = parseGroups(body)
    if (!all || all.length !== maxGroups) return undefined
    groups = all
  }
  for (let i = 0; i < groups.length; i++) {
    out[i * 2] = groups[i]! >> 8
    out[i * 2 + 1] = groups[i]! & 0xff
  }
  if (v4) out.set(v4, 12)
  return out
}

/**
 * Parse IP text: a dotted IPv4 address (4 bytes) or an IPv6 address (16 bytes, including the
 * `::ffff:a.b.c.d` mapped form). Zones (`%eth0`), brackets and leading zeros in IPv4 parts are
 * rejected. Returns `undefined` for anything else.
 */
export function tryParseIP(text: string): Uint8Array | undefined {
  if (typeof text !== 'string' || text.length === 0 || text.length > MAX_IP_TEXT) return undefined
  if (text.includes(':')) return parseIPv6Text(text)
  return parseIPv4Text(text)
}

/** Like {@link tryParseIP} but throws {@link DecodeError} (`what: 'ip'`) on bad text. */
export function parseIP(text: string): Uint8Array {
  const ip = tryParseIP(text)
  if (!ip) throw new DecodeError('ip', `invalid IP address ${JSON.stringify(String(text).slice(0, 80))}`)
  return ip
}

function formatIPv4(b: Uint8Array, off: number): string {
  return `${b[off]}.${b[off + 1]}.${b[off + 2]}.${b[off + 3]}`
}

/**
 * Format an IP: dotted quad for 4 bytes; RFC 5952 text for 16 bytes (lower case, the longest run
 * of two or more zero groups compressed, IPv4-mapped as `::ffff:a.b.c.d`). Throws `RangeError`
 * for other lengths.
 */
export function formatIP(ip: Uint8Array): string {
  if (ip.length === 4) return formatIPv4(ip, 0)
  if (ip.length !== 16) throw new RangeError(`formatIP: expected 4 or 16 bytes, got ${ip.length}`)
  if (isIPv4Mapped(ip)) return `::ffff:${formatIPv4(ip, 12)}`
  const groups: number[] = []
  for (let i = 0; i < 8; i++) groups.push((ip[i * 2]! << 8) | ip[i * 2 + 1]!)
  let bestStart = -1
  let bestLen = 0
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++
      continue
    }
    let j = i
    while (j < 8 && groups[j] === 0) j++
    if (j - i > bestLen) {
      bestStart = i
      bestLen = j - i
    }
    i = j
  }
  if (bestLen < 2) return groups.map((g) => g.toString(16)).join(':')
  const head = groups.slice(0, bestStart).map((g) => g.toString(16))
  const tail = groups.slice(bestStart + bestLen).map((g) => g.toString(16))
  return `${head.join(':')}::${tail.join(':')}`
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

/** An IP and port: what a peer tells us our endpoint is, or where we send to. */
export interface Endpoint {
  /** 4 or 16 bytes. */
  readonly ip: Uint8Array
  /** 0-65535. */
  readonly port: number
}

/** `1.2.3.4:30303` or `[2001:db8::1]:30303`. */
export function formatEndpoint(ep: Endpoint): string {
  const x = unmapIP(ep.ip)
  return x.length === 16 ? `[${formatIP(x)}]:${ep.port}` : `${formatIP(x)}:${ep.port}`
}

/**
 * Parse `ip:port` or `[ipv6]:port` (literal IPs only, no host names). Throws {@link DecodeError}
 * (`what: 'endpoint'`) on bad text.
 */
export function parseEndpoint(text: string): Endpoint {
  const bad = (): DecodeError =>
    new DecodeError('endpoint', `invalid endpoint ${JSON.stringify(String(text).slice(0, 80))}`)
  if (typeof text !== 'string' || text.length > MAX_IP_TEXT + 8) throw bad()
  let host: string
  let portText: string
  if (text.startsWith('[')) {
    const close = text.indexOf(']')
    if (close < 0 || text[close + 1] !== ':') throw bad()
    host = text.slice(1, close)
    portText = text.slice(close + 2)
    if (!host.includes(':')) throw bad()
  } else {
    const colon = text.lastIndexOf(':')
    if (colon < 0) throw bad()
    host = text.slice(0, colon)
    portText = text.slice(colon + 1)
    if (host.includes(':')) throw bad()
  }
  if (!/^[0-9]{1,5}$/.test(portText)) throw bad()
  const port = Number(portText)
  if (port > 65535) throw bad()
  const ip = tryParseIP(host)
  if (!ip) throw bad()
  return { ip, port }
}

/**
 * The IP address text codec: dotted-quad IPv4 (no leading zeros, as Go's parser) and RFC 4291
 * IPv6 text (with `::` and an optional dotted IPv4 tail, no zone) to 4 or 16 bytes, and back in
 * RFC 5952 canonical form; IPv4-mapped IPv6 (`::ffff:a.b.c.d`) handling. Pure: no `node:net`.
 *
 * An IP is a `Uint8Array` of 4 bytes (IPv4) or 16 bytes (IPv6). The parser keeps IPv4-mapped
 * addresses as 16 bytes; {@link unmapIP} turns them into 4. Address classes (loopback, private,
 * LAN, ...) live in netutil.
 */
import { DecodeError } from './errors.js'

/**
 * Longest IP text accepted: `ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255` is 45 characters and
 * no valid address is longer, so longer text is rejected before parsing.
 */
export const MAX_IP_TEXT = 45

/** True when `ip` is a 16-byte IPv4-mapped IPv6 address (`::ffff:a.b.c.d`). */
export function isIPv4Mapped(ip: Uint8Array): boolean {
  if (ip.length !== 16) return false
  for (let i = 0; i < 10; i++) if (ip[i] !== 0) return false
  return ip[10] === 0xff && ip[11] === 0xff
}

/** The 4-byte form of an IPv4-mapped address (a copy); other addresses are returned unchanged. */
export function unmapIP(ip: Uint8Array): Uint8Array {
  return isIPv4Mapped(ip) ? ip.slice(12) : ip
}

function parseIPv4Into(text: string, out: Uint8Array, offset: number): boolean {
  const parts = text.split('.')
  if (parts.length !== 4) return false
  for (let i = 0; i < 4; i++) {
    const p = parts[i]!
    // Decimal only, 1-3 digits, no leading zeros (Go rejects them too: they read as octal elsewhere).
    if (!/^[0-9]{1,3}$/.test(p) || (p.length > 1 && p[0] === '0')) return false
    const n = Number(p)
    if (n > 255) return false
    out[offset + i] = n
  }
  return true
}

/** Append the 16-bit groups of `a:b:c` (the last one may be a dotted IPv4 tail: two groups). */
function parseGroups(text: string, out: number[], allowV4Tail: boolean): boolean {
  if (text === '') return true
  const parts = text.split(':')
  for (let i = 0; i < parts.length; i++) {
    const p = parts[i]!
    if (allowV4Tail && i === parts.length - 1 && p.includes('.')) {
      const v4 = new Uint8Array(4)
      if (!parseIPv4Into(p, v4, 0)) return false
      out.push((v4[0]! << 8) | v4[1]!, (v4[2]! << 8) | v4[3]!)
      continue
    }
    if (!/^[0-9a-fA-F]{1,4}$/.test(p)) return false
    out.push(Number.parseInt(p, 16))
  }
  return true
}

function parseIPv6(text: string): Uint8Array | undefined {
  const dbl = text.indexOf('::')
  const head: number[] = []
  const tail: number[] = []
  if (dbl < 0) {
    if (!parseGroups(text, head, true) || head.length !== 8) return undefined
  } else {
    if (text.indexOf('::', dbl + 1) >= 0) return undefined
    if (!parseGroups(text.slice(0, dbl), head, false) || !parseGroups(text.slice(dbl + 2), tail, true))
      return undefined
    // `::` stands for at least one zero group.
    if (head.length + tail.length > 7) return undefined
  }
  const groups = [...head, ...new Array<number>(8 - head.length - tail.length).fill(0), ...tail]
  const out = new Uint8Array(16)
  for (let i = 0; i < 8; i++) {
    out[2 * i] = groups[i]! >> 8
    out[2 * i + 1] = groups[i]! & 0xff
  }
  return out
}

/**
 * Parse IP text: a dotted IPv4 address (4 bytes) or an IPv6 address (16 bytes, including the
 * `::ffff:a.b.c.d` mapped form). Zones (`fe80::1%eth0`), brackets and leading zeros in IPv4 parts
 * are rejected. Returns `undefined` for anything else.
 */
export function tryParseIP(text: string): Uint8Array | undefined {
  if (typeof text !== 'string' || text.length === 0 || text.length > MAX_IP_TEXT) return undefined
  if (text.includes(':')) return parseIPv6(text)
  const out = new Uint8Array(4)
  return parseIPv4Into(text, out, 0) ? out : undefined
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
 * of two or more zero groups compressed, the first on a tie, IPv4-mapped as `::ffff:a.b.c.d`).
 * Throws `RangeError` for other lengths.
 */
export function formatIP(ip: Uint8Array): string {
  if (ip.length === 4) return formatIPv4(ip, 0)
  if (ip.length !== 16) throw new RangeError(`formatIP: expected 4 or 16 bytes, got ${ip.length}`)
  if (isIPv4Mapped(ip)) return `::ffff:${formatIPv4(ip, 12)}`
  const groups: number[] = []
  for (let i = 0; i < 8; i++) groups.push((ip[2 * i]! << 8) | ip[2 * i + 1]!)
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
  const hex = (g: number[]): string => g.map((x) => x.toString(16)).join(':')
  if (bestLen < 2) return hex(groups)
  return `${hex(groups.slice(0, bestStart))}::${hex(groups.slice(bestStart + bestLen))}`
}

/**
 * Canonical text of IP text, with IPv4-mapped IPv6 as IPv4 (`::ffff:1.2.3.4` → `1.2.3.4`, as
 * go-ethereum's `To4`), or `undefined` if `text` is not an IP address.
 */
export function normalizeIP(text: string): string | undefined {
  const ip = tryParseIP(text)
  return ip === undefined ? undefined : formatIP(unmapIP(ip))
}

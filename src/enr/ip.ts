/**
 * IP address text ↔ bytes for the `ip`/`ip6` record entries and for enode URLs: dotted-quad IPv4
 * (no leading zeros, as Go's parser) and RFC 4291 IPv6 text (with `::` and an optional dotted
 * IPv4 tail, no zone), formatted back in RFC 5952 canonical form. Pure code: no `node:net`.
 */

/** Longest IP text accepted (a full IPv6 with an IPv4 tail is 45 characters). */
const MAX_IP_TEXT = 45

function parseIPv4Into(text: string, out: Uint8Array, offset: number): boolean {
  const parts = text.split('.')
  if (parts.length !== 4) return false
  for (let i = 0; i < 4; i++) {
    const p = parts[i]!
    if (!/^[0-9]{1,3}$/.test(p) || (p.length > 1 && p[0] === '0')) return false
    const n = Number(p)
    if (n > 255) return false
    out[offset + i] = n
  }
  return true
}

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
    const left = text.slice(0, dbl)
    const right = text.slice(dbl + 2)
    if (!parseGroups(left, head, false) || !parseGroups(right, tail, true)) return undefined
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
 * Parse IP text: dotted IPv4 gives 4 bytes, IPv6 gives 16 bytes (an IPv4-mapped address such as
 * `::ffff:1.2.3.4` stays 16 bytes). Returns `undefined` for anything else, including zones
 * (`fe80::1%eth0`), brackets and leading zeros in IPv4 octets.
 */
export function parseIpAddress(text: string): Uint8Array | undefined {
  if (typeof text !== 'string' || text.length === 0 || text.length > MAX_IP_TEXT) return undefined
  if (text.includes(':')) return parseIPv6(text)
  const out = new Uint8Array(4)
  return parseIPv4Into(text, out, 0) ? out : undefined
}

/** True for a 16-byte IPv4-mapped IPv6 address (`::ffff:a.b.c.d`). */
export function isIPv4MappedAddress(ip: Uint8Array): boolean {
  if (ip.length !== 16) return false
  for (let i = 0; i < 10; i++) if (ip[i] !== 0) return false
  return ip[10] === 0xff && ip[11] === 0xff
}

/**
 * Format 4 or 16 IP bytes as text: dotted IPv4, or RFC 5952 IPv6 (lower-case, the longest run
 * of two or more zero groups shortened to `::`, IPv4-mapped addresses as `::ffff:a.b.c.d`).
 * Throws `RangeError` for other lengths.
 */
export function formatIpAddress(ip: Uint8Array): string {
  if (ip.length === 4) return `${ip[0]}.${ip[1]}.${ip[2]}.${ip[3]}`
  if (ip.length !== 16) throw new RangeError(`formatIpAddress: expected 4 or 16 bytes, got ${ip.length}`)
  if (isIPv4MappedAddress(ip)) return `::ffff:${formatIpAddress(ip.subarray(12))}`
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

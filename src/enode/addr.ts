/**
 * Small pure address helpers for the enode layer: IP text normalisation (IPv4-mapped IPv6
 * becomes IPv4, as go-ethereum's `To4`), the multicast and "locality" classes `Node` uses to pick
 * between a record's IPv4 and IPv6 address, and `host:port` text as go-ethereum writes it.
 */
import { formatIpAddress, isIPv4MappedAddress, parseIpAddress } from '../enr/index.js'

/** A UDP or TCP endpoint with the IP as text. */
export interface Endpoint {
  /** IPv4 dotted text or IPv6 text (no brackets). */
  readonly ip: string
  /** 0-65535. */
  readonly port: number
}

/** Parse IP text into 4 bytes (IPv4, also from IPv4-mapped IPv6) or 16 bytes; undefined if invalid. */
export function ipBytes(text: string): Uint8Array | undefined {
  const b = parseIpAddress(text)
  if (b === undefined) return undefined
  return isIPv4MappedAddress(b) ? b.slice(12) : b
}

/** Canonical text of IP bytes (IPv4-mapped IPv6 unmapped). */
export function ipText(ip: Uint8Array): string {
  return formatIpAddress(isIPv4MappedAddress(ip) ? ip.subarray(12) : ip)
}

/** Canonical text of IP text, or undefined if it is not an IP address. */
export function normalizeIp(text: string): string | undefined {
  const b = ipBytes(text)
  return b === undefined ? undefined : formatIpAddress(b)
}

/** True for 4-byte or 16-byte all-zero addresses. */
export function isUnspecifiedIp(ip: Uint8Array): boolean {
  return ip.every((x) => x === 0)
}

/** 224.0.0.0/4 and ff00::/8. */
export function isMulticastIp(ip: Uint8Array): boolean {
  return ip.length === 4 ? (ip[0]! & 0xf0) === 0xe0 : ip[0] === 0xff
}

function isLoopbackIp(ip: Uint8Array): boolean {
  if (ip.length === 4) return ip[0] === 127
  for (let i = 0; i < 15; i++) if (ip[i] !== 0) return false
  return ip[15] === 1
}

function isLinkLocalUnicastIp(ip: Uint8Array): boolean {
  if (ip.length === 4) return ip[0] === 169 && ip[1] === 254
  return ip[0] === 0xfe && (ip[1]! & 0xc0) === 0x80
}

function isPrivateIp(ip: Uint8Array): boolean {
  if (ip.length === 4) {
    return ip[0] === 10 || (ip[0] === 172 && (ip[1]! & 0xf0) === 16) || (ip[0] === 192 && ip[1] === 168)
  }
  return (ip[0]! & 0xfe) === 0xfc
}

/**
 * How global an address is (go-ethereum's `localityScore`): unspecified 0, loopback 1,
 * link-local 2, private 3, anything else 4. A record with both `ip` and `ip6` uses the more
 * global one, IPv4 on a tie.
 */
export function localityScore(ip: Uint8Array): number {
  if (isUnspecifiedIp(ip)) return 0
  if (isLoopbackIp(ip)) return 1
  if (isLinkLocalUnicastIp(ip)) return 2
  if (isPrivateIp(ip)) return 3
  return 4
}

/** `1.2.3.4:30303` or `[2001:db8::1]:30303`. */
export function formatHostPort(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`
}

/** Parse `ip:port` / `[ipv6]:port` with a literal IP; undefined if malformed. */
export function parseHostPort(text: string): Endpoint | undefined {
  let host: string
  let port: string
  if (text.startsWith('[')) {
    const close = text.indexOf(']')
    if (close < 0 || text[close + 1] !== ':') return undefined
    host = text.slice(1, close)
    port = text.slice(close + 2)
  } else {
    const colon = text.lastIndexOf(':')
    if (colon < 0) return undefined
    host = text.slice(0, colon)
    port = text.slice(colon + 1)
    if (host.includes(':')) return undefined
  }
  if (!/^[0-9]{1,5}$/.test(port) || Number(port) > 65535) return undefined
  const ip = normalizeIp(host)
  return ip === undefined ? undefined : { ip, port: Number(port) }
}

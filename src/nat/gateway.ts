/**
 * Where the router probably is: the IPv4 default gateways of the Linux routing table
 * (`/proc/net/route`) and, as geth guesses, the `.1` of every private interface subnet. Pure.
 */
import { isPrivate } from '../netutil/index.js'
import { formatIP, tryParseIP } from '../util/index.js'
import type { LocalInterface } from './nat.js'

/** Refuse to look at routing tables larger than this (a real one is a few KiB). */
const MAX_ROUTE_TABLE = 1024 * 1024

/** RTF_GATEWAY: the route goes through a gateway. */
const RTF_GATEWAY = 0x2

/**
 * Parse the text of Linux's `/proc/net/route` and return the gateways of its default routes
 * (destination 0.0.0.0 with the gateway flag), in table order, deduplicated. Malformed lines
 * are skipped.
 */
export function parseRouteTable(text: string): string[] {
  if (text.length > MAX_ROUTE_TABLE) return []
  const out: string[] = []
  const lines = text.split('\n')
  for (let i = 1; i < lines.length; i++) {
    const f = lines[i]!.trim().split(/\s+/)
    if (f.length < 4 || f[1] !== '00000000') continue
    if (!/^[0-9a-fA-F]{1,4}$/.test(f[3]!) || (Number.parseInt(f[3]!, 16) & RTF_GATEWAY) === 0) continue
    if (!/^[0-9a-fA-F]{8}$/.test(f[2]!)) continue
    const n = Number.parseInt(f[2]!, 16)
    if (n === 0) continue
    // The kernel prints the address as a host-order (little-endian) 32-bit hex number.
    const gw = formatIP(Uint8Array.of(n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, (n >>> 24) & 0xff))
    if (!out.includes(gw)) out.push(gw)
  }
  return out
}

/**
 * Candidate NAT-PMP gateways: the default-route gateways first, then `x.y.z.1` (the subnet's
 * network address with the low bit set) of each non-internal IPv4 interface address in a private
 * range. Deduplicated, in that order.
 */
export function potentialGateways(
  interfaces: readonly LocalInterface[],
  defaultGateways: readonly string[],
): string[] {
  const out: string[] = []
  const push = (s: string): void => {
    if (!out.includes(s)) out.push(s)
  }
  for (const g of defaultGateways) {
    const ip = tryParseIP(g)
    if (ip && ip.length === 4) push(formatIP(ip))
  }
  for (const iface of interfaces) {
    if (iface.family !== 'IPv4' || iface.internal) continue
    const ip = tryParseIP(iface.address)
    const mask = tryParseIP(iface.netmask)
    if (ip?.length !== 4 || !mask || mask.length !== 4 || !isPrivate(ip)) continue
    const net = ip.map((b, i) => b & mask[i]!)
    net[3] = net[3]! | 1
    push(formatIP(net))
  }
  return out
}

/**
 * The local IPv4 address on the same subnet as `peer` (e.g. the UPnP device), from `interfaces`;
 * `undefined` when none matches.
 */
export function localAddressFor(interfaces: readonly LocalInterface[], peer: string): string | undefined {
  const p = tryParseIP(peer)
  if (p?.length !== 4) return undefined
  for (const iface of interfaces) {
    if (iface.family !== 'IPv4') continue
    const ip = tryParseIP(iface.address)
    const mask = tryParseIP(iface.netmask)
    if (ip?.length !== 4 || !mask || mask.length !== 4) continue
    let same = true
    for (let i = 0; i < 4; i++) if ((ip[i]! & mask[i]!) !== (p[i]! & mask[i]!)) same = false
    if (same) return formatIP(ip)
  }
  return undefined
}

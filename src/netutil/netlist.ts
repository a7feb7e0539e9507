/**
 * CIDR allow lists ({@link Netlist}, geth's `NetRestrict`), the LAN and special-purpose network
 * classes, and the relay-IP rules ({@link checkRelayIP}) that decide whether an address learned
 * from a peer may be used as a connection target. Pure.
 */
import { DecodeError, DevP2PError } from '../util/errors.js'
import { unmapIP } from '../util/ip.js'
import {
  formatCIDR,
  isLinkLocalUnicast,
  isLoopback,
  isMulticast,
  isPrivate,
  isUnspecified,
  type Prefix,
  parseCIDR,
  prefixContains,
} from './ip.js'

/** Upper bound on the number of entries {@link Netlist.parse} accepts (a config value, not peer data). */
export const MAX_NETLIST_ENTRIES = 4096

/** Upper bound on the text {@link Netlist.parse} accepts. */
export const MAX_NETLIST_TEXT = 256 * 1024

/**
 * A list of CIDR prefixes. `contains` is true when any prefix holds the IP (IPv4-mapped addresses
 * are unmapped first). geth's `netutil.Netlist`.
 */
export class Netlist {
  private readonly prefixes: Prefix[] = []

  /**
   * Parse a comma-separated CIDR list, e.g. `"10.0.0.0/8, 192.168.0.0/16"`. Whitespace is removed
   * and empty entries are skipped; each entry must be a CIDR (a bare IP is an error).
   * Throws {@link DecodeError} on a bad entry.
   */
  static parse(text: string): Netlist {
    const list = new Netlist()
    if (typeof text !== 'string') return list
    if (text.length > MAX_NETLIST_TEXT) list.tooLong()
    for (const entry of text.replace(/\s+/g, '').split(',')) {
      if (entry === '') continue
      list.add(entry)
    }
    return list
  }

  /** Build from a list of CIDR strings (the TOML/JSON form). Throws {@link DecodeError}. */
  static fromList(cidrs: readonly string[]): Netlist {
    const list = new Netlist()
    for (const c of cidrs) list.add(c)
    return list
  }

  private tooLong(): never {
    throw new DecodeError('netlist', `more than ${MAX_NETLIST_ENTRIES} entries or ${MAX_NETLIST_TEXT} chars`)
  }

  /** Parse one CIDR and append it. Throws {@link DecodeError} on bad text. */
  add(cidr: string): this {
    const p = parseCIDR(cidr)
    if (this.prefixes.length >= MAX_NETLIST_ENTRIES) this.tooLong()
    this.prefixes.push(p)
    return this
  }

  /** Whether any prefix contains `ip` (4 or 16 bytes). */
  contains(ip: Uint8Array): boolean {
    for (const p of this.prefixes) if (prefixContains(p, ip)) return true
    return false
  }

  /** Number of prefixes. */
  get length(): number {
    return this.prefixes.length
  }

  /** The prefixes, in insertion order. */
  entries(): readonly Prefix[] {
    return this.prefixes.slice()
  }

  /** The CIDR strings (the TOML/JSON form). */
  toJSON(): string[] {
    return this.prefixes.map(formatCIDR)
  }

  /** Comma-separated CIDR text that {@link Netlist.parse} reads back. */
  toString(): string {
    return this.toJSON().join(',')
  }
}

/** `Netlist.contains` that treats a missing list as empty (geth: nil list → false). */
export function netlistContains(list: Netlist | undefined, ip: Uint8Array): boolean {
  return list?.contains(ip) === true
}

// IANA special-purpose registries (RFC 5735, RFC 5156), the set geth uses.
const SPECIAL4 = Netlist.fromList([
  '0.0.0.0/8',
  '192.0.0.0/29',
  '192.0.0.9/32',
  '192.0.0.170/32',
  '192.0.0.171/32',
  '192.0.2.0/24',
  '192.31.196.0/24',
  '192.52.193.0/24',
  '192.88.99.0/24',
  '192.175.48.0/24',
  '198.18.0.0/15',
  '198.51.100.0/24',
  '203.0.113.0/24',
  '255.255.255.255/32',
])
const SPECIAL6 = Netlist.fromList([
  '100::/64',
  '2001::/32',
  '2001:1::1/128',
  '2001:2::/48',
  '2001:3::/32',
  '2001:4:112::/48',
  '2001:5::/32',
  '2001:10::/28',
  '2001:20::/28',
  '2001:db8::/32',
  '2002::/16',
])

/**
 * Whether `ip` is a local-network address: loopback, private (10/8, 172.16/12, 192.168/16,
 * fc00::/7) or link-local unicast (169.254/16, fe80::/10). geth's `IsLAN`.
 */
export function isLAN(ip: Uint8Array): boolean {
  const x = unmapIP(ip)
  return isLoopback(x) || isPrivate(x) || isLinkLocalUnicast(x)
}

/**
 * Whether `ip` is in a special-purpose range: multicast, broadcast, documentation, benchmarking,
 * 6to4 and the other IANA special ranges geth lists. geth's `IsSpecialNetwork`.
 */
export function isSpecialNetwork(ip: Uint8Array): boolean {
  const x = unmapIP(ip)
  if (isMulticast(x)) return true
  if (x.length === 4) return SPECIAL4.contains(x)
  return SPECIAL6.contains(x)
}

/** Why {@link checkRelayIP} refused an address. */
export type RelayIPRejection = 'invalid' | 'unspecified' | 'special' | 'loopback' | 'lan'

const REJECTION_TEXT: Readonly<Record<RelayIPRejection, string>> = {
  invalid: 'invalid IP',
  unspecified: 'zero address',
  special: 'special network',
  loopback: 'loopback address from non-loopback host',
  lan: 'LAN address from WAN host',
}

/** The relay-IP rule a peer-supplied address broke, as an error to throw or log. */
export class RelayIPError extends DevP2PError {
  override name = 'RelayIPError' as const
  /** Which rule was broken. */
  readonly kind: RelayIPRejection
  constructor(kind: RelayIPRejection, options?: { cause?: unknown }) {
    super(REJECTION_TEXT[kind], options)
    this.kind = kind
  }
}

/** geth's message for a rejection kind (`'lan'` → "LAN address from WAN host"). */
export function relayIPRejectionText(kind: RelayIPRejection): string {
  return REJECTION_TEXT[kind]
}

/**
 * Whether `addr`, relayed to us by `sender`, is an acceptable connection target. Returns
 * `undefined` when it is, else the broken rule, checked in geth's order: not 4/16 bytes →
 * `invalid`; 0.0.0.0/:: → `unspecified`; special network → `special`; loopback from a
 * non-loopback sender → `loopback`; LAN address from a non-LAN sender → `lan`.
 * Cheap (no allocation of errors); wrap in {@link RelayIPError} to throw.
 */
export function checkRelayIP(sender: Uint8Array, addr: Uint8Array): RelayIPRejection | undefined {
  if (addr.length !== 4 && addr.length !== 16) return 'invalid'
  if (isUnspecified(addr)) return 'unspecified'
  if (isSpecialNetwork(addr)) return 'special'
  if (isLoopback(addr) && !isLoopback(sender)) return 'loopback'
  if (isLAN(addr) && !isLAN(sender)) return 'lan'
  return undefined
}

/**
 * {@link DistinctNetSet}: counts IPs per network prefix and refuses an IP once its prefix holds
 * `limit` members (geth's `DistinctNetSet`, used by the Kademlia table: 2 per /24 per bucket,
 * 10 per /24 in the table). Pure.
 */
import { assertInt } from '../util/assert.js'
import { formatIP, unmapIP } from '../util/ip.js'
import { maskIP } from './ip.js'

/** Counts IPs per prefix of `subnet` bits and caps each prefix at `limit` members. */
export class DistinctNetSet {
  /** Number of leading bits that define a network (e.g. 24). Clamped to the address length. */
  readonly subnet: number
  /** Maximum number of IPs in one network. */
  readonly limit: number
  // BOUNDED: one entry per prefix with at least one member; the owner (a table) bounds how many
  // IPs it adds, and an entry is deleted when its count returns to zero.
  private readonly members = new Map<string, number>()

  constructor(subnet: number, limit: number) {
    assertInt('subnet', subnet, 0, 128)
    assertInt('limit', limit, 0, Number.MAX_SAFE_INTEGER)
    this.subnet = subnet
    this.limit = limit
  }

  private key(ip: Uint8Array): string {
    const x = unmapIP(ip)
    if (x.length !== 4 && x.length !== 16)
      throw new RangeError(`DistinctNetSet: invalid IP length ${x.length}`)
    const bits = Math.min(this.subnet, x.length * 8)
    return `${formatIP(maskIP(x, bits))}/${bits}`
  }

  /** Add `ip`; returns false (and adds nothing) when its network already has `limit` members. */
  add(ip: Uint8Array): boolean {
    const k = this.key(ip)
    const n = this.members.get(k) ?? 0
    if (n >= this.limit) return false
    this.members.set(k, n + 1)
    return true
  }

  /** Remove one member from `ip`'s network (no-op when it has none). */
  remove(ip: Uint8Array): void {
    const k = this.key(ip)
    const n = this.members.get(k)
    if (n === undefined) return
    if (n <= 1) this.members.delete(k)
    else this.members.set(k, n - 1)
  }

  /** Whether `ip`'s network has at least one member. */
  contains(ip: Uint8Array): boolean {
    return this.members.has(this.key(ip))
  }

  /** Total number of members. */
  len(): number {
    let n = 0
    for (const c of this.members.values()) n += c
    return n
  }

  /** `{10.0.0.0/24×2 192.168.1.0/24×1}`, networks sorted as text. */
  toString(): string {
    const keys = [...this.members.keys()].sort()
    return `{${keys.map((k) => `${k}×${this.members.get(k)}`).join(' ')}}`
  }
}

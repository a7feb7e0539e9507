/**
 * `extip:<IP>`: a fixed external address, for hosts whose ports are forwarded by hand. Mapping
 * calls succeed without doing anything, as geth's `nat.ExtIP`.
 */
import { formatIP } from '../util/index.js'
import { ExternalIPOnlyNat, type Nat } from './nat.js'

/** A NAT that only reports a configured external IP. */
export class ExtIpNat extends ExternalIPOnlyNat implements Nat {
  readonly mechanism = 'extip' as const
  readonly gateway = undefined
  readonly spec: string
  private readonly ip: Uint8Array

  /** `ip`: 4 or 16 bytes. */
  constructor(ip: Uint8Array) {
    super()
    if (ip.length !== 4 && ip.length !== 16) throw new RangeError('ip: expected 4 or 16 bytes')
    this.ip = ip.slice()
    this.spec = `extip:${formatIP(ip)}`
  }

  override toString(): string {
    return `ExtIP(${formatIP(this.ip)})`
  }

  async externalIP(): Promise<Uint8Array> {
    return this.ip.slice()
  }
}

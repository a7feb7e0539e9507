/**
 * {@link Node}: a host on the network as go-ethereum's `enode.Node` models it: id, public key,
 * the preferred endpoint (IP, TCP and UDP ports), an unresolved DNS name when an enode URL gave
 * one, and the signed record it came from, if any.
 */
import type { ENR, EnrDecodeOptions } from '../enr/index.js'
import { formatHostPort, isMulticast, isUnspecified, localityScore } from '../netutil/index.js'
import { DecodeError, formatIP, normalizeIP, toHex, tryParseIP, unmapIP } from '../util/index.js'
import { nodeIdFromPublicKey } from './distance.js'

/** A UDP or TCP endpoint with the IP as text. */
export interface Endpoint {
  /** IPv4 dotted text or IPv6 text (no brackets). */
  readonly ip: string
  /** 0-65535. */
  readonly port: number
}

/** Endpoint data of {@link Node.fromPublicKey}. */
export interface NodeEndpoint {
  /** IPv4 or IPv6 text; IPv4-mapped IPv6 is stored as IPv4. */
  readonly ip?: string | undefined
  /** TCP (RLPx) port, 0 or absent when unknown. */
  readonly tcp?: number | undefined
  /** UDP (discovery) port, 0 or absent when unknown. */
  readonly udp?: number | undefined
  /** A DNS name to resolve before use (kept as given). */
  readonly hostname?: string | undefined
}

type NodeInit = Pick<Node, 'id' | 'publicKey' | 'ip' | 'tcp' | 'udp' | 'hostname' | 'record'>

function checkPort(field: string, v: number | undefined): number {
  const p = v ?? 0
  if (!Number.isInteger(p) || p < 0 || p > 65535)
    throw new RangeError(`${field}: expected a port in [0, 65535]`)
  return p
}

/**
 * Endpoint IP from a record entry: present, 4/16 bytes, not multicast (geth's `validIP`).
 * IPv4-mapped IPv6 is unmapped to 4 bytes, as go-ethereum's address predicates do.
 */
function validRecordIp(b: unknown, len: number): Uint8Array | undefined {
  if (!(b instanceof Uint8Array) || b.length !== len) return undefined
  const ip = unmapIP(b)
  return isMulticast(ip) ? undefined : ip
}

/**
 * A node: immutable. Build one from a signed record ({@link Node.fromRecord}), from a public key
 * and endpoint ({@link Node.fromPublicKey}), or by parsing text (`parseNode`, `parseEnode`).
 * Ports are 0 when unknown, as in go-ethereum.
 */
export class Node {
  /** 32-byte node id: keccak256 of the public key. */
  readonly id: Uint8Array
  /** 64-byte public key `x||y`. */
  readonly publicKey: Uint8Array
  /** The endpoint IP as canonical text, if known. */
  readonly ip: string | undefined
  /** TCP (RLPx) port; 0 if unknown. */
  readonly tcp: number
  /** UDP (discovery) port; 0 if unknown. */
  readonly udp: number
  /** DNS name from an enode URL; must be resolved (then {@link Node.withIp}) before dialling. */
  readonly hostname: string | undefined
  /** The signed record this node was built from. */
  readonly record: ENR | undefined

  private constructor(init: NodeInit) {
    this.id = init.id
    this.publicKey = init.publicKey
    this.ip = init.ip
    this.tcp = init.tcp
    this.udp = init.udp
    this.hostname = init.hostname
    this.record = init.record
    Object.freeze(this)
  }

  /**
   * A node from a public key (64 bytes `x||y`) and optional endpoint, without a record (geth's
   * `NewV4`). `RangeError` for a bad key length, IP text or port.
   */
  static fromPublicKey(publicKey: Uint8Array, endpoint: NodeEndpoint = {}): Node {
    const id = nodeIdFromPublicKey(publicKey)
    let ip: string | undefined
    if (endpoint.ip !== undefined) {
      ip = normalizeIP(endpoint.ip)
      if (ip === undefined) throw new RangeError(`ip: not an IP address: ${endpoint.ip}`)
    }
    return new Node({
      id,
      publicKey: publicKey.slice(),
      ip,
      tcp: checkPort('tcp', endpoint.tcp),
      udp: checkPort('udp', endpoint.udp),
      hostname: endpoint.hostname,
      record: undefined,
    })
  }

  /**
   * A node from a "v4" record. The signature is checked unless `verify: false` (for records
   * already verified, e.g. from our own database); a bad one throws {@link DecodeError}.
   *
   * The endpoint follows go-ethereum: of the `ip` and `ip6` entries (multicast ones ignored) the
   * more global is used, IPv4 on a tie. With IPv4 the ports are `tcp`/`udp`; with IPv6,
   * `tcp6`/`udp6` falling back to `tcp`/`udp`. Malformed entries count as absent.
   */
  static fromRecord(record: ENR, opts: EnrDecodeOptions = {}): Node {
    if (opts.verify !== false && !record.verify())
      throw new DecodeError(
        'enr',
        record.signed ? 'invalid signature on node record' : 'record is not signed',
      )
    const publicKey = record.publicKey
    if (publicKey === undefined) throw new DecodeError('enr', 'record has no valid secp256k1 public key')
    const ip4 = validRecordIp(record.get('ip'), 4)
    const ip6 = validRecordIp(record.get('ip6'), 16)
    let ip: Uint8Array | undefined
    if (ip4 !== undefined && ip6 !== undefined) ip = localityScore(ip4) >= localityScore(ip6) ? ip4 : ip6
    else ip = ip4 ?? ip6
    // An IPv4-mapped ip6 entry is used as IPv4, with the IPv4 ports.
    const v6 = ip !== undefined && ip.length === 16
    let tcp = 0
    let udp = 0
    if (ip !== undefined) {
      tcp = (v6 ? record.tcp6 : undefined) ?? record.tcp ?? 0
      udp = (v6 ? record.udp6 : undefined) ?? record.udp ?? 0
    }
    return new Node({
      id: nodeIdFromPublicKey(publicKey),
      publicKey,
      ip: ip === undefined ? undefined : formatIP(ip),
      tcp,
      udp,
      hostname: undefined,
      record: record.clone(),
    })
  }

  /** The record's sequence number (0 without a record). */
  get seq(): bigint {
    return this.record?.seq ?? 0n
  }

  /** The id as 64 lower-case hex characters. */
  get idHex(): string {
    return toHex(this.id)
  }

  /** True when the node has neither an IP nor a hostname (an id-only enode URL). */
  get incomplete(): boolean {
    return this.ip === undefined && this.hostname === undefined
  }

  /** The UDP endpoint, if the IP is known and specified and the port is not 0. */
  udpEndpoint(): Endpoint | undefined {
    return this.#endpoint(this.udp)
  }

  /** The TCP endpoint, if the IP is known and specified and the port is not 0. */
  tcpEndpoint(): Endpoint | undefined {
    return this.#endpoint(this.tcp)
  }

  #endpoint(port: number): Endpoint | undefined {
    if (this.ip === undefined || port === 0) return undefined
    const b = tryParseIP(this.ip)
    if (b === undefined || isUnspecified(b)) return undefined
    return { ip: this.ip, port }
  }

  /** The `enode://` URL of this node (see {@link formatEnode}). */
  toEnodeUrl(): string {
    return formatEnode(this)
  }

  /**
   * The node as text, as go-ethereum prints it: the record's `enr:` form when the node came from
   * a signed record, else its `enode://` URL.
   */
  toString(): string {
    return this.record?.signed ? this.record.toText() : formatEnode(this)
  }

  /** A copy with `ip` set (e.g. after resolving {@link Node.hostname}); the hostname is kept. */
  withIp(ip: string): Node {
    const norm = normalizeIP(ip)
    if (norm === undefined) throw new RangeError(`ip: not an IP address: ${ip}`)
    return new Node({ ...this.#init(), ip: norm })
  }

  #init(): NodeInit {
    return {
      id: this.id,
      publicKey: this.publicKey,
      ip: this.ip,
      tcp: this.tcp,
      udp: this.udp,
      hostname: this.hostname,
      record: this.record,
    }
  }
}

/**
 * Format a node as an `enode://` URL the way go-ethereum does: lower-case hex public key, then
 * `@host:tcp` with IPv6 in brackets (the hostname when the node has one), then
 * `?discport=<udp>` only when the UDP port differs from the TCP port. A node with neither IP nor
 * hostname gives the incomplete form `enode://<hex key>`.
 */
export function formatEnode(node: Node): string {
  const key = toHex(node.publicKey)
  const host = node.hostname ?? node.ip
  if (host === undefined) return `enode://${key}`
  const disc = node.udp !== node.tcp ? `?discport=${node.udp}` : ''
  return `enode://${key}@${formatHostPort(host, node.tcp)}${disc}`
}

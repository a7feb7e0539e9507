/**
 * Discovery v4 wire format (pure; no sockets, no clock): the six packet kinds (Ping, Pong,
 * FindNode, Neighbors and EIP-868's ENRRequest/ENRResponse), their encoding as
 * `hash(32) || signature(65) || type(1) || rlp(body)`, and decoding with every check the
 * protocol requires: size bounds (98..1280 bytes), the hash, the signature (the sender's key is
 * recovered from it), the type, and the body shape. Decoding is EIP-8 forward compatible:
 * extra list elements are accepted and kept in `rest`, bytes after the body list are ignored.
 * Expiration is checked separately against a caller-supplied time ({@link isExpired}).
 *
 * EIP-868 versus the EIP-8 vectors: EIP-8's "ping v555" and "pong" test packets carry a *list*
 * at the position EIP-868 later gave to the optional `enr-seq`. We decode leniently: an
 * `enr-seq` element that is not a canonical unsigned integer of at most 8 bytes is treated as
 * absent and kept in `rest`, so both packets decode (go-ethereum, with a typed field, rejects
 * them and dropped the two vectors in 2021). Nothing is lost: the element stays in `rest`, and
 * a well-formed `enr-seq` is read exactly as geth reads it.
 */
import { isValidPublicKey, keccak256, recoverPublicKey, sign } from '../crypto/index.js'
import { nodeIdFromPublicKey } from '../enode/index.js'
import { ENR } from '../enr/index.js'
import {
  decodeBigUint,
  decodeUint,
  decodeWithRest,
  encode,
  encodeRawList,
  expectBytes,
  expectList,
  type RlpInput,
  type RlpValue,
} from '../rlp/index.js'
import { DecodeError, equalBytes } from '../util/index.js'

/** Largest packet sent or accepted, in bytes (go-ethereum's read buffer). */
export const MAX_PACKET_SIZE = 1280
/** Size of `hash || signature || type`; a packet must be longer (geth: at least this plus a body). */
export const HEAD_SIZE = 32 + 65 + 1
/** Most nodes geth puts into one Neighbors packet so that it stays below {@link MAX_PACKET_SIZE}. */
export const MAX_NEIGHBORS = 12
/** How far in the future outgoing packets expire (geth: 20 s). */
export const DEFAULT_EXPIRATION_MS = 20_000

/** The packet type byte of each kind. */
export const PACKET_TYPE = {
  ping: 0x01,
  pong: 0x02,
  findnode: 0x03,
  neighbors: 0x04,
  enrRequest: 0x05,
  enrResponse: 0x06,
} as const

/** A packet kind, named as in {@link PACKET_TYPE}. */
export type PacketKind = keyof typeof PACKET_TYPE

const KIND_BY_TYPE: readonly (PacketKind | undefined)[] = [
  undefined,
  'ping',
  'pong',
  'findnode',
  'neighbors',
  'enrRequest',
  'enrResponse',
]

const WHAT = 'discv4-packet'

/**
 * An endpoint as carried in Ping/Pong: IP bytes as received (4 or 16 bytes when well formed;
 * any length is accepted, as go-ethereum accepts it, and checked where it is used), UDP and TCP
 * ports (0 when unknown).
 */
export interface WireEndpoint {
  /** IP bytes. */
  readonly ip: Uint8Array
  /** UDP port (0 if unknown). */
  readonly udp: number
  /** TCP port (0 if unknown). */
  readonly tcp: number
}

/** A node entry of a Neighbors packet: endpoint plus the 64-byte public key. */
export interface WireNode extends WireEndpoint {
  /** 64-byte public key `x||y` (not yet checked to be on the curve). */
  readonly key: Uint8Array
}

/** Fields every packet kind may carry: extra list elements (EIP-8), kept raw. */
interface Extensible {
  /** List elements after the known fields, as decoded RLP values (sent as given when encoding). */
  readonly rest?: readonly RlpValue[] | undefined
}

/** Ping (0x01): `[version, from, to, expiration, enr-seq?, ...]`. */
export interface PingPacket extends Extensible {
  readonly kind: 'ping'
  /** Protocol version; 4 on send, ignored on receipt (EIP-8). */
  readonly version: number
  /** The sender's endpoint as it believes it to be (only its TCP port is used). */
  readonly from: WireEndpoint
  /** The recipient's endpoint as the sender sees it (feeds endpoint prediction). */
  readonly to: WireEndpoint
  /** Absolute Unix time in seconds. */
  readonly expiration: number
  /** EIP-868: the sender's current record sequence number, when present. */
  readonly enrSeq?: bigint | undefined
}

/** Pong (0x02): `[to, ping-hash, expiration, enr-seq?, ...]`. */
export interface PongPacket extends Extensible {
  readonly kind: 'pong'
  /** The UDP envelope address the ping came from (what the sender saw as our endpoint). */
  readonly to: WireEndpoint
  /** The `hash` of the ping being answered. */
  readonly replyTok: Uint8Array
  /** Absolute Unix time in seconds. */
  readonly expiration: number
  /** EIP-868: the sender's current record sequence number, when present. */
  readonly enrSeq?: bigint | undefined
}

/** FindNode (0x03): `[target (64-byte public key), expiration, ...]`. */
export interface FindNodePacket extends Extensible {
  readonly kind: 'findnode'
  /** A 64-byte public key; answers are the nodes closest to its keccak256. */
  readonly target: Uint8Array
  /** Absolute Unix time in seconds. */
  readonly expiration: number
}

/** Neighbors (0x04): `[[node...], expiration, ...]`. */
export interface NeighborsPacket extends Extensible {
  readonly kind: 'neighbors'
  /** The nodes (at most {@link MAX_NEIGHBORS} per packet when we send). */
  readonly nodes: readonly WireNode[]
  /** Absolute Unix time in seconds. */
  readonly expiration: number
}

/** ENRRequest (0x05, EIP-868): `[expiration, ...]`. */
export interface ENRRequestPacket extends Extensible {
  readonly kind: 'enrRequest'
  /** Absolute Unix time in seconds. */
  readonly expiration: number
}

/** ENRResponse (0x06, EIP-868): `[request-hash, record, ...]`. */
export interface ENRResponsePacket extends Extensible {
  readonly kind: 'enrResponse'
  /** The `hash` of the ENRRequest being answered (32 bytes). */
  readonly replyTok: Uint8Array
  /**
   * The record, structurally decoded but **not** signature-checked here: the receiver checks it
   * (and that it belongs to the packet's signer) with `Node.fromRecord`.
   */
  readonly record: ENR
}

/** Any discovery v4 packet. */
export type Packet =
  | PingPacket
  | PongPacket
  | FindNodePacket
  | NeighborsPacket
  | ENRRequestPacket
  | ENRResponsePacket

/** A packet of kind `K`. */
export type PacketOf<K extends PacketKind> = Extract<Packet, { kind: K }>

/** The result of {@link decodePacket}. */
export interface DecodedPacket {
  readonly packet: Packet
  /** The packet's `hash` field (32 bytes): reply token of the answer. */
  readonly hash: Uint8Array
  /** The sender's 64-byte public key, recovered from the signature. */
  readonly senderKey: Uint8Array
  /** keccak256 of {@link DecodedPacket.senderKey}: the sender's node id. */
  readonly senderId: Uint8Array
}

/** The result of {@link encodePacket}. */
export interface EncodedPacket {
  /** The datagram. */
  readonly bytes: Uint8Array
  /** Its `hash` field (what the answer echoes as reply token). */
  readonly hash: Uint8Array
}

// ---- time ----

/** The expiration to stamp on a packet sent at `nowMs`: Unix seconds, `ttlMs` ahead (geth: 20 s). */
export function expirationFromNow(nowMs: number, ttlMs: number = DEFAULT_EXPIRATION_MS): number {
  return Math.floor((nowMs + ttlMs) / 1000)
}

/** Whether an expiration (Unix seconds) lies in the past at `nowMs` (geth's `Expired`). */
export function isExpired(expiration: number, nowMs: number): boolean {
  return expiration * 1000 < nowMs
}

/** Whether `packet` has expired at `nowMs`. ENRResponse carries no expiration and never expires. */
export function packetExpired(packet: Packet, nowMs: number): boolean {
  if (packet.kind === 'enrResponse') return false
  return isExpired(packet.expiration, nowMs)
}

// ---- encoding ----

function endpointItem(e: WireEndpoint): RlpInput {
  return [e.ip, e.udp, e.tcp]
}

function bodyItems(p: Packet): Uint8Array[] {
  const items: RlpInput[] = []
  switch (p.kind) {
    case 'ping':
      items.push(p.version, endpointItem(p.from), endpointItem(p.to), p.expiration)
      if (p.enrSeq !== undefined) items.push(p.enrSeq)
      break
    case 'pong':
      items.push(endpointItem(p.to), p.replyTok, p.expiration)
      if (p.enrSeq !== undefined) items.push(p.enrSeq)
      break
    case 'findnode':
      items.push(p.target, p.expiration)
      break
    case 'neighbors':
      items.push(
        p.nodes.map((n) => [n.ip, n.udp, n.tcp, n.key]),
        p.expiration,
      )
      break
    case 'enrRequest':
      items.push(p.expiration)
      break
    case 'enrResponse': {
      const out = [encode(p.replyTok), p.record.encode()]
      for (const r of p.rest ?? []) out.push(encode(r))
      return out
    }
  }
  for (const r of p.rest ?? []) items.push(r)
  return items.map((x) => encode(x))
}

/**
 * Sign and encode `packet` with `privateKey`. Throws `RangeError` if the datagram would exceed
 * {@link MAX_PACKET_SIZE} (split Neighbors with {@link chunkNeighbors}) or a field has no
 * encoding, and if the record of an ENRResponse is unsigned.
 */
export function encodePacket(privateKey: Uint8Array, packet: Packet): EncodedPacket {
  const body = encodeRawList(bodyItems(packet))
  const size = HEAD_SIZE + body.length
  if (size > MAX_PACKET_SIZE)
    throw new RangeError(`discv4: ${packet.kind} packet of ${size} bytes exceeds ${MAX_PACKET_SIZE}`)
  const out = new Uint8Array(size)
  out[97] = PACKET_TYPE[packet.kind]
  out.set(body, HEAD_SIZE)
  const sig = sign(keccak256(out.subarray(97)), privateKey)
  out.set(sig, 32)
  const hash = keccak256(out.subarray(32))
  out.set(hash, 0)
  return { bytes: out, hash }
}

/** Split `nodes` into groups of at most `max` (default {@link MAX_NEIGHBORS}) for Neighbors packets. */
export function chunkNeighbors<T>(nodes: readonly T[], max: number = MAX_NEIGHBORS): T[][] {
  if (!Number.isInteger(max) || max < 1)
    throw new RangeError('chunkNeighbors: max must be a positive integer')
  const out: T[][] = []
  for (let i = 0; i < nodes.length; i += max) out.push(nodes.slice(i, i + max))
  return out
}

// ---- decoding ----

function fail(message: string, cause?: unknown): never {
  throw new DecodeError(WHAT, message, cause === undefined ? undefined : { cause })
}

function port(v: RlpValue, field: string): number {
  return decodeUint(v, field, { maxBytes: 2 })
}

function uint64(v: RlpValue, field: string): number {
  return Number(decodeBigUint(v, field, { maxBytes: 8 }))
}

function endpoint(v: RlpValue, field: string): WireEndpoint {
  const {
    items: [ip, udp, tcp],
  } = expectList(v, 3, field)
  return {
    ip: expectBytes(ip, `${field}.ip`),
    udp: port(udp, `${field}.udp`),
    tcp: port(tcp, `${field}.tcp`),
  }
}

/**
 * The optional EIP-868 `enr-seq` at the head of `rest`: taken when it is a canonical unsigned
 * integer of at most 8 bytes; otherwise (for instance the list in EIP-8's v555 ping) absent, and
 * the element stays in `rest`.
 */
function optionalSeq(rest: RlpValue[]): { enrSeq: bigint | undefined; rest: RlpValue[] } {
  const first = rest[0]
  if (first === undefined || !(first instanceof Uint8Array) || first.length > 8)
    return { enrSeq: undefined, rest }
  if (first.length > 0 && first[0] === 0) return { enrSeq: undefined, rest }
  let v = 0n
  for (const b of first) v = (v << 8n) | BigInt(b)
  return { enrSeq: v, rest: rest.slice(1) }
}

function decodeBody(kind: PacketKind, v: RlpValue): Packet {
  switch (kind) {
    case 'ping': {
      const {
        items: [version, from, to, exp],
        rest,
      } = expectList(v, 4, 'ping')
      const seq = optionalSeq(rest)
      return {
        kind,
        version: uint64(version, 'ping.version'),
        from: endpoint(from, 'ping.from'),
        to: endpoint(to, 'ping.to'),
        expiration: uint64(exp, 'ping.expiration'),
        enrSeq: seq.enrSeq,
        rest: seq.rest,
      }
    }
    case 'pong': {
      const {
        items: [to, tok, exp],
        rest,
      } = expectList(v, 3, 'pong')
      const seq = optionalSeq(rest)
      return {
        kind,
        to: endpoint(to, 'pong.to'),
        replyTok: expectBytes(tok, 'pong.replyTok'),
        expiration: uint64(exp, 'pong.expiration'),
        enrSeq: seq.enrSeq,
        rest: seq.rest,
      }
    }
    case 'findnode': {
      const {
        items: [target, exp],
        rest,
      } = expectList(v, 2, 'findnode')
      return {
        kind,
        target: expectBytes(target, 'findnode.target', { len: 64 }),
        expiration: uint64(exp, 'findnode.expiration'),
        rest,
      }
    }
    case 'neighbors': {
      const {
        items: [list, exp],
        rest,
      } = expectList(v, 2, 'neighbors')
      if (!Array.isArray(list)) fail('neighbors: node list is not a list')
      const nodes: WireNode[] = list.map((item) => {
        const {
          items: [ip, udp, tcp, key],
        } = expectList(item, 4, 'neighbors.node')
        return {
          ip: expectBytes(ip, 'neighbors.node.ip'),
          udp: port(udp, 'neighbors.node.udp'),
          tcp: port(tcp, 'neighbors.node.tcp'),
          key: expectBytes(key, 'neighbors.node.key', { len: 64 }),
        }
      })
      return { kind, nodes, expiration: uint64(exp, 'neighbors.expiration'), rest }
    }
    case 'enrRequest': {
      const {
        items: [exp],
        rest,
      } = expectList(v, 1, 'enrRequest')
      return { kind, expiration: uint64(exp, 'enrRequest.expiration'), rest }
    }
    case 'enrResponse': {
      const {
        items: [tok, rec],
        rest,
      } = expectList(v, 2, 'enrResponse')
      const replyTok = expectBytes(tok, 'enrResponse.replyTok', { len: 32 })
      if (!Array.isArray(rec)) fail('enrResponse: record is not a list')
      let record: ENR
      try {
        record = ENR.decode(encode(rec), { verify: false })
      } catch (e) {
        fail(`enrResponse: ${e instanceof Error ? e.message : 'bad record'}`, e)
      }
      return { kind, replyTok, record, rest }
    }
  }
}

/**
 * Decode and authenticate a datagram. Checks, in order: size (more than {@link HEAD_SIZE}, at most
 * {@link MAX_PACKET_SIZE}), the hash, a known type, the body's RLP and shape, and the signature
 * (recovering the sender's key). Trailing bytes after the body list are ignored (EIP-8). Throws
 * {@link DecodeError} for every malformed input and nothing else; expiration is not checked
 * here (see {@link packetExpired}).
 */
export function decodePacket(bytes: Uint8Array): DecodedPacket {
  if (!(bytes instanceof Uint8Array)) fail('expected a Uint8Array')
  if (bytes.length <= HEAD_SIZE) fail(`packet too small (${bytes.length} bytes)`)
  if (bytes.length > MAX_PACKET_SIZE) fail(`packet too big (${bytes.length} bytes)`)
  const hash = bytes.slice(0, 32)
  if (!equalBytes(hash, keccak256(bytes.subarray(32)))) fail('bad hash')
  const type = bytes[97]!
  const kind = KIND_BY_TYPE[type]
  if (kind === undefined) fail(`unknown packet type ${type}`)
  let body: RlpValue
  try {
    body = decodeWithRest(bytes.subarray(HEAD_SIZE)).value
  } catch (e) {
    fail(`${kind}: ${e instanceof Error ? e.message : 'bad RLP'}`, e)
  }
  let packet: Packet
  let senderKey: Uint8Array
  try {
    packet = decodeBody(kind, body)
    senderKey = recoverPublicKey(keccak256(bytes.subarray(97)), bytes.subarray(32, 97))
  } catch (e) {
    if (e instanceof DecodeError && e.what === WHAT) throw e
    fail(e instanceof Error ? e.message : 'malformed packet', e)
  }
  return { packet, hash, senderKey, senderId: nodeIdFromPublicKey(senderKey) }
}

/** Whether a Neighbors entry's key is a valid secp256k1 point (checked before the node is used). */
export function isValidNodeKey(key: Uint8Array): boolean {
  return isValidPublicKey(key)
}

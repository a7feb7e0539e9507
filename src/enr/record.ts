/**
 * Ethereum Node Records (EIP-778): the {@link ENR} class owns a record's sequence number, its
 * sorted unique key/value pairs (values kept as raw RLP, so unknown keys survive unchanged), its
 * signature and encoding; the "v4" identity scheme (sign/verify over keccak256 of the content);
 * the 300-byte size cap; and the `enr:` text form.
 */
import {
  compressPublicKey,
  decompressPublicKey,
  keccak256,
  publicKeyFromPrivate,
  sign,
  verify,
} from '../crypto/index.js'
import {
  decode,
  decodeBigUint,
  decodeUint,
  encode,
  encodeRawList,
  expectBytes,
  expectList,
  type RlpInput,
  type RlpValue,
} from '../rlp/index.js'
import {
  compareBytes,
  DecodeError,
  DevP2PError,
  equalBytes,
  formatIP,
  fromUtf8,
  tryParseIP,
  unmapIP,
  utf8,
} from '../util/index.js'
import { base64UrlDecode, base64UrlEncode } from './base64url.js'

/** Largest encoded record accepted or produced, in bytes (EIP-778). */
export const ENR_MAX_SIZE = 300

/** The identity scheme this implementation signs and verifies. */
export const ENR_ID_V4 = 'v4'

/** Prefix of the text form. */
export const ENR_TEXT_PREFIX = 'enr:'

/** A record key: text (encoded as UTF-8) or raw bytes. */
export type EnrKey = string | Uint8Array

/** Options of {@link ENR.decode} and {@link ENR.fromText}. */
export interface EnrDecodeOptions {
  /**
   * Check the "v4" signature (and refuse other identity schemes). Default `true`. With `false`
   * only the structure is checked, as go-ethereum's RLP decoding of a record does.
   */
  readonly verify?: boolean
}

interface Pair {
  readonly key: Uint8Array
  /** The value's RLP encoding. */
  readonly value: Uint8Array
}

const WHAT = 'enr'
/** Longest `enr:` text payload whose bytes can fit in {@link ENR_MAX_SIZE}. */
const MAX_TEXT_PAYLOAD = Math.ceil((ENR_MAX_SIZE * 4) / 3)
const PORT_KEYS = new Set(['tcp', 'udp', 'tcp6', 'udp6', 'quic', 'quic6'])

function keyBytes(key: EnrKey): Uint8Array {
  if (key instanceof Uint8Array) return key
  if (typeof key !== 'string') throw new TypeError('enr: key must be a string or Uint8Array')
  return utf8(key)
}

function findPair(pairs: readonly Pair[], key: Uint8Array): number {
  let lo = 0
  let hi = pairs.length
  while (lo < hi) {
    const mid = (lo + hi) >>> 1
    const c = compareBytes(pairs[mid]!.key, key)
    if (c === 0) return mid
    if (c < 0) lo = mid + 1
    else hi = mid
  }
  return -(lo + 1)
}

/** A new pair list with `key` set to `value` (or removed when `value` is undefined). */
function withPair(pairs: readonly Pair[], key: Uint8Array, value: Uint8Array | undefined): Pair[] {
  const i = findPair(pairs, key)
  const out = pairs.slice()
  if (i >= 0) {
    if (value === undefined) out.splice(i, 1)
    else out[i] = { key: pairs[i]!.key, value }
  } else if (value !== undefined) out.splice(-(i + 1), 0, { key: key.slice(), value })
  return out
}

function samePairs(a: readonly Pair[], b: readonly Pair[]): boolean {
  if (a.length !== b.length) return false
  for (let i = 0; i < a.length; i++) {
    if (!equalBytes(a[i]!.key, b[i]!.key) || !equalBytes(a[i]!.value, b[i]!.value)) return false
  }
  return true
}

/** The signed content: RLP `[seq, k1, v1, k2, v2, ...]`. */
function contentOf(seq: bigint, pairs: readonly Pair[]): Uint8Array {
  const items: Uint8Array[] = [encode(seq)]
  for (const p of pairs) items.push(encode(p.key), p.value)
  return encodeRawList(items)
}

function fullEncoding(signature: Uint8Array, seq: bigint, pairs: readonly Pair[]): Uint8Array {
  const items: Uint8Array[] = [encode(signature), encode(seq)]
  for (const p of pairs) items.push(encode(p.key), p.value)
  return encodeRawList(items)
}

/** Reject values that are not valid for a well-known key (a caller's mistake, so RangeError). */
function checkKnownValue(key: Uint8Array, raw: Uint8Array): void {
  const name = fromUtf8(key)
  let v: RlpValue
  try {
    v = decode(raw)
  } catch (e) {
    throw new RangeError(`enr: value of ${JSON.stringify(name)} is not valid RLP`, { cause: e })
  }
  const bad = (why: string): never => {
    throw new RangeError(`enr: invalid ${JSON.stringify(name)} value: ${why}`)
  }
  switch (name) {
    case 'id':
      if (!(v instanceof Uint8Array)) bad('expected a byte string')
      return
    case 'secp256k1':
      if (!(v instanceof Uint8Array) || v.length !== 33) bad('expected a 33-byte compressed public key')
      try {
        decompressPublicKey(v as Uint8Array)
      } catch {
        bad('not a point on the curve')
      }
      return
    case 'ip':
      if (!(v instanceof Uint8Array) || v.length !== 4) bad('expected 4 bytes')
      return
    case 'ip6':
      if (!(v instanceof Uint8Array) || v.length !== 16) bad('expected 16 bytes')
      return
    default:
      if (PORT_KEYS.has(name)) {
        try {
          decodeUint(v, WHAT, { maxBytes: 2 })
        } catch {
          bad('expected a port number (0-65535)')
        }
      }
  }
}

/**
 * An Ethereum Node Record.
 *
 * Setters keep keys sorted and unique and drop the signature. The first change to a signed
 * record also increments `seq` (EIP-778: a changed record has a higher sequence number), so a
 * modified record can never be re-signed under its old number; {@link ENR.setSeq} sets it
 * explicitly. {@link ENR.sign} signs with the "v4" scheme, {@link ENR.encode} gives the RLP form
 * and {@link ENR.toText} the `enr:` form. Well-known keys have typed accessors; like go-ethereum,
 * a typed getter reads a missing or malformed entry as `undefined`. Arbitrary keys (such as
 * `eth`) are kept as raw RLP and read with {@link ENR.get}/{@link ENR.getRaw}.
 *
 * `new ENR()` is an empty, unsigned record with `seq` 0.
 */
export class ENR {
  #seq = 0n
  #pairs: Pair[] = []
  #signature: Uint8Array | undefined
  #encoded: Uint8Array | undefined

  /**
   * Decode a record from its RLP bytes. Throws {@link DecodeError} (`what: 'enr'`) for more
   * than {@link ENR_MAX_SIZE} bytes, bad RLP, fewer than 2 elements, an odd number of key/value
   * elements, unsorted or duplicate keys, a non-canonical or over-64-bit `seq`, and (unless
   * `verify: false`) an unknown identity scheme or a bad signature.
   */
  static decode(bytes: Uint8Array, opts: EnrDecodeOptions = {}): ENR {
    if (!(bytes instanceof Uint8Array)) throw new TypeError('enr: expected Uint8Array input')
    if (bytes.length > ENR_MAX_SIZE)
      throw new DecodeError(WHAT, `record bigger than ${ENR_MAX_SIZE} bytes (${bytes.length})`)
    let v: RlpValue
    try {
      v = decode(bytes)
    } catch (e) {
      throw new DecodeError(WHAT, e instanceof Error ? e.message : 'invalid RLP', { cause: e })
    }
    const {
      items: [sigItem, seqItem],
      rest,
    } = expectList(v, 2, WHAT)
    const signature = expectBytes(sigItem, WHAT)
    const seq = decodeBigUint(seqItem, WHAT, { maxBytes: 8 })
    if (rest.length % 2 !== 0) throw new DecodeError(WHAT, 'record contains incomplete k/v pair')
    const pairs: Pair[] = []
    for (let i = 0; i < rest.length; i += 2) {
      const key = expectBytes(rest[i]!, WHAT)
      const prev = pairs[pairs.length - 1]
      if (prev !== undefined) {
        const c = compareBytes(key, prev.key)
        if (c === 0)
          throw new DecodeError(WHAT, `record contains duplicate key ${JSON.stringify(fromUtf8(key))}`)
        if (c < 0) throw new DecodeError(WHAT, 'record key/value pairs are not sorted by key')
      }
      pairs.push({ key, value: encode(rest[i + 1]!) })
    }
    const r = new ENR()
    r.#seq = seq
    r.#pairs = pairs
    r.#signature = signature
    r.#encoded = bytes.slice()
    if (opts.verify !== false) r.#checkSignature()
    return r
  }

  /**
   * Parse the text form `enr:<base64url, no padding>`. Throws {@link DecodeError} for a missing
   * prefix, padding or bad base64, and everything {@link ENR.decode} rejects.
   */
  static fromText(text: string, opts: EnrDecodeOptions = {}): ENR {
    if (typeof text !== 'string' || !text.startsWith(ENR_TEXT_PREFIX))
      throw new DecodeError(WHAT, "missing 'enr:' prefix for base64-encoded record")
    const payload = text.slice(ENR_TEXT_PREFIX.length)
    if (payload.length > MAX_TEXT_PAYLOAD)
      throw new DecodeError(WHAT, `record bigger than ${ENR_MAX_SIZE} bytes`)
    return ENR.decode(base64UrlDecode(payload, WHAT), opts)
  }

  /** The sequence number. */
  get seq(): bigint {
    return this.#seq
  }

  /** Set the sequence number (uint64). Drops the signature. */
  setSeq(seq: bigint): this {
    if (typeof seq !== 'bigint' || seq < 0n || seq >= 1n << 64n)
      throw new RangeError('enr: seq must be a bigint in [0, 2^64)')
    this.#seq = seq
    this.#signature = undefined
    this.#encoded = undefined
    return this
  }

  /** The signature bytes, or `undefined` while the record is unsigned. */
  get signature(): Uint8Array | undefined {
    return this.#signature?.slice()
  }

  /** True when the record carries a signature for its current content (not necessarily valid). */
  get signed(): boolean {
    return this.#signature !== undefined
  }

  /** The keys in record order (sorted by their bytes), as UTF-8 text. */
  keys(): string[] {
    return this.#pairs.map((p) => fromUtf8(p.key))
  }

  /** Every entry in record order: key bytes and the value's raw RLP encoding. */
  entries(): Array<{ key: Uint8Array; value: Uint8Array }> {
    return this.#pairs.map((p) => ({ key: p.key.slice(), value: p.value.slice() }))
  }

  /** True when the record has `key`. */
  has(key: EnrKey): boolean {
    return findPair(this.#pairs, keyBytes(key)) >= 0
  }

  /** The raw RLP encoding of the value of `key`, or `undefined`. */
  getRaw(key: EnrKey): Uint8Array | undefined {
    const i = findPair(this.#pairs, keyBytes(key))
    return i >= 0 ? this.#pairs[i]!.value.slice() : undefined
  }

  /** The decoded value of `key`, or `undefined`. */
  get(key: EnrKey): RlpValue | undefined {
    const i = findPair(this.#pairs, keyBytes(key))
    return i >= 0 ? decode(this.#pairs[i]!.value) : undefined
  }

  /**
   * Set `key` to `value` (RLP-encoded here). Values of the well-known keys are checked
   * (`RangeError`): `id` a string, `secp256k1` a 33-byte compressed key, `ip` 4 bytes, `ip6` 16
   * bytes, ports an integer up to 65535. Setting an identical value changes nothing.
   */
  set(key: EnrKey, value: RlpInput): this {
    return this.setRaw(key, encode(value))
  }

  /** Set `key` to an already RLP-encoded value (checked to be one valid RLP item). */
  setRaw(key: EnrKey, encodedValue: Uint8Array): this {
    const k = keyBytes(key)
    checkKnownValue(k, encodedValue)
    this.#update(withPair(this.#pairs, k, encodedValue.slice()))
    return this
  }

  /** Remove `key`. Returns whether it was present. */
  delete(key: EnrKey): boolean {
    const k = keyBytes(key)
    if (findPair(this.#pairs, k) < 0) return false
    this.#update(withPair(this.#pairs, k, undefined))
    return true
  }

  #update(pairs: Pair[]): void {
    if (samePairs(pairs, this.#pairs)) return
    if (this.#signature !== undefined) {
      if (this.#seq >= (1n << 64n) - 1n) throw new RangeError('enr: seq would overflow uint64')
      this.#seq += 1n
    }
    this.#pairs = pairs
    this.#signature = undefined
    this.#encoded = undefined
  }

  /** The identity scheme name (`id` entry), e.g. `"v4"`. */
  get id(): string | undefined {
    const v = this.#value('id')
    return v instanceof Uint8Array ? fromUtf8(v) : undefined
  }

  /** The `secp256k1` entry: a 33-byte compressed public key as stored. */
  get secp256k1(): Uint8Array | undefined {
    const v = this.#value('secp256k1')
    return v instanceof Uint8Array && v.length === 33 ? v : undefined
  }

  /** The node's 64-byte public key `x||y`, from the `secp256k1` entry. */
  get publicKey(): Uint8Array | undefined {
    const c = this.secp256k1
    if (c === undefined) return undefined
    try {
      return decompressPublicKey(c)
    } catch {
      return undefined
    }
  }

  /** The 32-byte node id: keccak256 of the 64-byte public key ("v4" scheme). */
  get nodeId(): Uint8Array | undefined {
    const pub = this.publicKey
    return pub === undefined ? undefined : keccak256(pub)
  }

  /** The `ip` entry as dotted text. */
  get ip(): string | undefined {
    const v = this.#value('ip')
    return v instanceof Uint8Array && v.length === 4 ? formatIP(v) : undefined
  }

  /** The `ip6` entry as IPv6 text. */
  get ip6(): string | undefined {
    const v = this.#value('ip6')
    return v instanceof Uint8Array && v.length === 16 ? formatIP(v) : undefined
  }

  /** The `tcp` port. */
  get tcp(): number | undefined {
    return this.#port('tcp')
  }

  /** The `udp` port. */
  get udp(): number | undefined {
    return this.#port('udp')
  }

  /** The `tcp6` port (when absent, `tcp` applies to IPv6 too). */
  get tcp6(): number | undefined {
    return this.#port('tcp6')
  }

  /** The `udp6` port (when absent, `udp` applies to IPv6 too). */
  get udp6(): number | undefined {
    return this.#port('udp6')
  }

  /**
   * Set the `ip` (IPv4, including IPv4-mapped IPv6 text) or `ip6` entry from text or 4/16 bytes.
   * `RangeError` if it is not an IP address.
   */
  setIp(ip: string | Uint8Array): this {
    const b = typeof ip === 'string' ? tryParseIP(ip) : ip
    if (!(b instanceof Uint8Array) || (b.length !== 4 && b.length !== 16))
      throw new RangeError(`enr: not an IP address: ${typeof ip === 'string' ? ip : `${b?.length} bytes`}`)
    const v = unmapIP(b)
    return this.set(v.length === 4 ? 'ip' : 'ip6', v.slice())
  }

  /** Set the `tcp` port. */
  setTcp(port: number): this {
    return this.#setPort('tcp', port)
  }

  /** Set the `udp` port. */
  setUdp(port: number): this {
    return this.#setPort('udp', port)
  }

  /** Set the `tcp6` port. */
  setTcp6(port: number): this {
    return this.#setPort('tcp6', port)
  }

  /** Set the `udp6` port. */
  setUdp6(port: number): this {
    return this.#setPort('udp6', port)
  }

  #value(key: string): RlpValue | undefined {
    const i = findPair(this.#pairs, utf8(key))
    if (i < 0) return undefined
    try {
      return decode(this.#pairs[i]!.value)
    } catch {
      return undefined
    }
  }

  #setPort(key: 'tcp' | 'udp' | 'tcp6' | 'udp6', port: number): this {
    if (!Number.isInteger(port) || port < 0 || port > 65535)
      throw new RangeError(`enr: ${key} must be an integer port in [0, 65535], got ${port}`)
    return this.set(key, port)
  }

  #port(key: string): number | undefined {
    const v = this.#value(key)
    if (v === undefined) return undefined
    try {
      return decodeUint(v, WHAT, { maxBytes: 2 })
    } catch {
      return undefined
    }
  }

  /** The bytes the "v4" signature covers: RLP `[seq, k1, v1, ...]`. */
  content(): Uint8Array {
    return contentOf(this.#seq, this.#pairs)
  }

  /**
   * Sign with the "v4" scheme: sets `id` = "v4" and `secp256k1` = the compressed public key of
   * `privateKey`, then signs keccak256 of the content (64-byte `r||s`, low-S). The sequence number
   * follows the setter rule: it grows only if these two entries change a signed record. Throws
   * `RangeError` (leaving the record unchanged) if the signed record would exceed
   * {@link ENR_MAX_SIZE} bytes.
   */
  sign(privateKey: Uint8Array): this {
    const compressed = compressPublicKey(publicKeyFromPrivate(privateKey))
    let pairs = withPair(this.#pairs, utf8('id'), encode(ENR_ID_V4))
    pairs = withPair(pairs, utf8('secp256k1'), encode(compressed))
    let seq = this.#seq
    if (this.#signature !== undefined && !samePairs(pairs, this.#pairs)) {
      if (seq >= (1n << 64n) - 1n) throw new RangeError('enr: seq would overflow uint64')
      seq += 1n
    }
    const signature = sign(keccak256(contentOf(seq, pairs)), privateKey).slice(0, 64)
    const encoded = fullEncoding(signature, seq, pairs)
    if (encoded.length > ENR_MAX_SIZE)
      throw new RangeError(`enr: signed record would be ${encoded.length} bytes, more than ${ENR_MAX_SIZE}`)
    this.#seq = seq
    this.#pairs = pairs
    this.#signature = signature
    this.#encoded = encoded
    return this
  }

  /**
   * True when the record is signed with a valid "v4" signature by the key in its `secp256k1`
   * entry. False for unsigned records, other identity schemes, and malformed keys or signatures.
   */
  verify(): boolean {
    try {
      this.#checkSignature()
      return true
    } catch {
      return false
    }
  }

  #checkSignature(): void {
    const id = this.#value('id')
    if (!(id instanceof Uint8Array) || fromUtf8(id) !== ENR_ID_V4)
      throw new DecodeError(WHAT, 'unknown or unspecified identity scheme')
    const pub = this.publicKey
    if (pub === undefined) throw new DecodeError(WHAT, 'invalid public key')
    const sig = this.#signature
    if (sig === undefined || sig.length !== 64 || !verify(keccak256(this.content()), sig, pub))
      throw new DecodeError(WHAT, 'invalid signature on node record')
  }

  /** The RLP encoding. Throws if the record is unsigned (sign or decode it first). */
  encode(): Uint8Array {
    if (this.#signature === undefined) throw new DevP2PError('enr: record is not signed')
    this.#encoded ??= fullEncoding(this.#signature, this.#seq, this.#pairs)
    return this.#encoded.slice()
  }

  /** The encoded size in bytes; an unsigned record counts an empty signature (as geth's `Size`). */
  get size(): number {
    if (this.#encoded !== undefined) return this.#encoded.length
    return fullEncoding(this.#signature ?? new Uint8Array(0), this.#seq, this.#pairs).length
  }

  /** The text form `enr:<base64url>`. Throws if the record is unsigned. */
  toText(): string {
    return ENR_TEXT_PREFIX + base64UrlEncode(this.encode())
  }

  /** The text form when signed, else a short description. */
  toString(): string {
    return this.signed ? this.toText() : `ENR(unsigned, seq ${this.#seq}, keys ${this.keys().join(',')})`
  }

  /** An independent copy (with the same signature state). */
  clone(): ENR {
    const r = new ENR()
    r.#seq = this.#seq
    r.#pairs = this.#pairs.slice()
    r.#signature = this.#signature
    r.#encoded = this.#encoded
    return r
  }
}

/** Parse `enr:` text into a verified record; shorthand for {@link ENR.fromText}. */
export function parseEnr(text: string, opts?: EnrDecodeOptions): ENR {
  return ENR.fromText(text, opts)
}

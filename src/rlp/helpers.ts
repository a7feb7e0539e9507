/**
 * Typed readers for decoded RLP values: lists with a tail of ignored extra elements (EIP-8
 * forward compatibility), byte strings with size bounds, and canonical unsigned integers.
 * Every failure is a {@link DecodeError} whose `what` is the caller's label (e.g. `enr`).
 */
import { bytesToBigInt, DecodeError, uintToBytes } from '../util/index.js'
import type { RlpValue } from './rlp.js'

/** A tuple of `N` elements of `T` (for small literal `N`). */
export type Tuple<N extends number, T, Acc extends T[] = []> = number extends N
  ? T[]
  : Acc['length'] extends N
    ? Acc
    : Tuple<N, T, [...Acc, T]>

/** True when `v` is a list. */
export function isList(v: RlpValue): v is RlpValue[] {
  return Array.isArray(v)
}

/**
 * Expect a list of at least `minLen` elements. Returns the first `minLen` as a typed tuple and
 * the extra elements as `rest` (kept, for EIP-8 forward compatibility).
 */
export function expectList<N extends number>(
  v: RlpValue,
  minLen: N,
  what: string,
): { items: Tuple<N, RlpValue>; rest: RlpValue[] } {
  if (!Array.isArray(v)) throw new DecodeError(what, 'expected a list, got a string')
  if (v.length < minLen)
    throw new DecodeError(what, `expected at least ${minLen} list elements, got ${v.length}`)
  return { items: v.slice(0, minLen) as Tuple<N, RlpValue>, rest: v.slice(minLen) }
}

/** Size bounds of {@link expectBytes}. */
export interface BytesBounds {
  /** Exact length required. */
  readonly len?: number
  /** Maximum length accepted. */
  readonly maxLen?: number
  /** Minimum length accepted. */
  readonly minLen?: number
}

/** Expect a byte string, optionally of an exact length or within bounds. */
export function expectBytes(v: RlpValue, what: string, bounds: BytesBounds = {}): Uint8Array {
  if (!(v instanceof Uint8Array)) throw new DecodeError(what, 'expected a byte string, got a list')
  if (bounds.len !== undefined && v.length !== bounds.len)
    throw new DecodeError(what, `expected ${bounds.len} bytes, got ${v.length}`)
  if (bounds.maxLen !== undefined && v.length > bounds.maxLen)
    throw new DecodeError(what, `expected at most ${bounds.maxLen} bytes, got ${v.length}`)
  if (bounds.minLen !== undefined && v.length < bounds.minLen)
    throw new DecodeError(what, `expected at least ${bounds.minLen} bytes, got ${v.length}`)
  return v
}

function uintContent(v: RlpValue, what: string, maxBytes: number): Uint8Array {
  if (!(v instanceof Uint8Array)) throw new DecodeError(what, 'expected an integer, got a list')
  if (v.length > maxBytes)
    throw new DecodeError(what, `integer too long (${v.length} bytes, max ${maxBytes})`)
  if (v.length > 0 && v[0] === 0) throw new DecodeError(what, 'non-canonical integer (leading zero bytes)')
  return v
}

/** Bounds of {@link decodeUint}. */
export interface UintBounds {
  /** Longest accepted encoding in bytes (1..6). Default 6 (every value below 2^48). */
  readonly maxBytes?: number
}

/**
 * Read a canonical unsigned integer (big-endian, no leading zeros, 0 = empty) of at most
 * `maxBytes` bytes as a `number`. `maxBytes` is capped at 6 so the value is always exact.
 */
export function decodeUint(v: RlpValue, what: string, bounds: UintBounds = {}): number {
  const maxBytes = bounds.maxBytes ?? 6
  if (!Number.isInteger(maxBytes) || maxBytes < 1 || maxBytes > 6)
    throw new RangeError('decodeUint: maxBytes must be 1..6 (use decodeBigUint for wider integers)')
  const b = uintContent(v, what, maxBytes)
  let n = 0
  for (let i = 0; i < b.length; i++) n = n * 256 + b[i]!
  return n
}

/** Bounds of {@link decodeBigUint}. */
export interface BigUintBounds {
  /** Longest accepted encoding in bytes. Default 32 (uint256). */
  readonly maxBytes?: number
}

/** Read a canonical unsigned integer of at most `maxBytes` bytes as a `bigint` (uint64: 8). */
export function decodeBigUint(v: RlpValue, what: string, bounds: BigUintBounds = {}): bigint {
  return bytesToBigInt(uintContent(v, what, bounds.maxBytes ?? 32))
}

/**
 * The canonical byte-string content of an unsigned integer: big-endian, no leading zeros, 0 as
 * the empty string. Throws `RangeError` for negative or non-integer values.
 */
export function encodeUint(v: number | bigint): Uint8Array {
  if (typeof v === 'number' && (!Number.isSafeInteger(v) || v < 0))
    throw new RangeError(`encodeUint: ${v} is not a non-negative safe integer`)
  return uintToBytes(v)
}

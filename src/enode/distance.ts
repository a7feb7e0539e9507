/**
 * Node ids and the Kademlia XOR metric: ids from public keys, hex ids, log-distance (the
 * bucket index measure), distance comparison and raw XOR distance.
 */
import { keccak256 } from '../crypto/index.js'
import { DecodeError, fromHex } from '../util/index.js'

/** Length of a node id in bytes. */
export const NODE_ID_LENGTH = 32

function checkPair(a: Uint8Array, b: Uint8Array): void {
  if (!(a instanceof Uint8Array) || !(b instanceof Uint8Array) || a.length !== b.length)
    throw new RangeError('node ids must be Uint8Arrays of equal length')
}

/** The "v4" node id of a 64-byte public key `x||y`: keccak256 of it. */
export function nodeIdFromPublicKey(publicKey: Uint8Array): Uint8Array {
  if (!(publicKey instanceof Uint8Array) || publicKey.length !== 64)
    throw new RangeError('publicKey: expected 64 bytes (x||y)')
  return keccak256(publicKey)
}

/** Parse a 32-byte node id from 64 hex characters (optional `0x`). DecodeError otherwise. */
export function parseNodeId(hex: string): Uint8Array {
  const b = fromHex(hex)
  if (b.length !== NODE_ID_LENGTH)
    throw new DecodeError('node-id', `wrong length, want ${NODE_ID_LENGTH * 2} hex chars`)
  return b
}

/**
 * The logarithmic distance `log2(a XOR b)` + 1, i.e. the bit length of the XOR: 0 for equal ids,
 * 256 when the first bit differs (for 32-byte ids).
 */
export function logDistance(a: Uint8Array, b: Uint8Array): number {
  checkPair(a, b)
  for (let i = 0; i < a.length; i++) {
    const x = a[i]! ^ b[i]!
    if (x !== 0) return (a.length - i) * 8 - (Math.clz32(x) - 24)
  }
  return 0
}

/**
 * Compare the distances of `a` and `b` to `target`: -1 if `a` is closer, 1 if `b` is closer,
 * 0 if equal.
 */
export function distCmp(target: Uint8Array, a: Uint8Array, b: Uint8Array): -1 | 0 | 1 {
  checkPair(target, a)
  checkPair(target, b)
  for (let i = 0; i < target.length; i++) {
    const da = a[i]! ^ target[i]!
    const db = b[i]! ^ target[i]!
    if (da > db) return 1
    if (da < db) return -1
  }
  return 0
}

/** The XOR distance `a ^ b` as bytes (compare with `compareBytes`). */
export function xorDistance(a: Uint8Array, b: Uint8Array): Uint8Array {
  checkPair(a, b)
  const out = new Uint8Array(a.length)
  for (let i = 0; i < a.length; i++) out[i] = a[i]! ^ b[i]!
  return out
}

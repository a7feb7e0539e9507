/**
 * SHA-256, HMAC-SHA256 (both from `node:crypto`) and the NIST SP 800-56A concatenation KDF
 * over SHA-256 that RLPx's ECIES uses.
 */
import { createHash, createHmac } from 'node:crypto'
import { assertBytes, assertInt } from '../util/assert.js'
import { bufferToBytes } from './internal.js'

/** SHA-256 of the concatenation of `parts` (32 bytes). */
export function sha256(...parts: Uint8Array[]): Uint8Array {
  const h = createHash('sha256')
  for (let i = 0; i < parts.length; i++) {
    const p = parts[i]
    assertBytes(`sha256 part ${i}`, p)
    h.update(p)
  }
  return bufferToBytes(h.digest())
}

/** HMAC-SHA256 with `key` of the concatenation of `parts` (32 bytes). */
export function hmacSha256(key: Uint8Array, ...parts: Uint8Array[]): Uint8Array {
  assertBytes('key', key)
  const h = createHmac('sha256', key)
  for (let i = 0; i < parts.length; i++) {
    const p = parts[i]
    assertBytes(`hmacSha256 part ${i}`, p)
    h.update(p)
  }
  return bufferToBytes(h.digest())
}

/** The largest output {@link concatKdfSha256} produces (an arbitrary but generous bound). */
export const CONCAT_KDF_MAX_LENGTH = 1 << 20

/**
 * NIST SP 800-56A concatenation KDF with SHA-256: `length` bytes of
 * `SHA256(counter || z || s1)` for a 32-bit big-endian counter starting at 1.
 */
export function concatKdfSha256(z: Uint8Array, s1: Uint8Array, length: number): Uint8Array {
  assertBytes('z', z)
  assertBytes('s1', s1)
  assertInt('length', length, 0, CONCAT_KDF_MAX_LENGTH)
  const out = new Uint8Array(length)
  const counter = new Uint8Array(4)
  const view = new DataView(counter.buffer)
  for (let i = 1, o = 0; o < length; i++, o += 32) {
    view.setUint32(0, i)
    const block = createHash('sha256').update(counter).update(z).update(s1).digest()
    out.set(block.subarray(0, Math.min(32, length - o)), o)
  }
  return out
}

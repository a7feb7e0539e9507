/** Byte helpers over `Uint8Array`: hex, concatenation, comparison, integers. */
import { DecodeError } from './errors.js'

const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'))

/** Lower-case hex without `0x`. */
export function toHex(bytes: Uint8Array): string {
  if (bytes.length > 8) return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).toString('hex')
  // Short inputs: the loop is faster than a Buffer view (and a rope this short costs little).
  let s = ''
  for (let i = 0; i < bytes.length; i++) s += HEX[bytes[i]!]
  return s
}

/** Parse hex (an optional `0x` prefix, either case). Throws {@link DecodeError} on bad input. */
export function fromHex(hex: string): Uint8Array {
  const h = hex.startsWith('0x') || hex.startsWith('0X') ? hex.slice(2) : hex
  if (h.length % 2 !== 0) throw new DecodeError('hex', 'odd length')
  if (!/^[0-9a-fA-F]*$/.test(h)) throw new DecodeError('hex', 'invalid character')
  return Uint8Array.from(Buffer.from(h, 'hex'))
}

/** Concatenate byte arrays into a new one. */
export function concatBytes(...parts: readonly Uint8Array[]): Uint8Array {
  let n = 0
  for (const p of parts) n += p.length
  const out = new Uint8Array(n)
  let o = 0
  for (const p of parts) {
    out.set(p, o)
    o += p.length
  }
  return out
}

/** Byte-wise equality (not constant-time; use {@link timingSafeEqualBytes} for secrets). */
export function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false
  return true
}

/** Constant-time equality for MACs and other secrets. */
export function timingSafeEqualBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false
  let d = 0
  for (let i = 0; i < a.length; i++) d |= a[i]! ^ b[i]!
  return d === 0
}

/** Lexicographic comparison: negative, zero or positive. */
export function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length)
  for (let i = 0; i < n; i++) {
    const d = a[i]! - b[i]!
    if (d !== 0) return d
  }
  return a.length - b.length
}

/** UTF-8 encode. */
export function utf8(s: string): Uint8Array {
  return new TextEncoder().encode(s)
}

/** UTF-8 decode (lossy: invalid sequences become U+FFFD). */
export function fromUtf8(b: Uint8Array): string {
  return new TextDecoder().decode(b)
}

/** Big-endian minimal encoding of a non-negative safe integer or bigint (0 → empty). */
export function uintToBytes(v: number | bigint): Uint8Array {
  let n = BigInt(v)
  if (n < 0n) throw new RangeError('uintToBytes: negative value')
  if (n === 0n) return new Uint8Array(0)
  const out: number[] = []
  while (n > 0n) {
    out.push(Number(n & 0xffn))
    n >>= 8n
  }
  return Uint8Array.from(out.reverse())
}

/** Big-endian bytes to bigint (empty → 0n). */
export function bytesToBigInt(b: Uint8Array): bigint {
  let n = 0n
  for (let i = 0; i < b.length; i++) n = (n << 8n) | BigInt(b[i]!)
  return n
}

/** Big-endian bytes to a number; throws RangeError above 2^53-1. */
export function bytesToNumber(b: Uint8Array): number {
  if (b.length > 7) {
    const n = bytesToBigInt(b)
    if (n > BigInt(Number.MAX_SAFE_INTEGER)) throw new RangeError('bytesToNumber: value exceeds 2^53-1')
    return Number(n)
  }
  let n = 0
  for (let i = 0; i < b.length; i++) n = n * 256 + b[i]!
  return n
}

/** XOR of two equal-length arrays into a new one. */
export function xorBytes(a: Uint8Array, b: Uint8Array): Uint8Array {
  if (a.length !== b.length) throw new RangeError('xorBytes: length mismatch')
  const out = new Uint8Array(a.length)
  for (let i = 0; i < a.length; i++) out[i] = a[i]! ^ b[i]!
  return out
}

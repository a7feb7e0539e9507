/** Randomness, injected: components take a {@link RandomSource}; tests pass a seeded one. */
import { randomBytes as nodeRandomBytes } from 'node:crypto'

export interface RandomSource {
  /** `n` random bytes. */
  bytes(n: number): Uint8Array
  /** A uniform integer in `[0, max)`. */
  int(max: number): number
}

/** Cryptographically secure randomness from `node:crypto`. */
export const secureRandom: RandomSource = {
  bytes: (n) => new Uint8Array(nodeRandomBytes(n)),
  int: (max) => {
    if (max <= 0) return 0
    const b = nodeRandomBytes(6)
    return Math.floor((b.readUIntBE(0, 6) / 2 ** 48) * max)
  },
}

/** A deterministic generator (xorshift128+) for tests and simulations. Not for keys in production. */
export function seededRandom(seed: number): RandomSource {
  let s0 = BigInt(seed >>> 0) | 1n
  let s1 = (BigInt(seed >>> 0) * 0x9e3779b97f4a7c15n) & 0xffffffffffffffffn
  if (s1 === 0n) s1 = 1n
  const next = (): bigint => {
    let x = s0
    const y = s1
    s0 = y
    x ^= (x << 23n) & 0xffffffffffffffffn
    x ^= x >> 17n
    x ^= y ^ (y >> 26n)
    s1 = x
    return (s0 + s1) & 0xffffffffffffffffn
  }
  return {
    bytes: (n) => {
      const out = new Uint8Array(n)
      for (let i = 0; i < n; i++) out[i] = Number(next() & 0xffn)
      return out
    },
    int: (max) => (max <= 0 ? 0 : Number(next() % BigInt(max))),
  }
}

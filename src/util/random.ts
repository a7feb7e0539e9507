/** Randomness, injected: components take a {@link RandomSource}; tests pass a seeded one. */
import { randomFillSync } from 'node:crypto'

export interface RandomSource {
  /** `n` random bytes. */
  bytes(n: number): Uint8Array
  /** A uniform integer in `[0, max)`. */
  int(max: number): number
}

/** Size of the pool {@link secureRandom} draws small requests from. */
export const RANDOM_POOL_SIZE = 4096
/** Requests above this many bytes bypass the pool (one `randomFillSync` of their own). */
const POOL_MAX_REQUEST = 256

/**
 * A pool of CSPRNG bytes (`randomFillSync` of {@link RANDOM_POOL_SIZE} bytes at a time): one
 * call into OpenSSL serves dozens of small requests (an RLPx handshake draws 6-8). Every byte
 * is handed out once: callers get copies, and the pool's bytes are zeroed as they are used, so
 * a key drawn from it does not linger in the pool.
 */
class RandomPool {
  private readonly buf = new Uint8Array(RANDOM_POOL_SIZE)
  /** Next unused byte; `buf.length` when the pool is empty (it starts empty: filled on first use). */
  private pos = RANDOM_POOL_SIZE

  /** Make at least `n` (≤ pool size) unused bytes available. */
  private reserve(n: number): void {
    if (this.buf.length - this.pos < n) {
      randomFillSync(this.buf)
      this.pos = 0
    }
  }

  bytes(n: number): Uint8Array {
    if (!Number.isSafeInteger(n) || n < 0) throw new RangeError(`random bytes: bad length ${n}`)
    if (n > POOL_MAX_REQUEST) return randomFillSync(new Uint8Array(n))
    this.reserve(n)
    const start = this.pos
    const end = start + n
    const out = this.buf.slice(start, end)
    this.buf.fill(0, start, end)
    this.pos = end
    return out
  }

  /** A uniform float in [0, 1) with 48 random bits. */
  unit48(): number {
    this.reserve(6)
    const b = this.buf
    const i = this.pos
    const hi = (b[i]! << 16) | (b[i + 1]! << 8) | b[i + 2]!
    const lo = (b[i + 3]! << 16) | (b[i + 4]! << 8) | b[i + 5]!
    b.fill(0, i, i + 6)
    this.pos = i + 6
    return (hi * 2 ** 24 + lo) / 2 ** 48
  }
}

const pool = new RandomPool()

/** Cryptographically secure randomness from `node:crypto`, drawn through a small pool. */
export const secureRandom: RandomSource = {
  bytes: (n) => pool.bytes(n),
  int: (max) => {
    if (max <= 0) return 0
    return Math.floor(pool.unit48() * max)
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

import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import { RANDOM_POOL_SIZE, secureRandom } from '../../../src/util/index.js'

describe('secureRandom (pooled)', () => {
  it('returns fresh arrays of the asked length, also across pool refills and above the pool size', () => {
    for (const n of [0, 1, 16, 32, 255, 256, 257, 1000, RANDOM_POOL_SIZE, RANDOM_POOL_SIZE + 1, 100_000]) {
      const b = secureRandom.bytes(n)
      assert.equal(b.length, n)
      assert.equal(Object.getPrototypeOf(b), Uint8Array.prototype)
      assert.equal(b.byteOffset, 0)
      assert.equal(b.buffer.byteLength, n, 'owns its buffer: never a view into the pool')
    }
  })
  it('never hands out the same bytes twice, and a caller mutating its copy changes nothing else', () => {
    // 32-byte draws across several pool refills: any repeat would be a reused pool slice.
    const seen = new Set<string>()
    const draws: Uint8Array[] = []
    for (let i = 0; i < (3 * RANDOM_POOL_SIZE) / 32 + 7; i++) {
      const b = secureRandom.bytes(32)
      const hex = Buffer.from(b).toString('hex')
      assert.ok(!seen.has(hex), 'a 32-byte draw repeated')
      seen.add(hex)
      draws.push(b)
    }
    const before = draws.map((d) => d.slice())
    for (const d of draws) d.fill(0xaa)
    const next = secureRandom.bytes(64)
    assert.ok(!next.every((x) => x === 0xaa))
    draws.forEach((d, i) => {
      d.set(before[i]!)
    })
    assert.ok(draws.every((d, i) => d.every((x, j) => x === before[i]![j])))
  })
  it('interleaved sizes and int() calls stay distinct and in range (property)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.oneof(fc.integer({ min: 1, max: 300 }), fc.integer({ min: -5, max: 0 })), {
          maxLength: 60,
        }),
        (ops) => {
          const seen = new Set<string>()
          for (const op of ops) {
            if (op > 0) {
              const b = secureRandom.bytes(op)
              assert.equal(b.length, op)
              if (op >= 16) {
                const hex = Buffer.from(b).toString('hex')
                assert.ok(!seen.has(hex))
                seen.add(hex)
              }
            } else {
              const max = 1 - op * 1000
              const v = secureRandom.int(max)
              assert.ok(Number.isInteger(v) && v >= 0 && v < max)
            }
          }
        },
      ),
    )
  })
  it('int() is uniform enough and handles max <= 0', () => {
    assert.equal(secureRandom.int(0), 0)
    assert.equal(secureRandom.int(-3), 0)
    assert.equal(secureRandom.int(1), 0)
    const counts = new Array<number>(10).fill(0)
    for (let i = 0; i < 20_000; i++) counts[secureRandom.int(10)]!++
    for (const c of counts) assert.ok(c > 1600 && c < 2400, `bucket count ${c}`)
  })
  it('bytes are not constant and look random (bit balance)', () => {
    const b = secureRandom.bytes(4096)
    let ones = 0
    for (const x of b) for (let i = 0; i < 8; i++) ones += (x >> i) & 1
    assert.ok(ones > 16384 - 600 && ones < 16384 + 600, `ones: ${ones}`)
  })
  it('rejects bad lengths', () => {
    assert.throws(() => secureRandom.bytes(-1), RangeError)
    assert.throws(() => secureRandom.bytes(1.5), RangeError)
  })
})

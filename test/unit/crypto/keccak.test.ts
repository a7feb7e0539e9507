import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { keccak_256 } from '@noble/hashes/sha3.js'
import fc from 'fast-check'
import { KeccakState, keccak256 } from '../../../src/crypto/index.js'
import { concatBytes, toHex, utf8 } from '../../../src/util/index.js'

describe('keccak256', () => {
  it('matches known answers', () => {
    assert.equal(toHex(keccak256()), 'c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470')
    assert.equal(
      toHex(keccak256(new Uint8Array(0))),
      'c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470',
    )
    assert.equal(
      toHex(keccak256(utf8('abc'))),
      '4e03657aea45a94fc7d47ba826c8d667c0d1e6e33a64a036ec44f58fa12d6c45',
    )
    // 1,000,000 x 'a' (Keccak team's long-message answer for the original Keccak-256)
    const long = new Uint8Array(1_000_000).fill(0x61)
    assert.equal(toHex(keccak256(long)), 'fadae6b49f129bbb812be8407b7b2894f34aecf6dbd1f9b0f0c7e9853098fc96')
  })
  it('hashes the concatenation of its parts and returns a plain Uint8Array', () => {
    const h = keccak256(utf8('a'), utf8('b'), new Uint8Array(0), utf8('c'))
    assert.deepEqual(h, keccak256(utf8('abc')))
    assert.equal(Object.getPrototypeOf(h), Uint8Array.prototype)
  })
  it('agrees with @noble/hashes on random inputs', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 600 }), (b) => {
        assert.deepEqual(keccak256(b), keccak_256(b))
      }),
    )
  })
  it('rejects non-bytes', () => {
    assert.throws(() => keccak256('abc' as unknown as Uint8Array), TypeError)
  })
})

describe('KeccakState', () => {
  it('starts as the empty hash and digest() is stable', () => {
    const s = new KeccakState()
    assert.deepEqual(s.digest(), keccak256())
    assert.deepEqual(s.digest(), keccak256())
    s.update(utf8('abc'))
    const d1 = s.digest()
    const d2 = s.digest()
    assert.deepEqual(d1, d2)
    assert.deepEqual(d1, keccak256(utf8('abc')))
  })
  it('running digest equals one-shot over the concatenation, with interleaved states', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.integer({ min: 0, max: 2 }), fc.uint8Array({ maxLength: 300 }), fc.boolean()), {
          maxLength: 30,
        }),
        (ops) => {
          const states = [new KeccakState(), new KeccakState(), new KeccakState()]
          const data: Uint8Array[][] = [[], [], []]
          for (const [i, chunk, check] of ops) {
            states[i]!.update(chunk)
            data[i]!.push(chunk)
            // one-shot hashing in between must not disturb the running states
            if (check) assert.deepEqual(states[i]!.digest(), keccak256(concatBytes(...data[i]!)))
          }
          for (let i = 0; i < 3; i++) assert.deepEqual(states[i]!.digest(), keccak256(...data[i]!))
        },
      ),
    )
  })
  it('clone() forks an independent copy', () => {
    const a = new KeccakState().update(utf8('hello '))
    const b = a.clone()
    a.update(utf8('world'))
    b.update(utf8('there'))
    assert.deepEqual(a.digest(), keccak256(utf8('hello world')))
    assert.deepEqual(b.digest(), keccak256(utf8('hello there')))
    const c = a.clone()
    assert.deepEqual(c.digest(), a.digest())
    c.update(utf8('!'))
    assert.deepEqual(a.digest(), keccak256(utf8('hello world')))
    assert.deepEqual(c.digest(), keccak256(utf8('hello world!')))
  })
  it('handles inputs larger than the WASM buffer', () => {
    const big = new Uint8Array(100_000).map((_, i) => i & 0xff)
    const s = new KeccakState().update(big.subarray(0, 40_000))
    s.digest()
    s.update(big.subarray(40_000))
    assert.deepEqual(s.digest(), keccak_256(big))
  })
  it('rejects non-bytes', () => {
    assert.throws(() => new KeccakState().update([1, 2] as unknown as Uint8Array), TypeError)
  })
})

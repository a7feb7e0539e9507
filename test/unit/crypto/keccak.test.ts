import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { keccak_256 } from '@noble/hashes/sha3.js'
import fc from 'fast-check'
import { KECCAK_STATE_BYTES, KeccakState, keccak256, keccakStatePair } from '../../../src/crypto/index.js'
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

describe('KeccakState: the WebAssembly sponge against @noble/hashes', () => {
  const RATE = 136
  const bytes = (n: number, seed = 1): Uint8Array =>
    new Uint8Array(n).map((_, i) => (i * 31 + seed * 7 + (i >> 8)) & 0xff)

  it('matches known answers', () => {
    assert.equal(
      toHex(new KeccakState().digest()),
      'c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470',
    )
    assert.equal(
      toHex(new KeccakState().update(utf8('abc')).digest()),
      '4e03657aea45a94fc7d47ba826c8d667c0d1e6e33a64a036ec44f58fa12d6c45',
    )
    const s = new KeccakState()
    const chunk = new Uint8Array(1000).fill(0x61)
    for (let i = 0; i < 1000; i++) s.update(chunk)
    assert.equal(toHex(s.digest()), 'fadae6b49f129bbb812be8407b7b2894f34aecf6dbd1f9b0f0c7e9853098fc96')
  })
  it('digests every length around the block boundaries, fed byte by byte and at once', () => {
    const data = bytes(3 * RATE + 2)
    const byByte = new KeccakState()
    for (let n = 0; n <= data.length; n++) {
      const want = keccak_256(data.subarray(0, n))
      assert.deepEqual(byByte.digest(), want, `byte by byte, length ${n}`)
      assert.deepEqual(new KeccakState().update(data.subarray(0, n)).digest(), want, `at once, length ${n}`)
      if (n < data.length) byByte.update(data.subarray(n, n + 1))
    }
  })
  it('absorbs views at any offset and inputs larger than its 64 KiB window', () => {
    const big = bytes(300_000, 3)
    const s = new KeccakState()
    s.update(big.subarray(1, 70_001)) // odd offset, crosses the window
    assert.deepEqual(s.digest(), keccak_256(big.subarray(1, 70_001)))
    s.update(big.subarray(70_001, 70_050)).update(big.subarray(70_050))
    assert.deepEqual(s.digest(), keccak_256(big.subarray(1)))
  })
  it('running digests equal one-shot hashes for random chunkings (property)', () => {
    const size = fc.oneof(
      fc.constantFrom(0, 1, 15, 16, 17, RATE - 1, RATE, RATE + 1, 2 * RATE, 2 * RATE + 16),
      fc.integer({ min: 0, max: 600 }),
      fc.integer({ min: 60_000, max: 140_000 }),
    )
    fc.assert(
      fc.property(fc.array(fc.tuple(size, fc.boolean()), { maxLength: 12 }), fc.nat(255), (ops, seed) => {
        const s = new KeccakState()
        const seen: Uint8Array[] = []
        for (const [n, check] of ops) {
          const chunk = bytes(n, seed + seen.length)
          s.update(chunk)
          seen.push(chunk)
          if (check) assert.deepEqual(s.digest(), keccak_256(concatBytes(...seen)))
        }
        assert.deepEqual(s.digest(), keccak_256(concatBytes(...seen)))
      }),
      { numRuns: 60 },
    )
  })
  it('the MAC pattern (16-byte updates, a digest after each) over many interleaved states', () => {
    const states = Array.from({ length: 5 }, () => new KeccakState())
    const logs: Uint8Array[][] = states.map(() => [])
    for (let i = 0; i < 400; i++) {
      const k = (i * 7) % 5
      const seed = bytes(16, i)
      states[k]!.update(seed)
      logs[k]!.push(seed)
      // A one-shot hash in between must not disturb the running states.
      keccak256(seed)
      assert.deepEqual(states[k]!.digest(), keccak_256(concatBytes(...logs[k]!)))
    }
  })
  it('a repeated digest (nothing absorbed in between) is the same; any absorbed byte changes it', () => {
    const s = new KeccakState().update(bytes(150))
    const d1 = s.digest()
    assert.deepEqual(s.update(new Uint8Array(0)).digest(), d1)
    assert.deepEqual(s.clone().digest(), d1)
    s.update(Uint8Array.of(0))
    assert.deepEqual(s.digest(), keccak_256(concatBytes(bytes(150), Uint8Array.of(0))))
    const c = s.clone()
    c.update(bytes(RATE))
    assert.deepEqual(c.digest(), keccak_256(concatBytes(bytes(150), Uint8Array.of(0), bytes(RATE))))
    assert.deepEqual(s.digest(), keccak_256(concatBytes(bytes(150), Uint8Array.of(0))))
  })
  it('digest() returns a fresh array and leaves the state open; clone() copies the partial block', () => {
    const s = new KeccakState().update(bytes(200))
    const d = s.digest()
    d.fill(0)
    assert.deepEqual(s.digest(), keccak_256(bytes(200)))
    const c = s.clone()
    s.update(utf8('x'))
    c.update(utf8('y'))
    assert.deepEqual(s.digest(), keccak_256(concatBytes(bytes(200), utf8('x'))))
    assert.deepEqual(c.digest(), keccak_256(concatBytes(bytes(200), utf8('y'))))
  })
})

describe('KeccakState.digestInto', () => {
  it('writes the running digest (as digest() returns it) into the first 32 bytes, repeatedly', () => {
    const s = new KeccakState()
    const out = new Uint8Array(40).fill(9)
    for (const chunk of [new Uint8Array(0), new Uint8Array(16).fill(1), new Uint8Array(200).fill(2)]) {
      s.update(chunk)
      s.digestInto(out)
      assert.deepEqual(out.subarray(0, 32), s.digest())
      s.digestInto(out) // twice on an unchanged state: the cached digest
      assert.deepEqual(out.subarray(0, 32), s.digest())
      assert.deepEqual(out.subarray(32), new Uint8Array(8).fill(9))
    }
    assert.throws(() => s.digestInto(new Uint8Array(31)), RangeError)
  })
})

describe('KeccakState storage', () => {
  it('states at offsets of one array shared with other data stay independent, leave the rest alone, and clone into storage (property)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.integer({ min: 0, max: 1 }), fc.uint8Array({ maxLength: 400 })), {
          maxLength: 25,
        }),
        (ops) => {
          // [3 bytes of other data | state | 5 bytes | state | 7 bytes]
          const at = [3, 3 + KECCAK_STATE_BYTES + 5]
          const store = new Uint8Array(at[1]! + KECCAK_STATE_BYTES + 7).fill(0xee)
          const states = [new KeccakState(store, at[0]), new KeccakState(store, at[1])]
          const data: Uint8Array[][] = [[], []]
          for (const [i, chunk] of ops) {
            states[i]!.update(chunk)
            data[i]!.push(chunk)
            assert.deepEqual(states[i]!.digest(), keccak256(...data[i]!))
          }
          assert.deepEqual(store.subarray(0, 3), new Uint8Array(3).fill(0xee))
          assert.deepEqual(store.subarray(at[0]! + KECCAK_STATE_BYTES, at[1]), new Uint8Array(5).fill(0xee))
          assert.deepEqual(store.subarray(at[1]! + KECCAK_STATE_BYTES), new Uint8Array(7).fill(0xee))
          // A clone into another shared array continues as the original does.
          const other = new Uint8Array(KECCAK_STATE_BYTES + 10).fill(0x11)
          const c = states[0]!.clone(other, 10)
          c.update(utf8('more'))
          states[0]!.update(utf8('more'))
          assert.deepEqual(c.digest(), states[0]!.digest())
          assert.deepEqual(other.subarray(0, 10), new Uint8Array(10).fill(0x11))
        },
      ),
      { numRuns: 100 },
    )
  })
  it('rejects storage that cannot hold a state at the offset', () => {
    assert.throws(() => new KeccakState(new Uint8Array(KECCAK_STATE_BYTES - 1)), RangeError)
    assert.throws(() => new KeccakState(new Uint8Array(KECCAK_STATE_BYTES + 4), 5), RangeError)
    assert.throws(() => new KeccakState(new Uint8Array(KECCAK_STATE_BYTES + 4), -1), RangeError)
    assert.throws(() => new KeccakState(new Uint8Array(KECCAK_STATE_BYTES + 4), 1.5), RangeError)
    assert.doesNotThrow(() => new KeccakState(new Uint8Array(KECCAK_STATE_BYTES + 4), 4))
  })
  it('two states sharing one buffer (keccakStatePair) stay independent and equal fresh ones', () => {
    const [a, b] = keccakStatePair()
    const fa = new KeccakState()
    const fb = new KeccakState()
    for (let i = 0; i < 20; i++) {
      const x = new Uint8Array(i * 13).fill(i)
      const y = new Uint8Array(150 - i).fill(255 - i)
      a.update(x)
      fa.update(x)
      b.update(y)
      fb.update(y)
      assert.deepEqual(a.digest(), fa.digest())
      assert.deepEqual(b.digest(), fb.digest())
    }
  })
  it('takes storage of exactly KECCAK_STATE_BYTES and zeroes it', () => {
    const store = new Uint8Array(KECCAK_STATE_BYTES).fill(7)
    assert.deepEqual(new KeccakState(store).digest(), new KeccakState().digest())
    assert.throws(() => new KeccakState(new Uint8Array(KECCAK_STATE_BYTES - 1)), RangeError)
  })
})

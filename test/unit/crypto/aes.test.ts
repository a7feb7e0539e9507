import assert from 'node:assert/strict'
import { createCipheriv } from 'node:crypto'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import {
  AES256_SCHEDULE_WORDS,
  aes128CtrXor,
  aesEcbEncryptBlockInto,
  aesEcbKeySchedule,
  createAesCtr,
  createAesCtrAt,
  createAesEcb,
  ReleasableAesCtr,
} from '../../../src/crypto/index.js'
import { concatBytes, fromHex, toHex } from '../../../src/util/index.js'

describe('AES', () => {
  it('AES-128-CTR matches NIST SP 800-38A F.5.1', () => {
    const key = fromHex('2b7e151628aed2a6abf7158809cf4f3c')
    const iv = fromHex('f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff')
    const pt = fromHex('6bc1bee22e409f96e93d7e117393172aae2d8a571e03ac9c9eb76fac45af8e51')
    const ct = '874d6191b620e3261bef6864990db6ce9806f66b7970fdff8617187bb9fffdff'
    assert.equal(toHex(aes128CtrXor(key, iv, pt)), ct)
    assert.equal(toHex(createAesCtr(key, iv).update(pt)), ct)
    assert.deepEqual(aes128CtrXor(key, iv, fromHex(ct)), pt)
  })
  it('AES-256-CTR matches NIST SP 800-38A F.5.5', () => {
    const key = fromHex('603deb1015ca71be2b73aef0857d77811f352c073b6108d72d9810a30914dff4')
    const iv = fromHex('f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff')
    const pt = fromHex('6bc1bee22e409f96e93d7e117393172a')
    assert.equal(toHex(createAesCtr(key, iv).update(pt)), '601ec313775789a5b7a7f504bbf3d228')
  })
  it('streaming CTR equals one-shot over any split (property)', () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 70 }), { maxLength: 10 }), (chunks) => {
        const key = new Uint8Array(32).fill(3)
        const iv = new Uint8Array(16)
        const s = createAesCtr(key, iv)
        const streamed = concatBytes(...chunks.map((c) => s.update(c)))
        assert.deepEqual(streamed, createAesCtr(key, iv).update(concatBytes(...chunks)))
      }),
    )
  })
  it('AES-256-ECB single block matches FIPS-197 C.3, and the cipher is reusable', () => {
    const ecb = createAesEcb(fromHex('000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f'))
    const pt = fromHex('00112233445566778899aabbccddeeff')
    assert.equal(toHex(ecb.encryptBlock(pt)), '8ea2b7ca516745bfeafc49904b496089')
    assert.equal(toHex(ecb.encryptBlock(pt)), '8ea2b7ca516745bfeafc49904b496089')
    const out = ecb.encryptBlock(pt)
    assert.equal(Object.getPrototypeOf(out), Uint8Array.prototype)
  })
  it('AES-256-ECB agrees with OpenSSL (node:crypto) on random keys and blocks, at any offset (property)', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 32, maxLength: 32 }),
        fc.uint8Array({ minLength: 16, maxLength: 16 }),
        fc.nat(7),
        (key, block, offset) => {
          const openssl = createCipheriv('aes-256-ecb', key, null)
          openssl.setAutoPadding(false)
          const want = new Uint8Array(openssl.update(block))
          // The block as a view at an odd offset of a larger buffer, as the MAC passes digests.
          const holder = new Uint8Array(offset + 16 + 3)
          holder.set(block, offset)
          const view = holder.subarray(offset, offset + 16)
          assert.deepEqual(createAesEcb(key).encryptBlock(view), want)
          assert.deepEqual(view, block, 'the input is left as it was')
        },
      ),
      { numRuns: 300 },
    )
  })
  it('checks lengths', () => {
    assert.throws(() => aes128CtrXor(new Uint8Array(32), new Uint8Array(16), new Uint8Array(1)), RangeError)
    assert.throws(() => createAesCtr(new Uint8Array(24), new Uint8Array(16)), RangeError)
    assert.throws(() => createAesCtr(new Uint8Array(16), new Uint8Array(12)), RangeError)
    assert.throws(() => createAesEcb(new Uint8Array(16)), RangeError)
    assert.throws(() => createAesEcb(new Uint8Array(32)).encryptBlock(new Uint8Array(32)), RangeError)
  })
})

describe('AES-256-ECB encryptBlockInto', () => {
  it('equals encryptBlock, reads only the first 16 bytes, and may work in place', () => {
    const ecb = createAesEcb(fromHex('000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f'))
    const input = concatBytes(fromHex('00112233445566778899aabbccddeeff'), new Uint8Array(16).fill(7))
    const out = new Uint8Array(16)
    ecb.encryptBlockInto(input, out)
    assert.equal(toHex(out), '8ea2b7ca516745bfeafc49904b496089')
    ecb.encryptBlockInto(input, input)
    assert.equal(toHex(input.subarray(0, 16)), '8ea2b7ca516745bfeafc49904b496089')
    assert.deepEqual(input.subarray(16), new Uint8Array(16).fill(7))
    assert.throws(() => ecb.encryptBlockInto(new Uint8Array(15), out), RangeError)
  })
})

describe('AES-256-ECB from a key schedule kept by the caller', () => {
  it('aesEcbKeySchedule into a view of a larger buffer, then aesEcbEncryptBlockInto, equals createAesEcb and OpenSSL (property)', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 32, maxLength: 32 }),
        fc.uint8Array({ minLength: 16, maxLength: 16 }),
        (key, block) => {
          const store = new Uint8Array(8 + 4 * AES256_SCHEDULE_WORDS + 8).fill(0xaa)
          const xk = aesEcbKeySchedule(key, new Uint32Array(store.buffer, 8, AES256_SCHEDULE_WORDS))
          assert.equal(xk.buffer, store.buffer, 'written into the given view')
          assert.deepEqual(store.subarray(0, 8), new Uint8Array(8).fill(0xaa), 'nothing before the view')
          assert.deepEqual(store.subarray(store.length - 8), new Uint8Array(8).fill(0xaa), 'nothing after it')
          const out = new Uint8Array(16)
          aesEcbEncryptBlockInto(xk, block, out)
          assert.deepEqual(out, createAesEcb(key).encryptBlock(block))
          const c = createCipheriv('aes-256-ecb', key, null).setAutoPadding(false)
          assert.deepEqual(out, new Uint8Array(c.update(block)))
        },
      ),
      { numRuns: 50 },
    )
  })
  it('checks the schedule array it writes into', () => {
    const key = new Uint8Array(32)
    assert.throws(() => aesEcbKeySchedule(key, new Uint32Array(59)), RangeError)
    assert.throws(() => aesEcbKeySchedule(new Uint8Array(16), new Uint32Array(60)), RangeError)
    assert.equal(aesEcbKeySchedule(key).length, AES256_SCHEDULE_WORDS)
  })
})

/** Initial counter blocks: zero, and counters about to carry across bytes and across the 64-bit halves. */
const CARRY_IVS = [
  new Uint8Array(16),
  Uint8Array.from([...new Array(15).fill(0), 0xf0]),
  Uint8Array.from([...new Array(8).fill(0), ...new Array(8).fill(0xff)]),
  new Uint8Array(16).fill(0xff),
]

describe('createAesCtrAt', () => {
  it('continues the stream of (key, iv) after n blocks, across counter carries (property)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 600 }), fc.constantFrom(...CARRY_IVS), (n, iv) => {
        const key = new Uint8Array(32).fill(9)
        const whole = createAesCtr(key, iv).update(new Uint8Array((n + 3) * 16))
        const tail = createAesCtrAt(key, iv, n).update(new Uint8Array(3 * 16))
        assert.deepEqual(tail, whole.subarray(n * 16))
      }),
      { numRuns: 100 },
    )
  })
  it('rejects a negative or fractional block count', () => {
    const key = new Uint8Array(32)
    const iv = new Uint8Array(16)
    assert.throws(() => createAesCtrAt(key, iv, -1), RangeError)
    assert.throws(() => createAesCtrAt(key, iv, 1.5), RangeError)
  })
})

describe('ReleasableAesCtr', () => {
  it('equals one continuous OpenSSL CTR stream across random releases and block splits (property)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.integer({ min: 0, max: 40 }), fc.boolean()), { minLength: 1, maxLength: 20 }),
        fc.constantFrom(...CARRY_IVS),
        (steps, iv) => {
          const key = new Uint8Array(32).fill(5)
          const continuous = createAesCtr(key, iv)
          const releasable = new ReleasableAesCtr(key, iv)
          for (const [blocks, release] of steps) {
            const data = new Uint8Array(blocks * 16).fill(blocks)
            assert.deepEqual(releasable.update(data), continuous.update(data))
            if (release) {
              releasable.release()
              assert.equal(releasable.holdsContext, false)
            }
          }
        },
      ),
      { numRuns: 200 },
    )
  })
  it('takes whole blocks only, and checks its key and IV', () => {
    const s = new ReleasableAesCtr(new Uint8Array(32), new Uint8Array(16))
    assert.throws(() => s.update(new Uint8Array(15)), RangeError)
    assert.throws(() => new ReleasableAesCtr(new Uint8Array(24), new Uint8Array(16)), RangeError)
    assert.throws(() => new ReleasableAesCtr(new Uint8Array(32), new Uint8Array(8)), RangeError)
  })
})

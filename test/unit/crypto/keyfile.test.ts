import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import { formatNodeKey, generatePrivateKey, parseNodeKey } from '../../../src/crypto/index.js'
import { DecodeError, toHex } from '../../../src/util/index.js'

describe('node key files', () => {
  it('round trips and tolerates 0x and surrounding whitespace', () => {
    const k = generatePrivateKey()
    assert.deepEqual(parseNodeKey(formatNodeKey(k)), k)
    assert.deepEqual(parseNodeKey(`  0x${toHex(k).toUpperCase()}\n`), k)
    assert.equal(formatNodeKey(k).length, 64)
  })
  it('rejects wrong lengths, bad hex and invalid scalars', () => {
    assert.throws(() => parseNodeKey('ab'.repeat(31)), DecodeError)
    assert.throws(() => parseNodeKey('zz'.repeat(32)), DecodeError)
    assert.throws(() => parseNodeKey('00'.repeat(32)), /not a valid secp256k1 private key/)
    assert.throws(() => parseNodeKey('ff'.repeat(32)), /not a valid secp256k1 private key/)
    assert.throws(() => parseNodeKey(`${'ab'.repeat(32)}\n${'ab'.repeat(32)}`), DecodeError)
    assert.throws(() => parseNodeKey(' '.repeat(2000)), /too large/)
    assert.throws(() => formatNodeKey(new Uint8Array(32)), RangeError)
  })
  it('random text never throws anything but DecodeError', () => {
    fc.assert(
      fc.property(
        fc.oneof(fc.string({ maxLength: 80 }), fc.stringMatching(/^[0-9a-fxX \n]{60,70}$/)),
        (t) => {
          try {
            const k = parseNodeKey(t)
            assert.equal(k.length, 32)
          } catch (e) {
            assert.ok(e instanceof DecodeError, String(e))
          }
        },
      ),
      { numRuns: 2000 },
    )
  })
})

import assert from 'node:assert/strict'
import { after, describe, it } from 'node:test'
import fc from 'fast-check'
import {
  compressPublicKey,
  decompressPublicKey,
  ecdh,
  generatePrivateKey,
  getNativeSecp256k1Error,
  getSecp256k1Backend,
  isValidPrivateKey,
  isValidPublicKey,
  publicKeyFromPrivate,
  recoverPublicKey,
  type Secp256k1BackendName,
  setSecp256k1Backend,
  sign,
  verify,
} from '../../../src/crypto/index.js'
import { bytesToBigInt, DecodeError, fromHex, seededRandom, toHex } from '../../../src/util/index.js'
import { loadVectors } from '../../helpers/vectors.js'

const N = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n
const nativeError = getNativeSecp256k1Error()
const initial = getSecp256k1Backend()
const BACKENDS: Secp256k1BackendName[] = ['native', 'noble']
after(() => setSecp256k1Backend(initial))

interface KeypairVector {
  keypair: { private_key: string; expected_public_key: string }[]
}
const vectors = loadVectors<KeypairVector>('rlpx-ecies.json')

const arbPriv = fc
  .uint8Array({ minLength: 32, maxLength: 32 })
  .filter((k) => bytesToBigInt(k) > 0n && bytesToBigInt(k) < N)
const arbDigest = fc.uint8Array({ minLength: 32, maxLength: 32 })

function bigTo32(n: bigint): Uint8Array {
  return fromHex(n.toString(16).padStart(64, '0'))
}

/** Run `fn` with the backend switched to `name`, then switch back. */
function withBackend<T>(name: Secp256k1BackendName, fn: () => T): T {
  const prev = getSecp256k1Backend()
  setSecp256k1Backend(name)
  try {
    return fn()
  } finally {
    setSecp256k1Backend(prev)
  }
}

function isDecodeErrorOr<T>(fn: () => T, ok: (v: T) => void): void {
  let v: T
  try {
    v = fn()
  } catch (e) {
    assert.ok(e instanceof DecodeError, `expected DecodeError, got ${String(e)}`)
    return
  }
  ok(v)
}

describe('secp256k1 backend selection', () => {
  it('uses native by default when it loads, unless DEVP2P_CRYPTO=noble', () => {
    if (process.env['DEVP2P_CRYPTO'] === 'noble') assert.equal(initial, 'noble')
    else assert.equal(initial, nativeError === undefined ? 'native' : 'noble')
  })
  it('switches backends', () => {
    setSecp256k1Backend('noble')
    assert.equal(getSecp256k1Backend(), 'noble')
    if (nativeError === undefined) {
      setSecp256k1Backend('native')
      assert.equal(getSecp256k1Backend(), 'native')
    } else assert.throws(() => setSecp256k1Backend('native'))
    setSecp256k1Backend(initial)
  })
  it('native backend loads on this machine (prebuilt bindings)', { skip: nativeError?.message }, () => {
    assert.equal(nativeError, undefined)
  })
})

for (const name of BACKENDS) {
  describe(`secp256k1 (${name})`, { skip: name === 'native' ? nativeError?.message : undefined }, () => {
    const run = <T>(fn: () => T): T => withBackend(name, fn)

    it('derives the vector public key', () => {
      run(() => {
        for (const v of vectors.keypair) {
          assert.equal(toHex(publicKeyFromPrivate(fromHex(v.private_key))), v.expected_public_key)
        }
      })
    })
    it('sign → recover → verify round trip (property)', () => {
      run(() =>
        fc.assert(
          fc.property(arbPriv, arbDigest, (priv, digest) => {
            const pub = publicKeyFromPrivate(priv)
            const sig = sign(digest, priv)
            assert.equal(sig.length, 65)
            assert.ok(sig[64] === 0 || sig[64] === 1)
            assert.ok(bytesToBigInt(sig.subarray(32, 64)) <= N / 2n, 'low-S')
            assert.deepEqual(recoverPublicKey(digest, sig), pub)
            assert.ok(verify(digest, sig, pub))
            assert.ok(verify(digest, sig.subarray(0, 64), pub))
            const other = digest.slice()
            other[0]! ^= 1
            assert.ok(!verify(other, sig, pub))
          }),
          { numRuns: 60 },
        ),
      )
    })
    it('rejects high-S in verify but recovers it (as geth)', () => {
      run(() =>
        fc.assert(
          fc.property(arbPriv, arbDigest, (priv, digest) => {
            const pub = publicKeyFromPrivate(priv)
            const sig = sign(digest, priv)
            const high = sig.slice()
            high.set(bigTo32(N - bytesToBigInt(sig.subarray(32, 64))), 32)
            high[64] = sig[64]! ^ 1
            assert.equal(verify(digest, high, pub), false)
            assert.deepEqual(recoverPublicKey(digest, high), pub)
          }),
          { numRuns: 20 },
        ),
      )
    })
    it('ECDH agrees both ways and compress/decompress round trip', () => {
      run(() =>
        fc.assert(
          fc.property(arbPriv, arbPriv, (a, b) => {
            const pa = publicKeyFromPrivate(a)
            const pb = publicKeyFromPrivate(b)
            const s = ecdh(a, pb)
            assert.equal(s.length, 32)
            assert.deepEqual(s, ecdh(b, pa))
            const c = compressPublicKey(pa)
            assert.equal(c.length, 33)
            assert.deepEqual(decompressPublicKey(c), pa)
            assert.deepEqual(decompressPublicKey(pa), pa)
            const p65 = new Uint8Array(65)
            p65[0] = 4
            p65.set(pa, 1)
            assert.deepEqual(decompressPublicKey(p65), pa)
            assert.ok(isValidPublicKey(pa))
          }),
          { numRuns: 30 },
        ),
      )
    })
    it('generates valid keys, deterministic from a seeded source', () => {
      run(() => {
        const k = generatePrivateKey()
        assert.equal(k.length, 32)
        assert.ok(isValidPrivateKey(k))
        assert.deepEqual(generatePrivateKey(seededRandom(7)), generatePrivateKey(seededRandom(7)))
        assert.throws(() => generatePrivateKey({ bytes: (n) => new Uint8Array(n), int: () => 0 }), Error)
        // keys with leading zero bytes survive (Node's ECDH drops them)
        const lead = new Uint8Array(32)
        lead[31] = 5
        assert.equal(publicKeyFromPrivate(lead).length, 64)
        assert.deepEqual(ecdh(lead, publicKeyFromPrivate(lead)).length, 32)
      })
    })
    it('random bytes never crash recover/ecdh/decompress (DecodeError or a valid result)', () => {
      run(() => {
        const priv = generatePrivateKey(seededRandom(1))
        fc.assert(
          fc.property(arbDigest, fc.uint8Array({ minLength: 65, maxLength: 65 }), fc.nat(3), (d, sig, v) => {
            sig[64] = v % 2 === 0 ? v : sig[64]!
            isDecodeErrorOr(
              () => recoverPublicKey(d, sig),
              (pub) => assert.ok(isValidPublicKey(pub)),
            )
          }),
          { numRuns: 100 },
        )
        fc.assert(
          fc.property(fc.uint8Array({ minLength: 64, maxLength: 64 }), (pub) => {
            isDecodeErrorOr(
              () => ecdh(priv, pub),
              (s) => assert.equal(s.length, 32),
            )
            assert.equal(verify(new Uint8Array(32), new Uint8Array(64).fill(1), pub), false)
          }),
          { numRuns: 100 },
        )
        fc.assert(
          fc.property(
            fc.oneof(
              fc.uint8Array({ maxLength: 70 }),
              fc
                .tuple(fc.constantFrom(2, 3, 4, 6, 7), fc.uint8Array({ minLength: 32, maxLength: 64 }))
                .map(([p, b]) => Uint8Array.of(p, ...b)),
            ),
            (pub) =>
              isDecodeErrorOr(
                () => decompressPublicKey(pub),
                (p) => assert.ok(isValidPublicKey(p)),
              ),
          ),
          { numRuns: 300 },
        )
      })
    })
    it('rejects malformed points and signatures with DecodeError', () => {
      run(() => {
        const priv = generatePrivateKey(seededRandom(2))
        const pub = publicKeyFromPrivate(priv)
        const offCurve = pub.slice()
        offCurve[63]! ^= 1
        assert.equal(isValidPublicKey(offCurve), false)
        assert.throws(() => ecdh(priv, offCurve), DecodeError)
        assert.throws(() => ecdh(priv, new Uint8Array(64)), DecodeError)
        assert.throws(() => compressPublicKey(offCurve), DecodeError)
        assert.throws(() => decompressPublicKey(offCurve), DecodeError)
        assert.equal(verify(new Uint8Array(32), sign(new Uint8Array(32), priv), offCurve), false)
        const sig = sign(new Uint8Array(32), priv)
        const badV = sig.slice()
        badV[64] = 4
        assert.throws(() => recoverPublicKey(new Uint8Array(32), badV), DecodeError)
        badV[64] = 27
        assert.throws(() => recoverPublicKey(new Uint8Array(32), badV), DecodeError)
        const zero = new Uint8Array(65)
        assert.throws(() => recoverPublicKey(new Uint8Array(32), zero), DecodeError)
        const overflow = sig.slice()
        overflow.set(bigTo32(N), 32) // s = n
        assert.throws(() => recoverPublicKey(new Uint8Array(32), overflow), DecodeError)
        assert.equal(verify(new Uint8Array(32), overflow, pub), false)
        const hybrid = new Uint8Array(65)
        hybrid[0] = pub[63]! & 1 ? 7 : 6 // libsecp256k1 would parse this "hybrid" form
        hybrid.set(pub, 1)
        assert.throws(() => decompressPublicKey(hybrid), DecodeError)
      })
    })
    it('checks argument types and lengths', () => {
      run(() => {
        const priv = generatePrivateKey(seededRandom(3))
        const pub = publicKeyFromPrivate(priv)
        const d = new Uint8Array(32)
        assert.throws(() => sign(new Uint8Array(31), priv), RangeError)
        assert.throws(() => sign(d, new Uint8Array(33)), RangeError)
        assert.throws(() => sign(d, new Uint8Array(32)), RangeError) // zero key
        assert.throws(() => sign(d, bigTo32(N)), RangeError)
        assert.throws(() => sign('x' as unknown as Uint8Array, priv), TypeError)
        assert.throws(() => publicKeyFromPrivate(new Uint8Array(32)), RangeError)
        assert.throws(() => recoverPublicKey(d, new Uint8Array(64)), RangeError)
        assert.throws(() => verify(d, new Uint8Array(63), pub), RangeError)
        assert.throws(() => verify(d, new Uint8Array(64), pub.subarray(1)), RangeError)
        assert.throws(() => ecdh(priv, new Uint8Array(65)), RangeError)
        assert.throws(() => compressPublicKey(new Uint8Array(33)), RangeError)
        assert.throws(() => decompressPublicKey(null as unknown as Uint8Array), TypeError)
        assert.equal(isValidPrivateKey(new Uint8Array(32)), false)
        assert.equal(isValidPrivateKey(bigTo32(N)), false)
        assert.equal(isValidPrivateKey(bigTo32(N - 1n)), true)
        assert.equal(isValidPrivateKey(new Uint8Array(31).fill(1)), false)
        assert.equal(isValidPublicKey(new Uint8Array(65)), false)
      })
    })
  })
}

describe('secp256k1 across backends', { skip: nativeError?.message }, () => {
  it('signs identically and recovers/verifies/agrees across backends', () => {
    fc.assert(
      fc.property(arbPriv, arbPriv, arbDigest, (a, b, digest) => {
        const sigN = withBackend('native', () => sign(digest, a))
        const sigJ = withBackend('noble', () => sign(digest, a))
        assert.deepEqual(sigN, sigJ)
        const pub = withBackend('native', () => publicKeyFromPrivate(a))
        assert.deepEqual(
          withBackend('noble', () => recoverPublicKey(digest, sigN)),
          pub,
        )
        assert.deepEqual(
          withBackend('native', () => recoverPublicKey(digest, sigJ)),
          pub,
        )
        assert.ok(withBackend('noble', () => verify(digest, sigN, pub)))
        const pb = withBackend('noble', () => publicKeyFromPrivate(b))
        assert.deepEqual(
          withBackend('native', () => ecdh(a, pb)),
          withBackend('noble', () => ecdh(a, pb)),
        )
        assert.deepEqual(
          withBackend('native', () => compressPublicKey(pb)),
          withBackend('noble', () => compressPublicKey(pb)),
        )
      }),
      { numRuns: 40 },
    )
  })
})

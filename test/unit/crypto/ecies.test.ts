import assert from 'node:assert/strict'
import { after, describe, it } from 'node:test'
import fc from 'fast-check'
import {
  concatKdfSha256,
  ECIES_OVERHEAD,
  ecdh,
  eciesDecrypt,
  eciesEncrypt,
  eciesEphemeral,
  generatePrivateKey,
  getNativeSecp256k1Error,
  getSecp256k1Backend,
  hmacSha256,
  publicKeyFromPrivate,
  type Secp256k1BackendName,
  setSecp256k1Backend,
  sha256,
} from '../../../src/crypto/index.js'
import { DecodeError, fromHex, seededRandom, toHex, utf8 } from '../../../src/util/index.js'
import { loadVectors } from '../../helpers/vectors.js'

interface EciesVectors {
  concat_kdf: { z: string; s1: string; length: number; expected: string; description: string }[]
  ecdh: {
    private_key: string
    peer_private_key?: string
    peer_public_key?: string
    expected_shared_secret: string
    description: string
  }[]
  sha256: { input: string; expected: string; description: string }[]
  hmac_sha256: { key: string; input: string; expected: string; description: string }[]
  ecies_decrypt: {
    private_key: string
    ciphertext: string
    shared_mac_data: string
    expected_plaintext: string
    description: string
  }[]
}
const V = loadVectors<EciesVectors>('rlpx-ecies.json')
const nativeError = getNativeSecp256k1Error()
const initial = getSecp256k1Backend()
after(() => setSecp256k1Backend(initial))

describe('rlpx-ecies.json: KDF, SHA-256, HMAC', () => {
  for (const v of V.concat_kdf) {
    it(v.description, () => {
      assert.equal(toHex(concatKdfSha256(fromHex(v.z), fromHex(v.s1), v.length)), v.expected)
    })
  }
  for (const v of V.sha256) {
    it(v.description, () => assert.equal(toHex(sha256(fromHex(v.input))), v.expected))
  }
  for (const v of V.hmac_sha256) {
    it(v.description, () => assert.equal(toHex(hmacSha256(fromHex(v.key), fromHex(v.input))), v.expected))
  }
  it('hashes parts as their concatenation', () => {
    assert.deepEqual(sha256(utf8('ab'), utf8('c')), sha256(utf8('abc')))
    assert.deepEqual(hmacSha256(utf8('k'), utf8('a'), utf8('bc')), hmacSha256(utf8('k'), utf8('abc')))
    assert.equal(concatKdfSha256(utf8('z'), new Uint8Array(0), 0).length, 0)
    assert.throws(() => concatKdfSha256(utf8('z'), new Uint8Array(0), -1), RangeError)
    assert.throws(() => concatKdfSha256(utf8('z'), new Uint8Array(0), 1.5), TypeError)
  })
})

for (const name of ['native', 'noble'] as Secp256k1BackendName[]) {
  describe(`rlpx-ecies.json ECDH and ECIES (${name})`, {
    skip: name === 'native' ? nativeError?.message : undefined,
  }, () => {
    const use = (): void => setSecp256k1Backend(name)
    for (const v of V.ecdh) {
      it(v.description, () => {
        use()
        const peer = v.peer_public_key
          ? fromHex(v.peer_public_key)
          : publicKeyFromPrivate(fromHex(v.peer_private_key ?? ''))
        assert.equal(toHex(ecdh(fromHex(v.private_key), peer)), v.expected_shared_secret)
      })
    }
    for (const v of V.ecies_decrypt) {
      it(v.description, () => {
        use()
        const pt = eciesDecrypt(fromHex(v.private_key), fromHex(v.ciphertext), fromHex(v.shared_mac_data))
        assert.equal(toHex(pt), v.expected_plaintext)
      })
    }
    it('encrypt → decrypt round trip, with and without shared MAC data (property)', () => {
      use()
      const priv = generatePrivateKey(seededRandom(11))
      const pub = publicKeyFromPrivate(priv)
      fc.assert(
        fc.property(
          fc.uint8Array({ maxLength: 400 }),
          fc.option(fc.uint8Array({ maxLength: 8 })),
          (m, s2) => {
            const c = s2 === null ? eciesEncrypt(pub, m) : eciesEncrypt(pub, m, s2)
            assert.equal(c.length, m.length + ECIES_OVERHEAD)
            assert.equal(c[0], 4)
            const out = s2 === null ? eciesDecrypt(priv, c) : eciesDecrypt(priv, c, s2)
            assert.deepEqual(out, m)
            if (s2 !== null) {
              const wrong = Uint8Array.of(...s2, 1)
              assert.throws(() => eciesDecrypt(priv, c, wrong), DecodeError)
            }
          },
        ),
        { numRuns: 40 },
      )
    })
    it('is deterministic with a seeded random source', () => {
      use()
      const pub = publicKeyFromPrivate(generatePrivateKey(seededRandom(5)))
      const m = utf8('hello')
      assert.deepEqual(
        eciesEncrypt(pub, m, undefined, seededRandom(9)),
        eciesEncrypt(pub, m, undefined, seededRandom(9)),
      )
    })
    it('encrypts with a key pair made ahead of time (eciesEphemeral)', () => {
      use()
      const priv = generatePrivateKey(seededRandom(13))
      const pub = publicKeyFromPrivate(priv)
      const eph = eciesEphemeral(seededRandom(14))
      assert.deepEqual(eph.publicKey, publicKeyFromPrivate(eph.privateKey))
      const m = utf8('made ahead')
      const mac = Uint8Array.of(1, 2)
      const c = eciesEncrypt(pub, m, mac, seededRandom(15), eph)
      assert.deepEqual(c.subarray(1, 65), eph.publicKey, 'R is the given ephemeral key')
      assert.deepEqual(eciesDecrypt(priv, c, mac), m)
      // Same bytes as when the same ephemeral key is drawn from the random source.
      const r = seededRandom(14)
      const drawn = eciesEncrypt(pub, m, mac, {
        bytes: (n) => (n === 32 ? r.bytes(32) : seededRandom(15).bytes(n)),
        int: (max) => r.int(max),
      })
      assert.deepEqual(drawn, c)
      assert.throws(
        () =>
          eciesEncrypt(pub, m, mac, undefined, { privateKey: eph.privateKey, publicKey: new Uint8Array(3) }),
        RangeError,
      )
    })
    it('fails on a tampered tag, IV, body, key or prefix', () => {
      use()
      const priv = generatePrivateKey(seededRandom(12))
      const c = eciesEncrypt(publicKeyFromPrivate(priv), utf8('secret message'))
      for (const at of [c.length - 1, c.length - 32, 70, 81, 85]) {
        const t = c.slice()
        t[at]! ^= 0x01
        assert.throws(() => eciesDecrypt(priv, t), DecodeError, `byte ${at}`)
      }
      const k = c.slice()
      k[10]! ^= 0x01 // the ephemeral key is then off the curve (or another key)
      assert.throws(() => eciesDecrypt(priv, k), DecodeError)
      const p = c.slice()
      p[0] = 2
      assert.throws(() => eciesDecrypt(priv, p), DecodeError)
      assert.throws(() => eciesDecrypt(priv, c.subarray(0, ECIES_OVERHEAD - 1)), DecodeError)
      assert.throws(() => eciesDecrypt(generatePrivateKey(seededRandom(13)), c), DecodeError)
      assert.deepEqual(eciesDecrypt(priv, c), utf8('secret message'))
    })
    it('random bytes never crash eciesDecrypt', () => {
      use()
      const priv = generatePrivateKey(seededRandom(14))
      const pub = publicKeyFromPrivate(priv)
      fc.assert(
        fc.property(
          fc.oneof(
            fc.uint8Array({ maxLength: 200 }),
            fc.uint8Array({ minLength: 48, maxLength: 120 }).map((b) => Uint8Array.of(4, ...b)),
            fc.uint8Array({ minLength: 48, maxLength: 120 }).map((b) => Uint8Array.of(4, ...pub, ...b)),
          ),
          (c) => {
            try {
              eciesDecrypt(priv, c)
            } catch (e) {
              assert.ok(e instanceof DecodeError, String(e))
            }
          },
        ),
        { numRuns: 200 },
      )
    })
    it('checks argument types and lengths', () => {
      use()
      const priv = generatePrivateKey(seededRandom(15))
      assert.throws(() => eciesEncrypt(new Uint8Array(65), utf8('x')), RangeError)
      assert.throws(() => eciesEncrypt(new Uint8Array(64), utf8('x')), DecodeError) // not on the curve
      assert.throws(() => eciesEncrypt(publicKeyFromPrivate(priv), 'x' as unknown as Uint8Array), TypeError)
      assert.throws(() => eciesDecrypt(new Uint8Array(31), new Uint8Array(200)), RangeError)
    })
  })
}

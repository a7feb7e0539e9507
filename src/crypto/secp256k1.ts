/**
 * secp256k1 in Ethereum's byte layouts: 32-byte private keys, 64-byte `x||y` public keys,
 * 65-byte `r||s||v` signatures with v ∈ {0,1} over raw 32-byte digests (no pre-hash), low-S,
 * and ECDH returning the 32-byte x coordinate (RLPx/ECIES).
 *
 * Two backends implement the same small interface:
 * - `native`: libsecp256k1 through the `secp256k1` package's N-API bindings, loaded directly
 *   from `secp256k1/bindings` (the package's main entry silently falls back to the slow
 *   `elliptic`). ECDH uses libsecp256k1's constant-time `secp256k1_ecdh` with a hash function
 *   that returns x, never `publicKeyTweakMul` (variable time in the scalar).
 * - `noble`: `@noble/curves` for sign/recover/verify and point handling, and Node's built-in
 *   constant-time OpenSSL ECDH for key agreement and public-key derivation.
 *
 * At import the native backend is loaded and must pass a known-answer self-test (sign, recover,
 * ECDH); otherwise, or when the environment sets `DEVP2P_CRYPTO=noble`, the noble backend is
 * used. {@link setSecp256k1Backend} switches at run time.
 *
 * Argument errors from the caller (wrong type, wrong fixed length, an invalid private key)
 * throw `TypeError`/`RangeError` naming the field; malformed data that may come from the wire
 * (points not on the curve, unrecoverable signatures) throws {@link DecodeError}.
 */
import { createECDH, randomBytes } from 'node:crypto'
import { createRequire } from 'node:module'
import { secp256k1 as noble } from '@noble/curves/secp256k1.js'
import { assertBytes } from '../util/assert.js'
import { equalBytes, fromHex } from '../util/bytes.js'
import { DecodeError } from '../util/errors.js'
import { type RandomSource, secureRandom } from '../util/random.js'
import { bufferToBytes } from './internal.js'

/** The names of the secp256k1 implementations. */
export type Secp256k1BackendName = 'native' | 'noble'

/** What a backend implements; inputs are already checked for type and length. */
interface Backend {
  readonly name: Secp256k1BackendName
  /** `pub65` is `04||x||y`. */
  isValidPublicKey(pub65: Uint8Array): boolean
  /** 64 bytes; `priv` is a valid scalar. */
  publicKey(priv: Uint8Array): Uint8Array
  /** 33 bytes from a 65-byte `04||x||y`; throws (any error) if not on the curve. */
  compress(pub65: Uint8Array): Uint8Array
  /** 64 bytes from a 33-byte compressed key; throws (any error) if not on the curve. */
  decompress(pub33: Uint8Array): Uint8Array
  /** 65 bytes `r||s||v`, low-S, deterministic (RFC 6979). */
  sign(digest: Uint8Array, priv: Uint8Array): Uint8Array
  /** 64 bytes; throws (any error) when the signature does not recover. */
  recover(digest: Uint8Array, rs: Uint8Array, recid: number): Uint8Array
  /** Rejects high-S and invalid points (returns false). */
  verify(digest: Uint8Array, rs: Uint8Array, pub65: Uint8Array): boolean
  /** x coordinate of `priv·pub`; throws (any error) on a bad point. */
  ecdh(priv: Uint8Array, pub65: Uint8Array): Uint8Array
}

/** The group order n, big-endian. */
const GROUP_ORDER = fromHex('fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141')

function withPrefix(pub64: Uint8Array): Uint8Array {
  const out = new Uint8Array(65)
  out[0] = 4
  out.set(pub64, 1)
  return out
}

/** Left-pad to 32 bytes (Node's ECDH getters may drop leading zero bytes; never trust the length). */
function pad32(b: Uint8Array): Uint8Array {
  if (b.length === 32) return b
  const out = new Uint8Array(32)
  out.set(b, 32 - b.length)
  return out
}

// ---------------------------------------------------------------------------------------------
// noble backend

const nobleBackend: Backend = {
  name: 'noble',
  isValidPublicKey(pub65) {
    try {
      noble.Point.fromBytes(pub65)
      return true
    } catch {
      return false
    }
  },
  publicKey(priv) {
    // Node's OpenSSL (constant-time) is a little faster than noble's getPublicKey here.
    const e = createECDH('secp256k1')
    e.setPrivateKey(priv)
    return bufferToBytes(e.getPublicKey()).subarray(1)
  },
  compress: (pub65) => noble.Point.fromBytes(pub65).toBytes(true),
  decompress: (pub33) => noble.Point.fromBytes(pub33).toBytes(false).subarray(1),
  sign(digest, priv) {
    // noble's 'recovered' layout is v||r||s; Ethereum's is r||s||v.
    const vrs = noble.sign(digest, priv, { prehash: false, lowS: true, format: 'recovered' })
    const out = new Uint8Array(65)
    out.set(vrs.subarray(1), 0)
    out[64] = vrs[0]!
    return out
  },
  recover(digest, rs, recid) {
    const sig = noble.Signature.fromBytes(rs, 'compact').addRecoveryBit(recid)
    return sig.recoverPublicKey(digest).toBytes(false).subarray(1)
  },
  verify: (digest, rs, pub65) => noble.verify(rs, digest, pub65, { prehash: false, lowS: true }),
  ecdh(priv, pub65) {
    const e = createECDH('secp256k1')
    e.setPrivateKey(priv)
    return pad32(bufferToBytes(e.computeSecret(pub65)))
  },
}

// ---------------------------------------------------------------------------------------------
// native backend

/** The subset of the `secp256k1` package's API that the native backend uses. */
interface NativeSecp256k1 {
  contextRandomize(seed: Uint8Array | null): void
  publicKeyVerify(pubkey: Uint8Array): boolean
  publicKeyCreate(seckey: Uint8Array, compressed: boolean, output?: Uint8Array): Uint8Array
  publicKeyConvert(pubkey: Uint8Array, compressed: boolean, output?: Uint8Array): Uint8Array
  ecdsaSign(msg32: Uint8Array, seckey: Uint8Array, options: object, output: Uint8Array): { recid: number }
  ecdsaVerify(sig: Uint8Array, msg32: Uint8Array, pubkey: Uint8Array): boolean
  ecdsaRecover(
    sig: Uint8Array,
    recid: number,
    msg32: Uint8Array,
    compressed: boolean,
    output?: Uint8Array,
  ): Uint8Array
  ecdh(
    pubkey: Uint8Array,
    seckey: Uint8Array,
    options: {
      hashfn: (x: Uint8Array, y: Uint8Array) => Uint8Array
      xbuf?: Uint8Array
      ybuf?: Uint8Array
    },
    output: Uint8Array,
  ): Uint8Array
}

function makeNativeBackend(lib: NativeSecp256k1): Backend {
  // Scratch buffers the binding writes the shared point into; wiped after every ECDH.
  const xbuf = new Uint8Array(32)
  const ybuf = new Uint8Array(32)
  const returnX = (x: Uint8Array): Uint8Array => x
  return {
    name: 'native',
    isValidPublicKey: (pub65) => lib.publicKeyVerify(pub65),
    publicKey: (priv) => lib.publicKeyCreate(priv, false, new Uint8Array(65)).subarray(1),
    compress: (pub65) => lib.publicKeyConvert(pub65, true, new Uint8Array(33)),
    decompress: (pub33) => lib.publicKeyConvert(pub33, false, new Uint8Array(65)).subarray(1),
    sign(digest, priv) {
      const out = new Uint8Array(65)
      const { recid } = lib.ecdsaSign(digest, priv, {}, out.subarray(0, 64))
      out[64] = recid
      return out
    },
    recover: (digest, rs, recid) =>
      lib.ecdsaRecover(rs, recid, digest, false, new Uint8Array(65)).subarray(1),
    verify(digest, rs, pub65) {
      try {
        return lib.ecdsaVerify(rs, digest, pub65)
      } catch {
        return false // r or s out of range, or the key does not parse
      }
    },
    ecdh(priv, pub65) {
      try {
        return lib.ecdh(pub65, priv, { hashfn: returnX, xbuf, ybuf }, new Uint8Array(32))
      } finally {
        xbuf.fill(0)
        ybuf.fill(0)
      }
    },
  }
}

// Known answers for the start-up self-test (ECDH from go-ethereum's TestSharedKeyStatic;
// signature deterministic per RFC 6979, cross-checked with the noble backend).
const ST_PRIV = fromHex('7ebbc6a8358bc76dd73ebc557056702c8cfc34e5cfcd90eb83af0347575fd2ad')
const ST_PUB = fromHex(
  'ddf77958383a6515894f88b30b4b4e40b32d2d84650ae2765abd8bfaece5f829ea66963adc409efa966df6482e55d1197b63481e5004e31560ab385bf3d942e2',
)
const ST_PEER_PUB = fromHex(
  '83ede0f19c3c98649265956a4193677b14c338a22de2086a08d84e4446fe37e4e233478259ec90dbeef52f4f6c890f8c38660ec7b61b9d439b8a6d1c323dc025',
)
const ST_SHARED = fromHex('167ccc13ac5e8a26b131c3446030c60fbfac6aa8e31149d0869f93626a4cdf62')
const ST_DIGEST = new Uint8Array(32).fill(0xee)
const ST_SIG = fromHex(
  '5dff76b5d7d063a36ffc1b51a7edebd1c4f137c1fda30083cd94ec85ec79c4b82d64c136e8c3f5957209d1d6f5d3a27cb52e98528ebf696f05519f23e36a250500',
)

/** Throws if `b` does not reproduce the known answers. */
function selfTest(b: Backend): void {
  if (!equalBytes(b.publicKey(ST_PRIV), ST_PUB)) throw new Error('self-test: public key mismatch')
  const sig = b.sign(ST_DIGEST, ST_PRIV)
  if (!equalBytes(sig, ST_SIG)) throw new Error('self-test: signature mismatch')
  if (!equalBytes(b.recover(ST_DIGEST, sig.subarray(0, 64), sig[64]!), ST_PUB))
    throw new Error('self-test: recovery mismatch')
  if (!b.verify(ST_DIGEST, sig.subarray(0, 64), withPrefix(ST_PUB)))
    throw new Error('self-test: verify failed')
  if (!equalBytes(b.ecdh(ST_PRIV, withPrefix(ST_PEER_PUB)), ST_SHARED))
    throw new Error('self-test: ECDH mismatch')
}

type NativeLoad = { ok: true; backend: Backend } | { ok: false; error: Error }
let nativeLoad: NativeLoad | undefined

/** Load the libsecp256k1 bindings once and self-test them; the outcome is cached. */
function loadNative(): NativeLoad {
  if (nativeLoad !== undefined) return nativeLoad
  try {
    const require = createRequire(import.meta.url)
    const lib = require('secp256k1/bindings') as NativeSecp256k1
    lib.contextRandomize(new Uint8Array(randomBytes(32))) // blinding against side channels
    const backend = makeNativeBackend(lib)
    selfTest(backend)
    nativeLoad = { ok: true, backend }
  } catch (e) {
    nativeLoad = {
      ok: false,
      error: e instanceof Error ? e : new Error('native secp256k1 failed to load', { cause: e }),
    }
  }
  return nativeLoad
}

function initialBackend(): Backend {
  if (process.env['DEVP2P_CRYPTO'] === 'noble') return nobleBackend
  const n = loadNative()
  return n.ok ? n.backend : nobleBackend
}

let backend: Backend = initialBackend()

/** The secp256k1 implementation in use. */
export function getSecp256k1Backend(): Secp256k1BackendName {
  return backend.name
}

/**
 * Why the native backend is not available (load or self-test error), or `undefined` if it
 * loaded. Loads it if that has not been tried yet. For diagnostics (`--version`, debug logs).
 */
export function getNativeSecp256k1Error(): Error | undefined {
  const n = loadNative()
  return n.ok ? undefined : n.error
}

/**
 * Switch the secp256k1 implementation for the whole process. Throws an `Error` (with the load
 * or self-test failure as `cause`) if `'native'` is asked for and cannot be used.
 */
export function setSecp256k1Backend(name: Secp256k1BackendName): void {
  if (name === 'noble') {
    backend = nobleBackend
    return
  }
  if (name !== 'native') throw new RangeError(`secp256k1 backend: unknown name ${String(name)}`)
  const n = loadNative()
  if (!n.ok) throw new Error(`native secp256k1 unavailable: ${n.error.message}`, { cause: n.error })
  backend = n.backend
}

// ---------------------------------------------------------------------------------------------
// public API

function assertPrivateKey(field: string, priv: unknown): asserts priv is Uint8Array {
  assertBytes(field, priv, 32)
  if (!isValidPrivateKey(priv)) throw new RangeError(`${field}: not a valid secp256k1 private key`)
}

/**
 * A new random private key (32 bytes, a valid scalar) drawn from `rand` (default: the CSPRNG of
 * `node:crypto`), rejecting the astronomically rare out-of-range values. Pass a seeded source
 * only in tests. Throws if `rand` keeps producing invalid keys (a broken source).
 */
export function generatePrivateKey(rand: RandomSource = secureRandom): Uint8Array {
  // Rejection sampling from the CSPRNG costs ~2 µs; Node's ECDH.generateKeys() also computes a
  // public key we would throw away (~250 µs), so neither backend uses it here.
  for (let i = 0; i < 64; i++) {
    const k = rand.bytes(32)
    assertBytes('rand.bytes(32)', k, 32)
    if (isValidPrivateKey(k)) return k
  }
  throw new Error('generatePrivateKey: the random source keeps producing invalid keys')
}

/** True if `k` is 32 bytes encoding a scalar in [1, n-1]. Never throws. */
export function isValidPrivateKey(k: Uint8Array): boolean {
  if (!(k instanceof Uint8Array) || k.length !== 32) return false
  // 0 < k < n by big-endian comparison. The early exit reveals only where a key first differs
  // from n, which for a valid random key is almost always the first byte.
  let nonZero = 0
  for (let i = 0; i < 32; i++) nonZero |= k[i]!
  if (nonZero === 0) return false
  for (let i = 0; i < 32; i++) {
    const a = k[i]!
    const b = GROUP_ORDER[i]!
    if (a !== b) return a < b
  }
  return false
}

/** True if `pub64` is 64 bytes `x||y` of a point on the curve. Never throws. */
export function isValidPublicKey(pub64: Uint8Array): boolean {
  if (!(pub64 instanceof Uint8Array) || pub64.length !== 64) return false
  return backend.isValidPublicKey(withPrefix(pub64))
}

/** The 64-byte public key `x||y` of `priv`. RangeError if `priv` is not a valid key. */
export function publicKeyFromPrivate(priv: Uint8Array): Uint8Array {
  assertPrivateKey('privateKey', priv)
  return backend.publicKey(priv)
}

/** The 33-byte compressed form (`02|03 || x`) of a 64-byte key; DecodeError if not on the curve. */
export function compressPublicKey(pub64: Uint8Array): Uint8Array {
  assertBytes('publicKey', pub64, 64)
  try {
    return backend.compress(withPrefix(pub64))
  } catch (e) {
    throw new DecodeError('secp256k1-pubkey', 'not a point on the curve', { cause: e })
  }
}

/**
 * A public key in any of its encodings (33-byte compressed, 64-byte `x||y`, 65-byte
 * `04||x||y`) as 64 bytes `x||y`. DecodeError for any other length or prefix, or a point not on
 * the curve.
 */
export function decompressPublicKey(pub: Uint8Array): Uint8Array {
  assertBytes('publicKey', pub)
  const bad = (msg: string, cause?: unknown): DecodeError =>
    new DecodeError('secp256k1-pubkey', msg, { cause })
  if (pub.length === 33) {
    if (pub[0] !== 2 && pub[0] !== 3) throw bad('compressed key must start with 02 or 03')
    try {
      return backend.decompress(pub)
    } catch (e) {
      throw bad('not a point on the curve', e)
    }
  }
  let pub65: Uint8Array
  if (pub.length === 64) pub65 = withPrefix(pub)
  else if (pub.length === 65) {
    if (pub[0] !== 4) throw bad('uncompressed key must start with 04')
    pub65 = pub
  } else throw bad(`expected 33, 64 or 65 bytes, got ${pub.length}`)
  if (!backend.isValidPublicKey(pub65)) throw bad('not a point on the curve')
  return pub65.slice(1)
}

/**
 * Sign a 32-byte digest (not hashed again) with `priv`: 65 bytes `r||s||v`, v ∈ {0,1}, low-S,
 * deterministic (RFC 6979, as libsecp256k1 and go-ethereum). Both backends give identical bytes.
 */
export function sign(digest32: Uint8Array, priv: Uint8Array): Uint8Array {
  assertBytes('digest', digest32, 32)
  assertPrivateKey('privateKey', priv)
  return backend.sign(digest32, priv)
}

/**
 * The 64-byte public key that produced `sig65` (`r||s||v`) over `digest32`. Accepts v ∈ 0..3 as
 * go-ethereum does (2 and 3 only occur for r ≥ n, practically never) and high-S signatures
 * (recovery does not enforce low-S, as in geth). DecodeError if v > 3, r or s is out of range,
 * or no key recovers.
 */
export function recoverPublicKey(digest32: Uint8Array, sig65: Uint8Array): Uint8Array {
  assertBytes('digest', digest32, 32)
  assertBytes('signature', sig65, 65)
  const v = sig65[64]!
  if (v > 3) throw new DecodeError('secp256k1-signature', `invalid recovery id ${v}`)
  try {
    return backend.recover(digest32, sig65.subarray(0, 64), v)
  } catch (e) {
    throw new DecodeError('secp256k1-signature', 'signature does not recover a public key', { cause: e })
  }
}

/**
 * Check a signature (64 bytes `r||s`, or 65 bytes `r||s||v` whose v is ignored) over a 32-byte
 * digest against a 64-byte public key. False for high-S signatures (as libsecp256k1 and geth),
 * out-of-range r or s, and keys not on the curve.
 */
export function verify(digest32: Uint8Array, sig: Uint8Array, pub64: Uint8Array): boolean {
  assertBytes('digest', digest32, 32)
  assertBytes('signature', sig)
  if (sig.length !== 64 && sig.length !== 65)
    throw new RangeError(`signature: expected 64 or 65 bytes, got ${sig.length}`)
  assertBytes('publicKey', pub64, 64)
  return backend.verify(digest32, sig.length === 64 ? sig : sig.subarray(0, 64), withPrefix(pub64))
}

/**
 * ECDH as RLPx and ECIES use it: the 32-byte x coordinate of `priv·pub`, computed in constant
 * time. RangeError for an invalid private key; DecodeError if `pub64` is not on the curve.
 */
export function ecdh(priv: Uint8Array, pub64: Uint8Array): Uint8Array {
  assertPrivateKey('privateKey', priv)
  assertBytes('publicKey', pub64, 64)
  const pub65 = withPrefix(pub64)
  try {
    return backend.ecdh(priv, pub65)
  } catch (e) {
    throw new DecodeError('secp256k1-pubkey', 'ECDH with a point not on the curve', { cause: e })
  }
}

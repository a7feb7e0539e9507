/**
 * ECIES as RLPx uses it (go-ethereum's `crypto/ecies` with secp256k1, AES-128-CTR and
 * HMAC-SHA256): `0x04 || R(64) || iv(16) || c || tag(32)`, where `R` is an ephemeral public key,
 * `z = x(r·K)`, `k = ConcatKDF_SHA256(z, ∅, 32)`, `kE = k[0:16]`, `kM = SHA256(k[16:32])`,
 * `c = AES-128-CTR(kE, iv, m)` and `tag = HMAC-SHA256(kM, iv || c || sharedMacData)`.
 * In RLPx the shared MAC data is empty for legacy handshake packets and the 2-byte size prefix
 * for EIP-8 packets.
 */
import { timingSafeEqual } from 'node:crypto'
import { assertBytes } from '../util/assert.js'
import { DecodeError } from '../util/errors.js'
import { type RandomSource, secureRandom } from '../util/random.js'
import { aes128CtrXor } from './aes.js'
import { concatKdfSha256, hmacSha256, sha256 } from './hash.js'
import { ecdh, generatePrivateKey, publicKeyFromPrivate } from './secp256k1.js'

/** Bytes ECIES adds to a plaintext: 65 (ephemeral key) + 16 (IV) + 32 (tag). */
export const ECIES_OVERHEAD = 113

const EMPTY = new Uint8Array(0)

function deriveKeys(z: Uint8Array): { encKey: Uint8Array; macKey: Uint8Array } {
  const k = concatKdfSha256(z, EMPTY, 32)
  return { encKey: k.subarray(0, 16), macKey: sha256(k.subarray(16, 32)) }
}

/** A sender's ephemeral key pair for one {@link eciesEncrypt}, made ahead of time. */
export interface EciesEphemeral {
  readonly privateKey: Uint8Array
  /** The 64-byte public key of `privateKey`. */
  readonly publicKey: Uint8Array
}

/**
 * A fresh ephemeral key pair for one {@link eciesEncrypt}, so that its scalar multiplication
 * can be done ahead of time (an RLPx recipient makes the one of its ack while the auth is on its
 * way). Use each pair for one message only.
 */
export function eciesEphemeral(rand?: RandomSource): EciesEphemeral {
  const privateKey = generatePrivateKey(rand)
  return { privateKey, publicKey: publicKeyFromPrivate(privateKey) }
}

/**
 * Encrypt `plaintext` to the 64-byte public key `pub64`. The ephemeral key (unless `ephemeral`
 * gives one from {@link eciesEphemeral}) and IV come from `rand` when given (tests), otherwise
 * from the secure generator. DecodeError if `pub64` is not on the curve.
 */
export function eciesEncrypt(
  pub64: Uint8Array,
  plaintext: Uint8Array,
  sharedMacData: Uint8Array = EMPTY,
  rand?: RandomSource,
  ephemeral?: EciesEphemeral,
): Uint8Array {
  assertBytes('publicKey', pub64, 64)
  assertBytes('plaintext', plaintext)
  assertBytes('sharedMacData', sharedMacData)
  if (ephemeral !== undefined) assertBytes('ephemeral.publicKey', ephemeral.publicKey, 64)
  const r = ephemeral?.privateKey ?? generatePrivateKey(rand)
  const { encKey, macKey } = deriveKeys(ecdh(r, pub64))
  const iv = (rand ?? secureRandom).bytes(16)
  assertBytes('rand.bytes(16)', iv, 16)
  const out = new Uint8Array(ECIES_OVERHEAD + plaintext.length)
  out[0] = 4
  out.set(ephemeral?.publicKey ?? publicKeyFromPrivate(r), 1)
  out.set(iv, 65)
  out.set(aes128CtrXor(encKey, iv, plaintext), 81)
  const body = out.subarray(65, 81 + plaintext.length)
  out.set(hmacSha256(macKey, body, sharedMacData), 81 + plaintext.length)
  return out
}

/**
 * Decrypt an ECIES message with the 32-byte private key `priv`. The tag is checked in constant
 * time before decrypting. DecodeError if the input is shorter than {@link ECIES_OVERHEAD}, does
 * not start with 0x04, carries a point not on the curve, or fails the tag check.
 */
export function eciesDecrypt(
  priv: Uint8Array,
  ciphertext: Uint8Array,
  sharedMacData: Uint8Array = EMPTY,
): Uint8Array {
  assertBytes('privateKey', priv, 32)
  assertBytes('ciphertext', ciphertext)
  assertBytes('sharedMacData', sharedMacData)
  if (ciphertext.length < ECIES_OVERHEAD)
    throw new DecodeError('ecies', `message too short: ${ciphertext.length} < ${ECIES_OVERHEAD} bytes`)
  if (ciphertext[0] !== 4) throw new DecodeError('ecies', 'ephemeral key must be uncompressed (0x04)')
  const z = ecdh(priv, ciphertext.subarray(1, 65)) // DecodeError for a bad point
  const { encKey, macKey } = deriveKeys(z)
  const tagAt = ciphertext.length - 32
  const body = ciphertext.subarray(65, tagAt)
  const expected = hmacSha256(macKey, body, sharedMacData)
  if (!timingSafeEqual(expected, ciphertext.subarray(tagAt))) throw new DecodeError('ecies', 'invalid tag')
  return aes128CtrXor(encKey, body.subarray(0, 16), body.subarray(16))
}

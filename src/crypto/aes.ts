/**
 * AES through `node:crypto` (OpenSSL, hardware-accelerated): one-shot AES-128-CTR for ECIES,
 * streaming AES-CTR for the RLPx frame ciphers, and single-block AES-256-ECB for the RLPx MAC.
 * Cipher objects are meant to live as long as their connection; creating one per frame costs
 * far more than using it.
 */
import { type Cipher, createCipheriv } from 'node:crypto'
import { assertBytes } from '../util/assert.js'
import { bufferToBytes } from './internal.js'

/** AES-128-CTR of `data` (encryption and decryption are the same XOR with the keystream). */
export function aes128CtrXor(key16: Uint8Array, iv16: Uint8Array, data: Uint8Array): Uint8Array {
  assertBytes('key', key16, 16)
  assertBytes('iv', iv16, 16)
  assertBytes('data', data)
  const c = createCipheriv('aes-128-ctr', key16, iv16)
  const out = c.update(data)
  c.final()
  return bufferToBytes(out)
}

/** A running AES-CTR keystream: each `update` continues where the previous one stopped. */
export interface AesCtrStream {
  /** XOR `data` with the next `data.length` bytes of keystream; returns a new array. */
  update(data: Uint8Array): Uint8Array
}

/**
 * A streaming AES-CTR cipher (AES-128 for a 16-byte key, AES-256 for a 32-byte key) starting at
 * counter block `iv`. RLPx uses one per direction with a zero IV for the whole connection.
 */
export function createAesCtr(key: Uint8Array, iv: Uint8Array): AesCtrStream {
  assertBytes('key', key)
  if (key.length !== 16 && key.length !== 32)
    throw new RangeError(`key: expected 16 or 32 bytes, got ${key.length}`)
  assertBytes('iv', iv, 16)
  return new NodeAesCtr(createCipheriv(key.length === 16 ? 'aes-128-ctr' : 'aes-256-ctr', key, iv))
}

// Classes rather than closures: a connection keeps three of these for its whole life.
class NodeAesCtr implements AesCtrStream {
  constructor(private readonly c: Cipher) {}
  update(data: Uint8Array): Uint8Array {
    assertBytes('data', data)
    return bufferToBytes(this.c.update(data))
  }
}

class NodeAesEcb implements AesEcbBlockCipher {
  constructor(private readonly c: Cipher) {}
  encryptBlock(block16: Uint8Array): Uint8Array {
    assertBytes('block', block16, 16)
    return bufferToBytes(this.c.update(block16))
  }
}

/** A single-block AES-256-ECB encryptor (the RLPx MAC's block cipher). */
export interface AesEcbBlockCipher {
  /** Encrypt one 16-byte block; returns a new array. */
  encryptBlock(block16: Uint8Array): Uint8Array
}

/** An AES-256-ECB block encryptor keyed with `key32`, to keep for the life of a connection. */
export function createAesEcb(key32: Uint8Array): AesEcbBlockCipher {
  assertBytes('key', key32, 32)
  const c = createCipheriv('aes-256-ecb', key32, null)
  c.setAutoPadding(false)
  return new NodeAesEcb(c)
}

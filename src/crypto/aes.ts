/**
 * AES: through `node:crypto` (OpenSSL, hardware-accelerated) one-shot AES-128-CTR for ECIES and
 * streaming AES-CTR for the RLPx frame ciphers; single-block AES-256-ECB for the RLPx MAC through
 * @noble/ciphers (see {@link createAesEcb}). Cipher objects are meant to live as long as their
 * connection; creating one per frame costs far more than using it.
 */
import { type Cipher, createCipheriv } from 'node:crypto'
import { unsafe as nobleAes } from '@noble/ciphers/aes.js'
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

/**
 * The initial counter block `iv` advanced by `blocks` (128-bit big-endian addition, as AES-CTR
 * counts), for `blocks` < 2^53.
 */
function counterAt(iv: Uint8Array, blocks: number): Uint8Array {
  const out = Uint8Array.from(iv)
  let carry = blocks
  for (let i = 15; i >= 0 && carry > 0; i--) {
    const sum = out[i]! + (carry % 256)
    out[i] = sum & 0xff
    carry = Math.floor(carry / 256) + (sum >> 8)
  }
  return out
}

/**
 * {@link createAesCtr} started `blocks` 16-byte blocks into the keystream of (`key`, `iv`): what
 * a stream that was dropped after `blocks` blocks continues with (1.5 µs, measured here).
 */
export function createAesCtrAt(key: Uint8Array, iv: Uint8Array, blocks: number): AesCtrStream {
  if (!Number.isSafeInteger(blocks) || blocks < 0)
    throw new RangeError(`blocks: expected a safe integer >= 0, got ${blocks}`)
  return createAesCtr(key, blocks === 0 ? iv : counterAt(iv, blocks))
}

/**
 * A streaming AES-CTR over whole 16-byte blocks (RLPx frames are padded to 16) that can let go
 * of its OpenSSL context while unused: {@link release} drops it, and the next {@link update}
 * builds a new one at the counter where the stream stopped ({@link createAesCtrAt}). An OpenSSL
 * CTR context costs about 0.9 KiB of RSS: an idle connection need not keep two.
 */
export class ReleasableAesCtr implements AesCtrStream {
  private c: AesCtrStream | undefined
  /** Blocks of keystream used so far. */
  private blocks = 0

  constructor(
    private readonly key: Uint8Array,
    private readonly iv: Uint8Array,
  ) {
    assertBytes('key', key)
    if (key.length !== 16 && key.length !== 32)
      throw new RangeError(`key: expected 16 or 32 bytes, got ${key.length}`)
    assertBytes('iv', iv, 16)
  }

  /** XOR `data` (a whole number of blocks) with the next keystream; returns a new array. */
  update(data: Uint8Array): Uint8Array {
    assertBytes('data', data)
    if (data.length % 16 !== 0) throw new RangeError(`data: ${data.length} bytes is not whole blocks`)
    this.c ??= createAesCtrAt(this.key, this.iv, this.blocks)
    this.blocks += data.length / 16
    return this.c.update(data)
  }

  /** Whether it holds an OpenSSL context now. */
  get holdsContext(): boolean {
    return this.c !== undefined
  }

  /** Drop the OpenSSL context (the next update builds a new one). */
  release(): void {
    this.c = undefined
  }
}

// Classes rather than closures: a connection keeps three of these for its whole life.
class NodeAesCtr implements AesCtrStream {
  constructor(private readonly c: Cipher) {}
  update(data: Uint8Array): Uint8Array {
    assertBytes('data', data)
    return bufferToBytes(this.c.update(data))
  }
}

class TableAesEcb implements AesEcbBlockCipher {
  /** The expanded key (60 words for AES-256). */
  constructor(private readonly xk: Uint32Array) {}
  encryptBlock(block16: Uint8Array): Uint8Array {
    assertBytes('block', block16, 16)
    const out = new Uint8Array(16)
    aesEcbEncryptBlockInto(this.xk, block16, out)
    return out
  }
  encryptBlockInto(input: Uint8Array, output: Uint8Array): void {
    aesEcbEncryptBlockInto(this.xk, input, output)
  }
}

/** Words of an AES-256 key schedule ({@link aesEcbKeySchedule}). */
export const AES256_SCHEDULE_WORDS = 60

/**
 * The AES-256 key schedule of `key32` for {@link aesEcbEncryptBlockInto}, written into `into`
 * ({@link AES256_SCHEDULE_WORDS} words) when given: a caller that keeps many small arrays per
 * connection can keep them in one buffer.
 */
export function aesEcbKeySchedule(key32: Uint8Array, into?: Uint32Array): Uint32Array {
  assertBytes('key', key32, 32)
  const xk = nobleAes.expandKeyLE(key32)
  if (into === undefined) return xk
  if (!(into instanceof Uint32Array) || into.length !== AES256_SCHEDULE_WORDS)
    throw new RangeError(`into: expected a Uint32Array of ${AES256_SCHEDULE_WORDS} words`)
  into.set(xk)
  xk.fill(0)
  return into
}

/**
 * Encrypt the block `input[0..16)` into `output[0..16)` with the key schedule `xk` (see
 * {@link createAesEcb} for the implementation and why). `input` may be `output`.
 */
export function aesEcbEncryptBlockInto(xk: Uint32Array, input: Uint8Array, output: Uint8Array): void {
  if (input.length < 16 || output.length < 16) throw new RangeError('encryptBlockInto: needs 16 bytes')
  // All four words are read before any is written: `input` may be `output`.
  const r = nobleAes.encrypt(xk, le32(input, 0), le32(input, 4), le32(input, 8), le32(input, 12))
  putLe32(output, 0, r.s0)
  putLe32(output, 4, r.s1)
  putLe32(output, 8, r.s2)
  putLe32(output, 12, r.s3)
}

/** A single-block AES-256-ECB encryptor (the RLPx MAC's block cipher). */
export interface AesEcbBlockCipher {
  /** Encrypt one 16-byte block; returns a new array. */
  encryptBlock(block16: Uint8Array): Uint8Array
  /** Encrypt `input[0..16)` into `output[0..16)` without allocating (the same array may be both). */
  encryptBlockInto(input: Uint8Array, output: Uint8Array): void
}

/**
 * An AES-256-ECB block encryptor keyed with `key32`, to keep for the life of a connection.
 *
 * It runs on @noble/ciphers' table-driven AES rather than OpenSSL: for one block at a time it is
 * about 5x faster (75 ns against 400 ns through a `node:crypto` cipher, measured here) and costs
 * a 240-byte expanded key instead of about 1.4 KiB of OpenSSL context per connection. Table
 * lookups are not constant-time; the RLPx MAC is the only user, its key is shared with the remote
 * peer by design, and an on-path attacker gets one MAC check before the connection is dropped
 * (see docs/ARCHITECTURE.md, Dependencies).
 */
export function createAesEcb(key32: Uint8Array): AesEcbBlockCipher {
  return new TableAesEcb(aesEcbKeySchedule(key32))
}

/** A little-endian 32-bit word of `b` at `o` (the word order noble's AES uses). */
function le32(b: Uint8Array, o: number): number {
  return (b[o]! | (b[o + 1]! << 8) | (b[o + 2]! << 16) | (b[o + 3]! << 24)) >>> 0
}

function putLe32(b: Uint8Array, o: number, v: number): void {
  b[o] = v & 0xff
  b[o + 1] = (v >>> 8) & 0xff
  b[o + 2] = (v >>> 16) & 0xff
  b[o + 3] = v >>> 24
}

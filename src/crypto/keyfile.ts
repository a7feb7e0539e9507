/**
 * Node key files as go-ethereum writes them (`nodekey`): the 32-byte secp256k1 private key as
 * 64 hex characters. Pure text codec; reading and writing files is the caller's.
 */
import { DecodeError, fromHex, toHex } from '../util/index.js'
import { isValidPrivateKey } from './secp256k1.js'

/** Longest key-file text accepted (the key plus generous whitespace). */
export const MAX_KEY_FILE_SIZE = 1024

/**
 * Parse key-file text: 64 hex characters (an optional `0x` prefix and surrounding whitespace
 * are tolerated), a valid secp256k1 scalar. Throws {@link DecodeError} otherwise.
 */
export function parseNodeKey(text: string): Uint8Array {
  if (typeof text !== 'string') throw new TypeError('key file: expected text')
  if (text.length > MAX_KEY_FILE_SIZE) throw new DecodeError('key-file', 'file too large for a node key')
  let t = text.trim()
  if (t.startsWith('0x') || t.startsWith('0X')) t = t.slice(2)
  if (t.length !== 64) throw new DecodeError('key-file', `expected 64 hex characters, got ${t.length}`)
  if (!/^[0-9a-fA-F]{64}$/.test(t)) throw new DecodeError('key-file', 'invalid hex')
  const key = fromHex(t)
  if (!isValidPrivateKey(key)) throw new DecodeError('key-file', 'not a valid secp256k1 private key')
  return key
}

/** Key-file text of `key` (64 lower-case hex characters, no newline, as geth writes it). */
export function formatNodeKey(key: Uint8Array): string {
  if (!isValidPrivateKey(key)) throw new RangeError('key: not a valid secp256k1 private key')
  return toHex(key)
}

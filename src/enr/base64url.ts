/**
 * URL-safe base64 without padding (RFC 4648 §5), as the `enr:` text form uses it. Decoding is
 * strict about the alphabet and refuses `=` padding and impossible lengths, which Node's own
 * `base64url` decoder silently skips. Unused trailing bits are ignored, as Go's decoder does.
 */
import { DecodeError } from '../util/index.js'

const ALPHABET = /^[A-Za-z0-9_-]*$/

/** Encode bytes as URL-safe base64 without padding. */
export function base64UrlEncode(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).toString('base64url')
}

/**
 * Decode URL-safe base64 without padding. Throws {@link DecodeError} (with the given `what`) for
 * characters outside the alphabet (including `=`, `+` and `/`) and lengths that are 1 modulo 4.
 */
export function base64UrlDecode(text: string, what = 'base64url'): Uint8Array {
  if (!ALPHABET.test(text)) {
    const bad = text.search(/[^A-Za-z0-9_-]/)
    const padding = text[bad] === '='
    throw new DecodeError(
      what,
      padding ? 'invalid base64 (padding not allowed)' : `illegal base64 data at input byte ${bad}`,
    )
  }
  if (text.length % 4 === 1)
    throw new DecodeError(what, `illegal base64 data at input byte ${text.length - 1}`)
  return new Uint8Array(Buffer.from(text, 'base64url'))
}

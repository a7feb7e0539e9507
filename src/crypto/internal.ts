/** Small helpers shared by the crypto files; not part of the public API (not re-exported). */

/** A Node `Buffer` as a plain `Uint8Array` view over the same memory (no copy). */
export function bufferToBytes(b: Buffer): Uint8Array {
  return new Uint8Array(b.buffer, b.byteOffset, b.length)
}

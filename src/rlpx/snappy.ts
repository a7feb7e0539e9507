/**
 * Snappy block compression for RLPx messages (EIP-706), with the length checks done before any
 * allocation. The native `snappy` package (napi-rs) is used with `copyOutputData: true` (its
 * default output mode was measured 7–13x slower from 64 KiB and grew memory to gigabytes); if it
 * cannot be loaded, the fallback compresses with the pure-JS `snappyjs` and decompresses with our
 * own strict decoder ({@link decodeSnappyBlock}).
 *
 * A snappy block starts with the uncompressed length as a little-endian base-128 varint. Before
 * decompressing we read it and reject (a) lengths above the limit (go-ethereum: 2^24 − 1) and
 * (b) lengths the compressed bytes cannot possibly produce: the most a snappy element can emit is
 * 64 bytes from a 3-byte copy tag, so `n` input bytes yield at most `n * 64 / 3` output bytes.
 * The decoders allocate the declared length, so these checks bound memory by bytes received.
 */
import { createRequire } from 'node:module'
import { DecodeError } from '../util/index.js'

/** Largest uncompressed message: go-ethereum rejects anything above 2^24 − 1 (EIP-706: 16 MiB). */
export const MAX_UNCOMPRESSED_SIZE = 0xffffff

/** A snappy block codec. */
export interface SnappyCodec {
  /** `native` (the `snappy` package) or `js` (`snappyjs`). */
  readonly backend: 'native' | 'js'
  compress(data: Uint8Array): Uint8Array
  /** Raw decompression; call {@link snappyDecompress} instead, which checks lengths first. */
  uncompress(data: Uint8Array): Uint8Array
}

interface NativeSnappy {
  compressSync(input: Uint8Array, options?: { copyOutputData?: boolean }): Uint8Array
  uncompressSync(
    input: Uint8Array,
    options?: { asBuffer?: boolean; copyOutputData?: boolean },
  ): Uint8Array | string
}
interface JsSnappy {
  compress(input: Uint8Array): Uint8Array
}

const require = createRequire(import.meta.url)

/** A plain `Uint8Array` view of a `Buffer` (no copy), so callers never get `Buffer` semantics. */
function plain(b: Uint8Array): Uint8Array {
  return b.constructor === Uint8Array ? b : new Uint8Array(b.buffer, b.byteOffset, b.byteLength)
}

function loadNative(): SnappyCodec {
  const m = require('snappy') as NativeSnappy
  const codec: SnappyCodec = {
    backend: 'native',
    compress: (data) => plain(m.compressSync(data, { copyOutputData: true })),
    uncompress: (data) => {
      const out = m.uncompressSync(data, { asBuffer: true, copyOutputData: true })
      if (typeof out === 'string') throw new DecodeError('snappy', 'unexpected string output')
      return plain(out)
    },
  }
  // Self-test: a broken binding must not be discovered on the first peer message.
  const probe = Uint8Array.of(1, 2, 3, 1, 2, 3, 1, 2, 3)
  const back = codec.uncompress(codec.compress(probe))
  if (back.length !== probe.length || back.some((b, i) => b !== probe[i]))
    throw new Error('snappy self-test failed')
  return codec
}

function loadJs(): SnappyCodec {
  const m = require('snappyjs') as JsSnappy
  return {
    backend: 'js',
    // snappyjs returns a Buffer for Buffer input and a Uint8Array otherwise.
    compress: (data) => plain(m.compress(data)),
    // snappyjs's decoder neither checks that the output fills the declared length nor that it
    // stays inside it (it writes zeros, or drops bytes silently), so the fallback decodes with
    // our own strict decoder.
    uncompress: (data) => decodeSnappyBlock(data),
  }
}

function corrupt(message: string): DecodeError {
  return new DecodeError('snappy', `corrupt input: ${message}`)
}

/**
 * A strict snappy block decoder (the JS fallback): every element must stay inside the input and
 * the declared output, copies must point into what was already written, and the output must be
 * exactly the declared length. Callers check the declared length first ({@link checkSnappyLength}).
 */
export function decodeSnappyBlock(src: Uint8Array): Uint8Array {
  const { length, headerSize } = snappyDeclaredLength(src)
  const out = new Uint8Array(length)
  let s = headerSize
  let d = 0
  while (s < src.length) {
    const tag = src[s]!
    let len: number
    if ((tag & 3) === 0) {
      // Literal: length-1 in the tag's upper six bits, or in the next 1–4 bytes (little-endian).
      len = tag >>> 2
      s += 1
      if (len >= 60) {
        const nb = len - 59
        if (s + nb > src.length) throw corrupt('truncated literal length')
        len = 0
        for (let i = nb - 1; i >= 0; i--) len = len * 256 + src[s + i]!
        s += nb
      }
      len += 1
      if (len > src.length - s) throw corrupt('literal runs past the input')
      if (len > length - d) throw corrupt('literal runs past the declared length')
      out.set(src.subarray(s, s + len), d)
      s += len
      d += len
      continue
    }
    let offset: number
    if ((tag & 3) === 1) {
      if (s + 2 > src.length) throw corrupt('truncated copy')
      len = 4 + ((tag >>> 2) & 7)
      offset = ((tag & 0xe0) << 3) | src[s + 1]!
      s += 2
    } else if ((tag & 3) === 2) {
      if (s + 3 > src.length) throw corrupt('truncated copy')
      len = 1 + (tag >>> 2)
      offset = src[s + 1]! | (src[s + 2]! << 8)
      s += 3
    } else {
      if (s + 5 > src.length) throw corrupt('truncated copy')
      len = 1 + (tag >>> 2)
      offset = (src[s + 1]! | (src[s + 2]! << 8) | (src[s + 3]! << 16) | (src[s + 4]! << 24)) >>> 0
      s += 5
    }
    if (offset === 0 || offset > d) throw corrupt('copy offset outside the output')
    if (len > length - d) throw corrupt('copy runs past the declared length')
    if (offset >= len) out.copyWithin(d, d - offset, d - offset + len)
    else for (let i = 0; i < len; i++) out[d + i] = out[d + i - offset]!
    d += len
  }
  if (d !== length) throw corrupt(`decoded ${d} bytes, header declared ${length}`)
  return out
}

let jsCodec: SnappyCodec | undefined
let nativeCodec: SnappyCodec | undefined
let nativeLoadError: unknown

/** The pure-JS codec (`snappyjs`). */
export function jsSnappy(): SnappyCodec {
  jsCodec ??= loadJs()
  return jsCodec
}

/** The native codec, or `undefined` if the native module failed to load (see {@link snappyLoadError}). */
export function nativeSnappy(): SnappyCodec | undefined {
  if (nativeCodec === undefined && nativeLoadError === undefined) {
    try {
      nativeCodec = loadNative()
    } catch (err) {
      nativeLoadError = err
    }
  }
  return nativeCodec
}

/** Why the native codec failed to load, if it did. */
export function snappyLoadError(): unknown {
  return nativeLoadError
}

/** The default codec: native when it loads, else `snappyjs`. Set `DEVP2P_SNAPPY=js` to force JS. */
export function defaultSnappy(): SnappyCodec {
  if (process.env.DEVP2P_SNAPPY === 'js') return jsSnappy()
  return nativeSnappy() ?? jsSnappy()
}

/**
 * Read the uncompressed length from the varint at the start of a snappy block. Returns the
 * length and the size of the varint. Throws `DecodeError` for a missing, overlong or >32-bit one.
 */
export function snappyDeclaredLength(data: Uint8Array): { length: number; headerSize: number } {
  let n = 0
  for (let i = 0; i < 5; i++) {
    const b = data[i]
    if (b === undefined) throw new DecodeError('snappy', 'truncated length header')
    n += (b & 0x7f) * 2 ** (7 * i)
    if (b < 0x80) {
      if (n > 0xffffffff) throw new DecodeError('snappy', 'declared length overflows 32 bits')
      return { length: n, headerSize: i + 1 }
    }
  }
  throw new DecodeError('snappy', 'length header longer than 5 bytes')
}

/**
 * Check a snappy block's declared length against `maxSize` and against what its size can produce,
 * without decompressing. Returns the declared length. Throws `DecodeError`.
 */
export function checkSnappyLength(data: Uint8Array, maxSize = MAX_UNCOMPRESSED_SIZE): number {
  const { length, headerSize } = snappyDeclaredLength(data)
  if (length > maxSize)
    throw new DecodeError('snappy', `declared uncompressed length ${length} exceeds the limit of ${maxSize}`)
  const possible = Math.floor(((data.length - headerSize) * 64) / 3)
  if (length > possible)
    throw new DecodeError(
      'snappy',
      `declared length ${length} is impossible for ${data.length} compressed bytes`,
    )
  return length
}

/**
 * Decompress a snappy block after {@link checkSnappyLength}; the output must match the declared
 * length. Throws `DecodeError` for every malformed input.
 */
export function snappyDecompress(
  data: Uint8Array,
  maxSize = MAX_UNCOMPRESSED_SIZE,
  codec: SnappyCodec = defaultSnappy(),
): Uint8Array {
  const length = checkSnappyLength(data, maxSize)
  let out: Uint8Array
  try {
    out = codec.uncompress(data)
  } catch (err) {
    throw new DecodeError('snappy', `corrupt input: ${err instanceof Error ? err.message : String(err)}`, {
      cause: err,
    })
  }
  if (out.length !== length)
    throw new DecodeError('snappy', `decompressed ${out.length} bytes, header declared ${length}`)
  return out
}

/** Compress a message payload. Throws `RangeError` above {@link MAX_UNCOMPRESSED_SIZE}. */
export function snappyCompress(data: Uint8Array, codec: SnappyCodec = defaultSnappy()): Uint8Array {
  if (data.length > MAX_UNCOMPRESSED_SIZE)
    throw new RangeError(`message of ${data.length} bytes exceeds the limit of ${MAX_UNCOMPRESSED_SIZE}`)
  return codec.compress(data)
}

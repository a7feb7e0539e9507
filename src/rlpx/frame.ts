/**
 * The RLPx frame codec, pure: AES-256-CTR encryption and the legacy keccak MAC of frames, in both
 * directions, from one handshake's {@link FrameSecrets}. No I/O: `encodeFrame` returns the bytes to
 * send; reading is incremental so a connection can decide on a frame from its 32-byte header
 * (and its claimed size) before buffering the body.
 *
 * Frame layout:
 * ```
 * header-ct(16) || header-mac(16) || body-ct(ceil16(size)) || frame-mac(16)
 * header = size(3, big-endian) || c2 80 80 (RLP [0, 0]) || zero padding to 16
 * body   = RLP(msg-code) || payload, zero-padded to a multiple of 16; size excludes the padding
 * ```
 * Each direction runs one continuous AES-256-CTR keystream (key aes-secret, IV zero) over headers
 * and bodies. The MAC is a running keccak256 updated with AES-256-ECB(mac-secret) of its own
 * digest XOR a seed (the header ciphertext, or the digest itself for bodies); see
 * {@link FrameCodec}.
 *
 * Test seam: the MAC states are any {@link MacState}, so a test can inject a fake one (for
 * example go-ethereum's `TestFrameReadWrite`, whose digest is always 32 × 0x01).
 */
import {
  AES256_SCHEDULE_WORDS,
  type AesCtrStream,
  aesEcbEncryptBlockInto,
  aesEcbKeySchedule,
  createAesCtrAt,
  KECCAK_STATE_BYTES,
  KeccakState,
} from '../crypto/index.js'
import { assertBytes, DecodeError } from '../util/index.js'

/** Largest frame size (RLP(code) + payload) the 3-byte header can carry: 2^24 − 1. */
export const MAX_FRAME_SIZE = 0xffffff
/** Size of an encrypted header plus its MAC. */
export const FRAME_HEADER_SIZE = 32
/** Size of a MAC on the wire. */
export const FRAME_MAC_SIZE = 16

/** The header-data every frame carries: RLP [0, 0] (capability-id and context-id, unused). */
const HEADER_DATA = Uint8Array.of(0xc2, 0x80, 0x80)
const ZERO_IV = new Uint8Array(16)
/**
 * Scratch of the MAC steps, shared by every codec (all use is synchronous): the running digest and
 * the seed block. A frame's four MAC steps then allocate nothing.
 */
const DIGEST = new Uint8Array(32)
const SEED = new Uint8Array(16)
/** The reading state between frames (shared: it holds nothing). */
const READ_HEADER = { kind: 'header' } as const

/**
 * Layout of the one array a codec keeps its secrets and MAC states in (a typed array and its
 * buffer cost about 180 B of heap each, and a backing store outside it: a connection keeps one
 * buffer, not four): the two MAC states, the MAC's AES key schedule (4-byte aligned), and the
 * AES-CTR key.
 */
const EGRESS_MAC_AT = 0
const INGRESS_MAC_AT = KECCAK_STATE_BYTES
const SCHEDULE_AT = 2 * KECCAK_STATE_BYTES
const AES_KEY_AT = SCHEDULE_AT + 4 * AES256_SCHEDULE_WORDS
const STORE_BYTES = AES_KEY_AT + 32

/**
 * A running hash for the frame MAC: `update` absorbs, `digest` returns the digest of everything
 * absorbed so far **without ending the state**. `KeccakState` from `crypto` implements it.
 */
export interface MacState {
  update(data: Uint8Array): unknown
  digest(): Uint8Array
  /** Optional: the digest into `out[0..32)` without allocating (`KeccakState` has it). */
  digestInto?(out: Uint8Array): void
}

/** What a {@link FrameCodec} needs from the handshake (a `SessionSecrets` has all of it). */
export interface FrameSecrets {
  /** 32-byte AES-256-CTR key. */
  readonly aesSecret: Uint8Array
  /** 32-byte AES-256-ECB key of the MAC. */
  readonly macSecret: Uint8Array
  readonly egressMac: MacState
  readonly ingressMac: MacState
}

/** A header or frame MAC did not match: the connection is corrupt or under attack. Never retried. */
export class FrameMacError extends DecodeError {
  /** Which MAC failed. */
  readonly part: 'header' | 'frame'
  constructor(part: 'header' | 'frame') {
    super('rlpx-frame', `bad ${part} MAC`)
    this.part = part
  }
}

/** A decoded frame header. */
export interface FrameHeader {
  /** Length of RLP(code) || payload, without padding. */
  readonly frameSize: number
  /** Bytes that follow the header on the wire: padded body plus frame MAC. */
  readonly bodyLength: number
}

/** A decoded message: its code and the (still compressed, if snappy is on) payload. */
export interface FrameMessage {
  readonly code: number
  readonly payload: Uint8Array
}

/** Copy `src[0..16)` to `dst[at..at+16)`. */
function copy16(src: Uint8Array, dst: Uint8Array, at: number): void {
  for (let i = 0; i < 16; i++) dst[at + i] = src[i]!
}

/** `mac[0..16)` equals `bytes[at..at+16)`, in constant time. */
function equal16(mac: Uint8Array, bytes: Uint8Array, at: number): boolean {
  let d = 0
  for (let i = 0; i < 16; i++) d |= mac[i]! ^ bytes[at + i]!
  return d === 0
}

/** Padded body length plus the frame MAC for a frame size. */
export function frameBodyLength(frameSize: number): number {
  return ((frameSize + 15) & ~15) + FRAME_MAC_SIZE
}

/** RLP encoding of a message code (a canonical unsigned integer; 0 is 0x80). */
export function encodeMsgCode(code: number): Uint8Array {
  if (!Number.isSafeInteger(code) || code < 0) throw new RangeError(`message code ${code} is not a uint`)
  if (code === 0) return Uint8Array.of(0x80)
  if (code < 0x80) return Uint8Array.of(code)
  const bytes: number[] = []
  for (let n = code; n > 0; n = Math.floor(n / 256)) bytes.unshift(n % 256)
  return Uint8Array.of(0x80 + bytes.length, ...bytes)
}

/**
 * Decode the RLP message code at the start of a frame; returns the code and its encoded length.
 * Strict (canonical integers only), as go-ethereum. Throws `DecodeError`.
 */
export function decodeMsgCode(frame: Uint8Array): { code: number; length: number } {
  const b0 = frame[0]
  if (b0 === undefined) throw new DecodeError('rlpx-frame', 'empty frame')
  if (b0 === 0) throw new DecodeError('rlpx-frame', 'message code: non-canonical zero')
  if (b0 < 0x80) return { code: b0, length: 1 }
  const n = b0 - 0x80
  if (n > 6) throw new DecodeError('rlpx-frame', 'message code: not a small integer')
  if (frame.length < 1 + n) throw new DecodeError('rlpx-frame', 'message code: truncated')
  if (n === 0) return { code: 0, length: 1 }
  if (frame[1] === 0) throw new DecodeError('rlpx-frame', 'message code: leading zero')
  if (n === 1 && frame[1]! < 0x80)
    throw new DecodeError('rlpx-frame', 'message code: non-canonical single byte')
  let code = 0
  for (let i = 1; i <= n; i++) code = code * 256 + frame[i]!
  return { code, length: 1 + n }
}

/**
 * Encrypts and authenticates frames in one direction and checks and decrypts them in the other.
 * One instance per connection; it is stateful (keystreams and MACs advance with every frame), so
 * frames must be encoded in the order they are sent and decoded in the order they arrive.
 *
 * Reading is in two steps: {@link decodeHeader} on the first 32 bytes gives the body length,
 * then {@link decodeBody} on exactly that many bytes gives the message. After any decode error
 * the reading side stays failed (the MAC state is out of step); the writing side still works.
 */
export class FrameCodec {
  /** Secrets and MAC states, laid out as {@link STORE_BYTES} describes. */
  private readonly store: Uint8Array
  /** The MAC's AES-256 key schedule, a view into {@link store}. */
  private readonly schedule: Uint32Array
  /**
   * The AES-CTR keystreams (one key from a zero IV for both directions, each with its own
   * counter): undefined while released (see {@link releaseIfIdle}), rebuilt at the counter.
   */
  private egressCtr: AesCtrStream | undefined = undefined
  private ingressCtr: AesCtrStream | undefined = undefined
  /** 16-byte blocks of keystream used in each direction. */
  private egressBlocks = 0
  private ingressBlocks = 0
  /** A frame was encoded or decoded since the last {@link releaseIfIdle}. */
  private used = false
  private readonly egressMac: MacState
  private readonly ingressMac: MacState
  private read:
    | { readonly kind: 'header' }
    | { readonly kind: 'body'; readonly frameSize: number; readonly bodyLength: number }
    | { readonly kind: 'failed'; readonly error: DecodeError } = READ_HEADER

  constructor(secrets: FrameSecrets) {
    assertBytes('aesSecret', secrets.aesSecret, 32)
    assertBytes('macSecret', secrets.macSecret, 32)
    const store = new Uint8Array(STORE_BYTES)
    this.store = store
    store.set(secrets.aesSecret, AES_KEY_AT)
    this.schedule = aesEcbKeySchedule(
      secrets.macSecret,
      new Uint32Array(store.buffer, SCHEDULE_AT, AES256_SCHEDULE_WORDS),
    )
    // Keccak states move into the store (the handshake's array is then garbage); any other
    // MacState (a test's) is used as given.
    const e = secrets.egressMac
    const i = secrets.ingressMac
    this.egressMac = e instanceof KeccakState ? e.clone(store, EGRESS_MAC_AT) : e
    this.ingressMac = i instanceof KeccakState ? i.clone(store, INGRESS_MAC_AT) : i
  }

  /** XOR the next egress keystream into `data` (whole blocks); returns a new array. */
  private egressXor(data: Uint8Array): Uint8Array {
    this.egressCtr ??= createAesCtrAt(this.aesKey(), ZERO_IV, this.egressBlocks)
    this.egressBlocks += data.length / 16
    return this.egressCtr.update(data)
  }

  /** As {@link egressXor}, for the ingress keystream. */
  private ingressXor(data: Uint8Array): Uint8Array {
    this.ingressCtr ??= createAesCtrAt(this.aesKey(), ZERO_IV, this.ingressBlocks)
    this.ingressBlocks += data.length / 16
    return this.ingressCtr.update(data)
  }

  /** The AES-CTR key (a new view: only needed when a released keystream is rebuilt). */
  private aesKey(): Uint8Array {
    return this.store.subarray(AES_KEY_AT, AES_KEY_AT + 32)
  }

  /** The MAC's running digest: the shared {@link DIGEST} when the state can write into it. */
  private static digestOf(mac: MacState): Uint8Array {
    if (mac.digestInto === undefined) return mac.digest()
    mac.digestInto(DIGEST)
    return DIGEST
  }

  /**
   * Header MAC: absorb ECB(digest[0:16]) XOR header-ct; returns the new digest, whose first 16
   * bytes are the MAC (valid until the next MAC step of any codec).
   */
  private headerMac(mac: MacState, headerCt: Uint8Array): Uint8Array {
    aesEcbEncryptBlockInto(this.schedule, FrameCodec.digestOf(mac), SEED)
    for (let i = 0; i < 16; i++) SEED[i] = SEED[i]! ^ headerCt[i]!
    mac.update(SEED)
    return FrameCodec.digestOf(mac)
  }

  /** Frame MAC: absorb body-ct, then ECB(d) XOR d for d = digest[0:16]; returns as {@link headerMac}. */
  private frameMac(mac: MacState, bodyCt: Uint8Array): Uint8Array {
    mac.update(bodyCt)
    const d = FrameCodec.digestOf(mac)
    aesEcbEncryptBlockInto(this.schedule, d, SEED)
    for (let i = 0; i < 16; i++) SEED[i] = SEED[i]! ^ d[i]!
    mac.update(SEED)
    return FrameCodec.digestOf(mac)
  }

  /**
   * Encode one message as a frame: `RLP(code) || payload`, encrypted and MACed. Throws
   * `RangeError` when the frame would exceed {@link MAX_FRAME_SIZE}.
   */
  encodeFrame(code: number, payload: Uint8Array): Uint8Array {
    const ptype = encodeMsgCode(code)
    const frameSize = ptype.length + payload.length
    if (frameSize > MAX_FRAME_SIZE)
      throw new RangeError(`frame of ${frameSize} bytes exceeds the limit of ${MAX_FRAME_SIZE}`)
    const padded = (frameSize + 15) & ~15
    const out = new Uint8Array(FRAME_HEADER_SIZE + padded + FRAME_MAC_SIZE)

    // The plaintext header and padded body, contiguous at 16..32+padded (where the header MAC
    // and the body go), so that one call of the keystream, which runs on from the header into
    // the body, encrypts both. Then the ciphertext is put in place around the header MAC.
    out[16] = frameSize >>> 16
    out[17] = (frameSize >>> 8) & 0xff
    out[18] = frameSize & 0xff
    out.set(HEADER_DATA, 19)
    out.set(ptype, FRAME_HEADER_SIZE)
    out.set(payload, FRAME_HEADER_SIZE + ptype.length)
    this.used = true
    const ct = this.egressXor(out.subarray(16, FRAME_HEADER_SIZE + padded))
    const headerCt = ct.subarray(0, 16)
    const bodyCt = ct.subarray(16)
    out.set(headerCt, 0)
    copy16(this.headerMac(this.egressMac, headerCt), out, 16)
    out.set(bodyCt, FRAME_HEADER_SIZE)
    copy16(this.frameMac(this.egressMac, bodyCt), out, FRAME_HEADER_SIZE + padded)
    return out
  }

  private failRead(error: DecodeError): never {
    this.read = { kind: 'failed', error }
    throw error
  }

  /**
   * Check and decrypt a 32-byte frame header (MAC verified before decryption). Returns the frame
   * size and the number of body bytes to read next. Throws {@link FrameMacError} or `DecodeError`.
   */
  decodeHeader(header: Uint8Array): FrameHeader {
    if (this.read.kind === 'failed') throw this.read.error
    if (this.read.kind !== 'header') throw new Error('decodeHeader called while a body is expected')
    if (header.length !== FRAME_HEADER_SIZE)
      this.failRead(
        new DecodeError('rlpx-frame', `header must be ${FRAME_HEADER_SIZE} bytes, got ${header.length}`),
      )
    const headerCt = header.subarray(0, 16)
    if (!equal16(this.headerMac(this.ingressMac, headerCt), header, 16))
      this.failRead(new FrameMacError('header'))
    this.used = true
    const plain = this.ingressXor(headerCt)
    // The header-data (bytes 3..16) is ignored, as go-ethereum does.
    const frameSize = (plain[0]! << 16) | (plain[1]! << 8) | plain[2]!
    if (frameSize === 0) this.failRead(new DecodeError('rlpx-frame', 'frame size 0'))
    const bodyLength = frameBodyLength(frameSize)
    this.read = { kind: 'body', frameSize, bodyLength }
    return { frameSize, bodyLength }
  }

  /**
   * Check and decrypt a frame body (padded ciphertext plus frame MAC: exactly the `bodyLength`
   * the header announced). Returns the code and the payload. Throws `FrameMacError`/`DecodeError`.
   */
  decodeBody(body: Uint8Array): FrameMessage {
    const r = this.read
    if (r.kind === 'failed') throw r.error
    if (r.kind !== 'body') throw new Error('decodeBody called before decodeHeader')
    if (body.length !== r.bodyLength)
      this.failRead(new DecodeError('rlpx-frame', `body must be ${r.bodyLength} bytes, got ${body.length}`))
    const split = r.bodyLength - FRAME_MAC_SIZE
    const bodyCt = body.subarray(0, split)
    if (!equal16(this.frameMac(this.ingressMac, bodyCt), body, split))
      this.failRead(new FrameMacError('frame'))
    const frame = this.ingressXor(bodyCt).subarray(0, r.frameSize)
    let code: { code: number; length: number }
    try {
      code = decodeMsgCode(frame)
    } catch (err) {
      this.failRead(err as DecodeError)
    }
    this.read = READ_HEADER
    return { code: code.code, payload: frame.subarray(code.length) }
  }

  /** Whether an AES-CTR context is held now (see {@link releaseIfIdle}). */
  get holdsCiphers(): boolean {
    return this.egressCtr !== undefined || this.ingressCtr !== undefined
  }

  /**
   * Idle connections keep no cipher contexts: when no frame was encoded or decoded since the
   * previous call, drop both AES-CTR contexts (they are rebuilt at their counters on the next
   * frame). Returns whether a context is still held, that is whether calling again later can
   * release more. The connection calls it periodically while it waits for frames.
   */
  releaseIfIdle(): boolean {
    if (!this.used) {
      this.egressCtr = undefined
      this.ingressCtr = undefined
    }
    this.used = false
    return this.holdsCiphers
  }

  /**
   * Decode one complete frame at the start of `bytes` (header and body together) and return the
   * message and the number of bytes consumed. A truncated frame is a `DecodeError`. For tests and
   * tools; connections use {@link decodeHeader} and {@link decodeBody}.
   */
  decodeFrame(bytes: Uint8Array): FrameMessage & { consumed: number } {
    const h = this.decodeHeader(bytes.subarray(0, FRAME_HEADER_SIZE))
    const end = FRAME_HEADER_SIZE + h.bodyLength
    if (bytes.length < end) this.failRead(new DecodeError('rlpx-frame', 'truncated frame'))
    const m = this.decodeBody(bytes.subarray(FRAME_HEADER_SIZE, end))
    return { ...m, consumed: end }
  }
}

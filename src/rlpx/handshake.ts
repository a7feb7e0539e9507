/**
 * The RLPx encryption handshake (the "auth" and "ack" exchange), as pure functions and two small
 * state holders over bytes: {@link InitiatorHandshake} (the dialer) and {@link RecipientHandshake}
 * (the listener). No sockets and no clock here; randomness is injected. `conn.ts` drives these over
 * a stream with {@link readHandshakePacket}.
 *
 * Formats:
 * - EIP-8 (what we send): `size(2, big-endian) || ECIES(remote static key, RLP body || padding)`,
 *   with the two size bytes as the ECIES shared MAC data. We pad with 100–300 zero bytes.
 * - pre-EIP-8 ("legacy"): fixed-size plaintexts, 307-byte auth and 210-byte ack ciphertexts, no
 *   prefix. Accepted from peers (both roles) and sendable on request, for old peers and tests;
 *   go-ethereum dropped it in 2021.
 *
 * Forward compatibility: a different version, extra list elements and bytes after the RLP list
 * are all accepted; the extra elements are kept in `rest`.
 *
 * Every failure to read a peer's packet is a `HandshakeError('enc', …)` whose `cause` is the
 * underlying `DecodeError` (bad MAC, bad point, bad signature, malformed RLP, bad size).
 */
import {
  ECIES_OVERHEAD,
  type EciesEphemeral,
  ecdh,
  eciesDecrypt,
  eciesEncrypt,
  eciesEphemeral,
  generatePrivateKey,
  type KeccakState,
  keccak256,
  keccakStatePair,
  publicKeyFromPrivate,
  recoverPublicKey,
  sign,
} from '../crypto/index.js'
import { decodeWithRest, encode, type RlpValue } from '../rlp/index.js'
import {
  assertBytes,
  concatBytes,
  DecodeError,
  equalBytes,
  HandshakeError,
  type RandomSource,
  secureRandom,
  xorBytes,
} from '../util/index.js'

/** Size of a pre-EIP-8 auth packet (194-byte plaintext + ECIES overhead). */
export const AUTH_LEGACY_SIZE = 307
/** Size of a pre-EIP-8 ack packet (97-byte plaintext + ECIES overhead). */
export const ACK_LEGACY_SIZE = 210
/**
 * Largest accepted EIP-8 size prefix (the ciphertext length, excluding the two prefix bytes).
 * go-ethereum rejects handshake messages above 2048 bytes (p2p/rlpx, since 2024-06).
 */
export const MAX_HANDSHAKE_SIZE = 2048
/** Smallest random padding we add to an EIP-8 packet (EIP-8: at least 100 bytes). */
export const MIN_EIP8_PADDING = 100
/** Largest random padding we add to an EIP-8 packet (EIP-8 recommends 100–300). */
export const MAX_EIP8_PADDING = 300
/** The handshake version we send. Received versions are ignored. */
export const HANDSHAKE_VERSION = 4

const SIG_LEN = 65
const PUB_LEN = 64
const NONCE_LEN = 32
const AUTH_LEGACY_PLAIN = SIG_LEN + 32 + PUB_LEN + NONCE_LEN + 1 // 194
const ACK_LEGACY_PLAIN = PUB_LEN + NONCE_LEN + 1 // 97

/** Wire format of a handshake packet. */
export type HandshakeFormat = 'eip8' | 'legacy'

/** A decoded auth message (initiator → recipient). */
export interface AuthMessage {
  readonly format: HandshakeFormat
  /** 65 bytes `r||s||v`: the initiator's ephemeral key signing `static-shared-secret XOR nonce`. */
  readonly signature: Uint8Array
  /** The initiator's static public key, 64 bytes. */
  readonly initiatorPublicKey: Uint8Array
  /** The initiator's nonce, 32 bytes. */
  readonly initiatorNonce: Uint8Array
  /** The version the peer sent (legacy packets carry none: reported as 4). */
  readonly version: number
  /** Extra EIP-8 list elements after the version, kept as decoded. */
  readonly rest: readonly RlpValue[]
}

/** A decoded ack message (recipient → initiator). */
export interface AckMessage {
  readonly format: HandshakeFormat
  /** The recipient's ephemeral public key, 64 bytes. */
  readonly recipientEphemeralPublicKey: Uint8Array
  /** The recipient's nonce, 32 bytes. */
  readonly recipientNonce: Uint8Array
  readonly version: number
  readonly rest: readonly RlpValue[]
}

/** The session secrets both sides derive; the input of a `FrameCodec`. */
export interface SessionSecrets {
  /** The remote side's static public key (64 bytes), authenticated by the handshake. */
  readonly remotePublicKey: Uint8Array
  /** x-coordinate of ECDH between the two ephemeral keys. */
  readonly ephemeralSharedSecret: Uint8Array
  /** keccak256(ephemeral-key || keccak256(recipient-nonce || initiator-nonce)). */
  readonly sharedSecret: Uint8Array
  /** keccak256(ephemeral-key || shared-secret): the AES-256-CTR frame key. */
  readonly aesSecret: Uint8Array
  /** keccak256(ephemeral-key || aes-secret): the AES-256-ECB MAC key. */
  readonly macSecret: Uint8Array
  /** Running keccak256 authenticating what this side sends. */
  readonly egressMac: KeccakState
  /** Running keccak256 authenticating what this side receives. */
  readonly ingressMac: KeccakState
}

/** Keys and randomness of one side. Ephemeral key and nonce are drawn from `random` if absent. */
export interface HandshakeKeys {
  /** Our static private key (32 bytes). */
  readonly privateKey: Uint8Array
  /** Our ephemeral private key (tests and vectors); default: fresh from `random`. */
  readonly ephemeralPrivateKey?: Uint8Array
  /** Our 32-byte nonce (tests and vectors); default: fresh from `random`. */
  readonly nonce?: Uint8Array
  /** Randomness for keys, nonce, padding length and ECIES; default: `secureRandom`. */
  readonly random?: RandomSource
}

function fail(message: string, cause?: unknown): HandshakeError {
  return new HandshakeError('enc', message, cause === undefined ? undefined : { cause })
}

/** Run `fn`, turning any decode failure into a `HandshakeError('enc')` with the cause kept. */
function guard<T>(what: string, fn: () => T): T {
  try {
    return fn()
  } catch (err) {
    if (err instanceof HandshakeError) throw err
    throw fail(`${what}: ${err instanceof Error ? err.message : String(err)}`, err)
  }
}

function bytesField(what: string, v: RlpValue | undefined, length: number): Uint8Array {
  if (!(v instanceof Uint8Array)) throw new DecodeError(what, 'expected a byte string')
  if (v.length !== length) throw new DecodeError(what, `expected ${length} bytes, got ${v.length}`)
  return v
}

/** A version number, read leniently as a byte string of whatever content (the value is ignored by the protocol). */
function versionField(what: string, v: RlpValue | undefined): number {
  if (!(v instanceof Uint8Array)) throw new DecodeError(what, 'version: expected a byte string')
  if (v.length > 6) throw new DecodeError(what, 'version: too large')
  let n = 0
  for (const b of v) n = n * 256 + b
  return n
}

function u16(n: number): Uint8Array {
  return Uint8Array.of((n >>> 8) & 0xff, n & 0xff)
}

// ---------------------------------------------------------------------------------------------
// Sealing and opening packets

/**
 * ECIES-seal an EIP-8 body: `size || ECIES(remote, body || padding, size)`, with `ephemeral` as
 * ECIES' key pair when given (else a fresh one).
 */
export function sealEip8(
  body: Uint8Array,
  remotePublicKey: Uint8Array,
  random: RandomSource = secureRandom,
  paddingLength?: number,
  ephemeral?: EciesEphemeral,
): Uint8Array {
  const pad = paddingLength ?? MIN_EIP8_PADDING + random.int(MAX_EIP8_PADDING - MIN_EIP8_PADDING + 1)
  const plain = new Uint8Array(body.length + pad)
  plain.set(body)
  const size = plain.length + ECIES_OVERHEAD
  if (size > MAX_HANDSHAKE_SIZE) throw new RangeError(`handshake packet of ${size} bytes is too large`)
  const prefix = u16(size)
  return concatBytes(prefix, eciesEncrypt(remotePublicKey, plain, prefix, random, ephemeral))
}

/**
 * Decrypt a handshake packet with our static key. EIP-8 packets are `prefix || ciphertext`;
 * legacy packets are the bare ciphertext. Throws `DecodeError` (also for size violations).
 */
export function openPacket(privateKey: Uint8Array, packet: Uint8Array, format: HandshakeFormat): Uint8Array {
  if (format === 'legacy') return eciesDecrypt(privateKey, packet)
  if (packet.length < 2) throw new DecodeError('rlpx-handshake', 'packet shorter than its size prefix')
  const size = (packet[0]! << 8) | packet[1]!
  if (size > MAX_HANDSHAKE_SIZE)
    throw new DecodeError('rlpx-handshake', `size ${size} exceeds ${MAX_HANDSHAKE_SIZE}`)
  if (size !== packet.length - 2)
    throw new DecodeError('rlpx-handshake', `size prefix ${size} does not match ${packet.length - 2} bytes`)
  return eciesDecrypt(privateKey, packet.subarray(2), packet.subarray(0, 2))
}

// ---------------------------------------------------------------------------------------------
// Auth and ack bodies

/** The EIP-8 auth body `RLP[sig, initiator-pubkey, nonce, version]`. */
export function encodeAuthBody(signature: Uint8Array, publicKey: Uint8Array, nonce: Uint8Array): Uint8Array {
  return encode([signature, publicKey, nonce, Uint8Array.of(HANDSHAKE_VERSION)])
}

/** The legacy auth plaintext `sig || keccak256(eph-pub) || pubkey || nonce || 0x00` (194 bytes). */
export function encodeAuthLegacy(
  signature: Uint8Array,
  ephemeralPublicKey: Uint8Array,
  publicKey: Uint8Array,
  nonce: Uint8Array,
): Uint8Array {
  return concatBytes(signature, keccak256(ephemeralPublicKey), publicKey, nonce, Uint8Array.of(0))
}

/** The EIP-8 ack body `RLP[eph-pubkey, nonce, version]`. */
export function encodeAckBody(ephemeralPublicKey: Uint8Array, nonce: Uint8Array): Uint8Array {
  return encode([ephemeralPublicKey, nonce, Uint8Array.of(HANDSHAKE_VERSION)])
}

/** The legacy ack plaintext `eph-pubkey || nonce || 0x00` (97 bytes). */
export function encodeAckLegacy(ephemeralPublicKey: Uint8Array, nonce: Uint8Array): Uint8Array {
  return concatBytes(ephemeralPublicKey, nonce, Uint8Array.of(0))
}

/** Parse a decrypted auth plaintext. Throws `DecodeError`. */
export function decodeAuthPlaintext(plain: Uint8Array, format: HandshakeFormat): AuthMessage {
  if (format === 'legacy') {
    if (plain.length !== AUTH_LEGACY_PLAIN)
      throw new DecodeError(
        'rlpx-auth',
        `legacy plaintext must be ${AUTH_LEGACY_PLAIN} bytes, got ${plain.length}`,
      )
    // Bytes 65..97 hold keccak256 of the ephemeral key; like go-ethereum we skip them: the
    // signature recovery authenticates the key.
    return {
      format,
      signature: plain.slice(0, SIG_LEN),
      initiatorPublicKey: plain.slice(SIG_LEN + 32, SIG_LEN + 32 + PUB_LEN),
      initiatorNonce: plain.slice(SIG_LEN + 32 + PUB_LEN, SIG_LEN + 32 + PUB_LEN + NONCE_LEN),
      version: HANDSHAKE_VERSION,
      rest: [],
    }
  }
  // Only the first RLP item counts: random padding follows it.
  const { value } = decodeWithRest(plain)
  if (!Array.isArray(value)) throw new DecodeError('rlpx-auth', 'body is not a list')
  if (value.length < 4) throw new DecodeError('rlpx-auth', `body has ${value.length} elements, need 4`)
  return {
    format,
    signature: bytesField('rlpx-auth signature', value[0], SIG_LEN),
    initiatorPublicKey: bytesField('rlpx-auth public key', value[1], PUB_LEN),
    initiatorNonce: bytesField('rlpx-auth nonce', value[2], NONCE_LEN),
    version: versionField('rlpx-auth', value[3]),
    rest: value.slice(4),
  }
}

/** Parse a decrypted ack plaintext. Throws `DecodeError`. */
export function decodeAckPlaintext(plain: Uint8Array, format: HandshakeFormat): AckMessage {
  if (format === 'legacy') {
    if (plain.length !== ACK_LEGACY_PLAIN)
      throw new DecodeError(
        'rlpx-ack',
        `legacy plaintext must be ${ACK_LEGACY_PLAIN} bytes, got ${plain.length}`,
      )
    return {
      format,
      recipientEphemeralPublicKey: plain.slice(0, PUB_LEN),
      recipientNonce: plain.slice(PUB_LEN, PUB_LEN + NONCE_LEN),
      version: HANDSHAKE_VERSION,
      rest: [],
    }
  }
  const { value } = decodeWithRest(plain)
  if (!Array.isArray(value)) throw new DecodeError('rlpx-ack', 'body is not a list')
  if (value.length < 3) throw new DecodeError('rlpx-ack', `body has ${value.length} elements, need 3`)
  return {
    format,
    recipientEphemeralPublicKey: bytesField('rlpx-ack ephemeral key', value[0], PUB_LEN),
    recipientNonce: bytesField('rlpx-ack nonce', value[1], NONCE_LEN),
    version: versionField('rlpx-ack', value[2]),
    rest: value.slice(3),
  }
}

/** Decrypt and parse an auth packet with the recipient's static key. Throws `HandshakeError`. */
export function decodeAuth(privateKey: Uint8Array, packet: Uint8Array, format: HandshakeFormat): AuthMessage {
  return guard('auth', () => decodeAuthPlaintext(openPacket(privateKey, packet, format), format))
}

/** Decrypt and parse an ack packet with the initiator's static key. Throws `HandshakeError`. */
export function decodeAck(privateKey: Uint8Array, packet: Uint8Array, format: HandshakeFormat): AckMessage {
  return guard('ack', () => decodeAckPlaintext(openPacket(privateKey, packet, format), format))
}

// ---------------------------------------------------------------------------------------------
// Secrets

/** Inputs of {@link deriveSecrets}. */
export interface SecretInputs {
  /** True on the initiator (dialer) side. */
  readonly initiator: boolean
  readonly ephemeralPrivateKey: Uint8Array
  readonly remoteEphemeralPublicKey: Uint8Array
  readonly initiatorNonce: Uint8Array
  readonly recipientNonce: Uint8Array
  /** The auth packet exactly as sent, including an EIP-8 size prefix. */
  readonly authPacket: Uint8Array
  /** The ack packet exactly as sent, including an EIP-8 size prefix. */
  readonly ackPacket: Uint8Array
  readonly remotePublicKey: Uint8Array
}

/**
 * Derive the session secrets and the initial MAC states. The initiator's egress MAC absorbs
 * `(mac-secret XOR recipient-nonce) || auth`, its ingress MAC `(mac-secret XOR initiator-nonce) ||
 * ack`; the recipient's are swapped. Throws `DecodeError` for an invalid remote ephemeral key.
 */
export function deriveSecrets(i: SecretInputs): SessionSecrets {
  const ephemeralSharedSecret = ecdh(i.ephemeralPrivateKey, i.remoteEphemeralPublicKey)
  const sharedSecret = keccak256(ephemeralSharedSecret, keccak256(i.recipientNonce, i.initiatorNonce))
  const aesSecret = keccak256(ephemeralSharedSecret, sharedSecret)
  const macSecret = keccak256(ephemeralSharedSecret, aesSecret)
  // Both MAC states live as long as the connection: one buffer holds the two.
  const [authMac, ackMac] = keccakStatePair()
  authMac.update(xorBytes(macSecret, i.recipientNonce)).update(i.authPacket)
  ackMac.update(xorBytes(macSecret, i.initiatorNonce)).update(i.ackPacket)
  return {
    remotePublicKey: i.remotePublicKey,
    ephemeralSharedSecret,
    sharedSecret,
    aesSecret,
    macSecret,
    egressMac: i.initiator ? authMac : ackMac,
    ingressMac: i.initiator ? ackMac : authMac,
  }
}

// ---------------------------------------------------------------------------------------------
// The two sides

/**
 * Public keys of the static private keys handshakes were run with, keyed by the key's array
 * (a node uses one static key for every connection; deriving its public key costs a scalar
 * multiplication). An entry is only used while the array still holds the key it was computed
 * from, checked by a hash of it (so no copy of the key is kept). Never used for ephemeral keys.
 */
const staticPublicKeys = new WeakMap<Uint8Array, { readonly keyHash: Uint8Array; readonly pub: Uint8Array }>()

function staticPublicKey(priv: Uint8Array): Uint8Array {
  const keyHash = keccak256(priv)
  const hit = staticPublicKeys.get(priv)
  if (hit !== undefined && equalBytes(hit.keyHash, keyHash)) return hit.pub
  const pub = publicKeyFromPrivate(priv)
  staticPublicKeys.set(priv, { keyHash, pub })
  return pub
}

function sideKeys(k: HandshakeKeys): {
  priv: Uint8Array
  eph: Uint8Array
  nonce: Uint8Array
  rand: RandomSource
} {
  assertBytes('privateKey', k.privateKey, 32)
  const rand = k.random ?? secureRandom
  const eph = k.ephemeralPrivateKey ?? generatePrivateKey(rand)
  assertBytes('ephemeralPrivateKey', eph, 32)
  const nonce = k.nonce ?? rand.bytes(NONCE_LEN)
  assertBytes('nonce', nonce, NONCE_LEN)
  return { priv: k.privateKey, eph, nonce, rand }
}

/**
 * The initiator's side: {@link InitiatorHandshake.makeAuth}, send it, then
 * {@link InitiatorHandshake.readAck} with the received packet to get the session secrets.
 */
export class InitiatorHandshake {
  /** The recipient's static public key (64 bytes). */
  readonly remotePublicKey: Uint8Array
  /** Our nonce. */
  readonly nonce: Uint8Array
  private readonly priv: Uint8Array
  private readonly eph: Uint8Array
  private readonly rand: RandomSource
  private authPacket: Uint8Array | undefined

  constructor(keys: HandshakeKeys & { readonly remotePublicKey: Uint8Array }) {
    assertBytes('remotePublicKey', keys.remotePublicKey, PUB_LEN)
    const k = sideKeys(keys)
    this.remotePublicKey = keys.remotePublicKey
    this.priv = k.priv
    this.eph = k.eph
    this.nonce = k.nonce
    this.rand = k.rand
  }

  /**
   * Build the auth packet (EIP-8 by default; `legacy` only for old peers and tests). Throws
   * `HandshakeError` if the remote key is not a valid point.
   */
  makeAuth(format: HandshakeFormat = 'eip8', paddingLength?: number): Uint8Array {
    const packet = guard('auth', () => {
      const token = ecdh(this.priv, this.remotePublicKey)
      const signature = sign(xorBytes(token, this.nonce), this.eph)
      const pub = staticPublicKey(this.priv)
      if (format === 'legacy') {
        const plain = encodeAuthLegacy(signature, publicKeyFromPrivate(this.eph), pub, this.nonce)
        return eciesEncrypt(this.remotePublicKey, plain, undefined, this.rand)
      }
      return sealEip8(
        encodeAuthBody(signature, pub, this.nonce),
        this.remotePublicKey,
        this.rand,
        paddingLength,
      )
    })
    this.authPacket = packet
    return packet
  }

  /** Read the recipient's ack packet (as received) and derive the secrets. Throws `HandshakeError`. */
  readAck(packet: Uint8Array, format: HandshakeFormat): { ack: AckMessage; secrets: SessionSecrets } {
    const auth = this.authPacket
    if (auth === undefined) throw new Error('readAck called before makeAuth')
    const ack = decodeAck(this.priv, packet, format)
    const secrets = guard('ack', () =>
      deriveSecrets({
        initiator: true,
        ephemeralPrivateKey: this.eph,
        remoteEphemeralPublicKey: ack.recipientEphemeralPublicKey,
        initiatorNonce: this.nonce,
        recipientNonce: ack.recipientNonce,
        authPacket: auth,
        ackPacket: packet,
        remotePublicKey: this.remotePublicKey,
      }),
    )
    return { ack, secrets }
  }
}

/**
 * The recipient's side: {@link RecipientHandshake.readAuth} with the received packet, then
 * {@link RecipientHandshake.makeAck} (answers in the format of the auth), then
 * {@link RecipientHandshake.secrets}.
 */
export class RecipientHandshake {
  /** Our nonce. */
  readonly nonce: Uint8Array
  private readonly priv: Uint8Array
  private readonly eph: Uint8Array
  private readonly ephPub: Uint8Array
  /** ECIES key pair of the ack (used once). */
  private readonly ackEcies: EciesEphemeral
  private readonly rand: RandomSource
  private state:
    | { readonly kind: 'awaiting-auth' }
    | {
        readonly kind: 'got-auth'
        readonly auth: AuthMessage
        readonly authPacket: Uint8Array
        readonly remoteEphemeralPublicKey: Uint8Array
      }
    | {
        readonly kind: 'acked'
        readonly auth: AuthMessage
        readonly authPacket: Uint8Array
        readonly remoteEphemeralPublicKey: Uint8Array
        readonly ackPacket: Uint8Array
      } = { kind: 'awaiting-auth' }

  constructor(keys: HandshakeKeys) {
    const k = sideKeys(keys)
    this.priv = k.priv
    this.eph = k.eph
    this.nonce = k.nonce
    this.rand = k.rand
    // The ack's two key pairs are derived now, while the auth is still on its way, rather than
    // between auth and ack (where the initiator waits for them).
    this.ephPub = publicKeyFromPrivate(this.eph)
    this.ackEcies = eciesEphemeral(this.rand)
  }

  /**
   * Read the initiator's auth packet (as received), authenticate it and recover the initiator's
   * ephemeral key. Throws `HandshakeError` for anything wrong with it.
   */
  readAuth(packet: Uint8Array, format: HandshakeFormat): AuthMessage {
    if (this.state.kind !== 'awaiting-auth') throw new Error('readAuth called twice')
    const auth = decodeAuth(this.priv, packet, format)
    const remoteEphemeralPublicKey = guard('auth', () => {
      const token = ecdh(this.priv, auth.initiatorPublicKey)
      return recoverPublicKey(xorBytes(token, auth.initiatorNonce), auth.signature)
    })
    this.state = { kind: 'got-auth', auth, authPacket: packet, remoteEphemeralPublicKey }
    return auth
  }

  /** The initiator's static public key (after {@link readAuth}). */
  get remotePublicKey(): Uint8Array {
    if (this.state.kind === 'awaiting-auth') throw new Error('no auth read yet')
    return this.state.auth.initiatorPublicKey
  }

  /** Build the ack packet, in the format the initiator used unless `format` says otherwise. */
  makeAck(format?: HandshakeFormat, paddingLength?: number): Uint8Array {
    const s = this.state
    if (s.kind !== 'got-auth') throw new Error('makeAck needs exactly one readAuth first')
    const f = format ?? s.auth.format
    const remote = s.auth.initiatorPublicKey
    const ephPub = this.ephPub
    const ackPacket = guard('ack', () =>
      f === 'legacy'
        ? eciesEncrypt(remote, encodeAckLegacy(ephPub, this.nonce), undefined, this.rand, this.ackEcies)
        : sealEip8(encodeAckBody(ephPub, this.nonce), remote, this.rand, paddingLength, this.ackEcies),
    )
    this.state = { ...s, kind: 'acked', ackPacket }
    return ackPacket
  }

  /** The session secrets (after {@link makeAck}). Throws `HandshakeError`. */
  secrets(): SessionSecrets {
    const s = this.state
    if (s.kind !== 'acked') throw new Error('secrets() needs readAuth and makeAck first')
    return guard('auth', () =>
      deriveSecrets({
        initiator: false,
        ephemeralPrivateKey: this.eph,
        remoteEphemeralPublicKey: s.remoteEphemeralPublicKey,
        initiatorNonce: s.auth.initiatorNonce,
        recipientNonce: this.nonce,
        authPacket: s.authPacket,
        ackPacket: s.ackPacket,
        remotePublicKey: s.auth.initiatorPublicKey,
      }),
    )
  }
}

// ---------------------------------------------------------------------------------------------
// Packet boundaries on a stream

/** Reads exactly `n` bytes from a stream (rejects on EOF, error or timeout). */
export type ReadExact = (n: number) => Promise<Uint8Array>

/**
 * Read one handshake packet from a stream and open it with `open(packet, format)`.
 *
 * An EIP-8 packet announces its size in its first two bytes; a legacy packet always starts with
 * 0x04 (the ECIES key prefix) and has a fixed size (`legacySize`). When the first byte is 0x04
 * and legacy is allowed, the legacy size is read and tried first; if that fails, the packet is
 * treated as EIP-8 (whose size is then 1024+ bytes, more than either legacy size). The size is
 * checked against {@link MAX_HANDSHAKE_SIZE} before any further byte is read.
 */
export async function readHandshakePacket<T>(
  read: ReadExact,
  legacySize: number,
  open: (packet: Uint8Array, format: HandshakeFormat) => T,
  allowLegacy = true,
): Promise<T> {
  const head = await read(2)
  const size = (head[0]! << 8) | head[1]!
  let have = head
  let legacyError: unknown
  if (allowLegacy && head[0] === 0x04) {
    have = concatBytes(head, await read(legacySize - 2))
    try {
      return open(have, 'legacy')
    } catch (err) {
      legacyError = err
    }
  }
  if (size > MAX_HANDSHAKE_SIZE)
    throw fail(
      `packet size ${size} exceeds ${MAX_HANDSHAKE_SIZE}`,
      legacyError ?? new DecodeError('rlpx-handshake', 'too large'),
    )
  if (size < ECIES_OVERHEAD + 1 || size + 2 < have.length)
    throw fail(
      `packet size ${size} is too small`,
      legacyError ?? new DecodeError('rlpx-handshake', 'too small'),
    )
  const packet = size + 2 === have.length ? have : concatBytes(have, await read(size + 2 - have.length))
  return open(packet, 'eip8')
}

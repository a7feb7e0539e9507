/**
 * Disconnect reasons (geth's `peer_error.go`), the {@link DisconnectError} that surfaces them,
 * the peer-level protocol errors, and the one mapping from any error to a reason.
 */
import { ConnectionClosedError } from '../rlpx/index.js'
import { DecodeError, DevP2PError, HandshakeError, isAbortError, TimeoutError } from '../util/index.js'

/** Disconnect reason codes of the devp2p base protocol, with geth's names. */
export const DiscReason = {
  Requested: 0x00,
  NetworkError: 0x01,
  ProtocolError: 0x02,
  UselessPeer: 0x03,
  TooManyPeers: 0x04,
  AlreadyConnected: 0x05,
  IncompatibleVersion: 0x06,
  InvalidIdentity: 0x07,
  Quitting: 0x08,
  UnexpectedIdentity: 0x09,
  Self: 0x0a,
  ReadTimeout: 0x0b,
  SubprotocolError: 0x10,
  /** Internal: the remote's reason could not be decoded. Never sent. */
  Invalid: 0xff,
} as const
/** One of the {@link DiscReason} codes. */
export type DiscReason = (typeof DiscReason)[keyof typeof DiscReason]

const TEXT: Readonly<Record<number, string>> = {
  0: 'disconnect requested',
  1: 'network error',
  2: 'breach of protocol',
  3: 'useless peer',
  4: 'too many peers',
  5: 'already connected',
  6: 'incompatible p2p protocol version',
  7: 'invalid node identity',
  8: 'client quitting',
  9: 'unexpected identity',
  10: 'connected to self',
  11: 'read timeout',
  16: 'subprotocol error',
  255: 'invalid disconnect reason',
}

const NAMES: Readonly<Record<number, string>> = Object.fromEntries(
  Object.entries(DiscReason).map(([k, v]) => [v, k]),
)

/** geth's human text of a reason (`"too many peers"`); unknown codes print as such. */
export function discReasonText(reason: number): string {
  return TEXT[reason] ?? `unknown disconnect reason ${reason}`
}

/** The constant's name of a reason (`"TooManyPeers"`), for metrics labels and JSON. */
export function discReasonName(reason: number): string {
  return NAMES[reason] ?? `Unknown${reason}`
}

/** Map an arbitrary received byte to a known reason, or {@link DiscReason.Invalid}. */
export function toDiscReason(code: number): DiscReason {
  return code in TEXT ? (code as DiscReason) : DiscReason.Invalid
}

/** A connection ended with a Disconnect: sent by the `remote` side, or by us (`local`). */
export class DisconnectError extends DevP2PError {
  override name = 'DisconnectError' as const
  readonly reason: DiscReason
  readonly side: 'remote' | 'local'
  constructor(reason: DiscReason, side: 'remote' | 'local', options?: { cause?: unknown }) {
    super(`${side === 'remote' ? 'remote' : 'local'} disconnect: ${discReasonText(reason)}`, options)
    this.reason = reason
    this.side = side
  }
}

/** A peer broke the base protocol: a message code outside every range, or an undecodable message. */
export class PeerProtocolError extends DevP2PError {
  override name = 'PeerProtocolError' as const
  readonly kind: 'invalid-msg-code' | 'invalid-msg'
  constructor(kind: 'invalid-msg-code' | 'invalid-msg', message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.kind = kind
  }
}

/** Writes or reads on a peer after it was closed. */
export class PeerClosedError extends DevP2PError {
  override name = 'PeerClosedError' as const
  constructor(message = 'peer connection closed', options?: { cause?: unknown }) {
    super(message, options)
  }
}

/** The reason to send (if any) for an error that ends a peer, and its metric label. */
export interface ErrorDisposition {
  /** The reason to put in our Disconnect, or `undefined` when none is sent (network errors). */
  readonly send: DiscReason | undefined
  /** The reason the peer is recorded as dropped with. */
  readonly reason: DiscReason
  /** A short, stable label for metrics. */
  readonly label: string
}

/**
 * geth's error → reason mapping: a DisconnectError keeps its reason (and is sent if it is
 * ours); protocol errors become ProtocolError; network errors and timeouts become
 * NetworkError and nothing is sent; anything else a protocol throws is SubprotocolError.
 */
export function dispositionOf(err: unknown): ErrorDisposition {
  if (err instanceof DisconnectError)
    return {
      send: err.side === 'local' ? err.reason : undefined,
      reason: err.reason,
      label: `${err.side}-${discReasonName(err.reason)}`,
    }
  if (err instanceof PeerProtocolError || err instanceof DecodeError)
    return { send: DiscReason.ProtocolError, reason: DiscReason.ProtocolError, label: 'protocol-error' }
  if (err instanceof HandshakeError)
    return { send: undefined, reason: DiscReason.NetworkError, label: `handshake-${err.stage}` }
  if (err instanceof TimeoutError)
    return { send: undefined, reason: DiscReason.NetworkError, label: 'timeout' }
  if (
    err instanceof PeerClosedError ||
    err instanceof ConnectionClosedError ||
    isAbortError(err) ||
    isNetworkError(err)
  )
    return { send: undefined, reason: DiscReason.NetworkError, label: 'network-error' }
  return {
    send: DiscReason.SubprotocolError,
    reason: DiscReason.SubprotocolError,
    label: 'subprotocol-error',
  }
}

function isNetworkError(err: unknown): boolean {
  if (!(err instanceof Error)) return false
  const code = (err as Error & { code?: unknown }).code
  return typeof code === 'string' && /^E[A-Z]+$/.test(code)
}

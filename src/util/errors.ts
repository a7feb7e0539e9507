/**
 * The typed errors of the stack. Every error has a fixed `name` and may carry a `cause`.
 * Library code never throws strings; decoders throw only {@link DecodeError}.
 */

/** Base class of every error this library throws on purpose. */
export class DevP2PError extends Error {
  override name = 'DevP2PError'
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options)
  }
}

/** Malformed input: a decoder met bytes or text it cannot accept. */
export class DecodeError extends DevP2PError {
  override name = 'DecodeError' as const
  /** What was being decoded, e.g. `rlp`, `enr`, `enode-url`, `discv4-packet`. */
  readonly what: string
  constructor(what: string, message: string, options?: { cause?: unknown }) {
    super(`${what}: ${message}`, options)
    this.what = what
  }
}

/** A handshake failed: `enc` is the RLPx ECIES handshake, `proto` the devp2p Hello exchange. */
export class HandshakeError extends DevP2PError {
  override name = 'HandshakeError' as const
  readonly stage: 'enc' | 'proto'
  constructor(stage: 'enc' | 'proto', message: string, options?: { cause?: unknown }) {
    super(`${stage} handshake: ${message}`, options)
    this.stage = stage
  }
}

/** An operation ran past its deadline. */
export class TimeoutError extends DevP2PError {
  override name = 'TimeoutError' as const
  /** The deadline that expired, in milliseconds. */
  readonly timeoutMs: number
  constructor(message: string, timeoutMs: number, options?: { cause?: unknown }) {
    super(message, options)
    this.timeoutMs = timeoutMs
  }
}

/** An operation was cancelled through its `AbortSignal`. */
export class AbortError extends DevP2PError {
  override name = 'AbortError' as const
  constructor(message = 'operation aborted', options?: { cause?: unknown }) {
    super(message, options)
  }
}

/** True for errors that mean "cancelled": ours and the DOM `AbortError`. */
export function isAbortError(err: unknown): boolean {
  return err instanceof Error && err.name === 'AbortError'
}

/**
 * Connection setup over RLPx (geth's `transport.go` + the handshake half of `SetupConn`): the
 * encryption handshake, a checkpoint the caller uses for its peer-count and identity checks,
 * then the Hello exchange, all under ONE deadline (5 s by default), so a silent or slow peer
 * can never hold a handshake slot longer. On failure the connection is closed; when the
 * failure is a local {@link DisconnectError} (too many peers, already connected...) our
 * Disconnect is sent first.
 */
import type { Duplex } from 'node:stream'
import { RLPxConn, type RLPxConnConfig, type RLPxIoOptions, type RLPxMsg } from '../rlpx/index.js'
import {
  anySignal,
  type Clock,
  type Logger,
  type RandomSource,
  silentLogger,
  TimeoutError,
  timeoutSignal,
} from '../util/index.js'
import { BaseMsg, encodeDisconnect, exchangeHello, type Hello } from './hello.js'
import type { MsgTransport, TransportMsgReceiver } from './msg.js'
import { DisconnectError } from './peer-error.js'

/** Deadline of both handshakes together (geth: 5 s for the encryption handshake). */
export const HANDSHAKE_TIMEOUT_MS = 5_000
/** Deadline of the Disconnect write when a setup is refused (geth: discWriteTimeout 1 s). */
export const DISC_WRITE_TIMEOUT_MS = 1_000

/**
 * An {@link RLPxConn} as the peer layer's {@link MsgTransport}. A class: its methods live on the
 * prototype, so a connected peer holds one small object, not five closures.
 */
class RLPxTransport implements MsgTransport {
  constructor(private readonly conn: RLPxConn) {}
  readMsg(opts?: RLPxIoOptions): Promise<RLPxMsg> {
    return this.conn.readMsg(opts)
  }
  readMsgOrWait(receiver: TransportMsgReceiver): RLPxMsg | undefined {
    return this.conn.readMsgOrWait(receiver)
  }
  async writeMsg(code: number, payload: Uint8Array, opts?: RLPxIoOptions): Promise<void> {
    await this.conn.writeMsg(code, payload, opts)
  }
  setSnappy(on: boolean): void {
    this.conn.setSnappy(on)
  }
  close(err?: Error): void {
    this.conn.close(err)
  }
  closeGracefully(ms: number): Promise<void> {
    return this.conn.closeGracefully(ms)
  }
}

/** Adapt an {@link RLPxConn} to the peer layer's {@link MsgTransport}. */
export function rlpxTransport(conn: RLPxConn): MsgTransport {
  return new RLPxTransport(conn)
}

/** What {@link setupConnection} needs. */
export interface SetupOptions {
  readonly socket: Duplex
  readonly privateKey: Uint8Array
  /** The node we dial (initiator); absent for inbound connections. */
  readonly remotePublicKey?: Uint8Array
  /** Our Hello (its id is our public key). */
  readonly hello: Hello
  readonly clock: Clock
  readonly random?: RandomSource
  readonly logger?: Logger
  readonly connConfig?: Partial<RLPxConnConfig>
  /** Deadline of both handshakes (default {@link HANDSHAKE_TIMEOUT_MS}). */
  readonly timeoutMs?: number
  readonly signal?: AbortSignal
  /**
   * Called right after the encryption handshake with the remote's public key, before the
   * Hello exchange (geth's posthandshake checkpoint). Throw a local DisconnectError to refuse.
   */
  readonly afterEncHandshake?: (remotePublicKey: Uint8Array) => void
}

/** An established connection: both handshakes done. */
export interface SetupResult {
  readonly conn: RLPxConn
  readonly transport: MsgTransport
  readonly remotePublicKey: Uint8Array
  readonly hello: Hello
  /** Time both handshakes took (ms). */
  readonly durationMs: number
}

/**
 * Run both handshakes on `socket`. Rejects with the cause (HandshakeError, TimeoutError,
 * DisconnectError local or remote, AbortError); the socket is closed then.
 */
export async function setupConnection(o: SetupOptions): Promise<SetupResult> {
  const timeoutMs = o.timeoutMs ?? HANDSHAKE_TIMEOUT_MS
  const started = o.clock.monotonic()
  // The handshake runs under `signal` (below), which carries the setup deadline: the config's
  // handshakeTimeoutMs is not used, so the connection can share the default config.
  const conn = new RLPxConn(
    o.socket,
    { clock: o.clock, ...(o.random ? { random: o.random } : {}), logger: o.logger ?? silentLogger },
    o.connConfig,
  )
  const deadline = timeoutSignal(o.clock, timeoutMs, 'connection setup')
  const signal = anySignal(o.signal, deadline.signal)
  try {
    // Both steps run under `signal`, which carries the setup deadline: no timers of their own.
    const remotePublicKey = await conn.handshake({
      privateKey: o.privateKey,
      ...(o.remotePublicKey ? { remotePublicKey: o.remotePublicKey } : {}),
      signal,
      timeoutMs: Number.POSITIVE_INFINITY,
    })
    o.afterEncHandshake?.(remotePublicKey)
    const transport = rlpxTransport(conn)
    const hello = await exchangeHello(transport, o.hello, {
      clock: o.clock,
      timeoutMs: Number.POSITIVE_INFINITY,
      signal,
      remotePublicKey,
    })
    return { conn, transport, remotePublicKey, hello, durationMs: o.clock.monotonic() - started }
  } catch (err) {
    const e =
      signal.aborted && deadline.signal.aborted && !(err instanceof TimeoutError)
        ? new TimeoutError(`connection setup timed out after ${timeoutMs} ms`, timeoutMs, { cause: err })
        : err
    await refuse(conn, o.clock, e)
    throw e
  } finally {
    deadline.dispose()
  }
}

/** Close a connection that failed setup, sending our Disconnect when the reason is ours. */
async function refuse(conn: RLPxConn, clock: Clock, err: unknown): Promise<void> {
  if (err instanceof DisconnectError && err.side === 'local' && conn.status === 'open') {
    const t = clock.setTimeout(() => conn.close(), DISC_WRITE_TIMEOUT_MS)
    try {
      await conn.writeMsg(BaseMsg.Disconnect, encodeDisconnect(err.reason))
      await conn.closeGracefully(DISC_WRITE_TIMEOUT_MS)
    } catch {
      // The connection is closed either way.
    } finally {
      t.cancel()
    }
  }
  conn.close(err instanceof Error ? err : undefined)
}

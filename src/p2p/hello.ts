/**
 * The devp2p base protocol messages: Hello, Disconnect, Ping, Pong (codes 0x00-0x03), their
 * codecs, and the Hello exchange that follows the encryption handshake.
 */

import type { RlpValue } from '../rlp/index.js'
import { decode, decodeUint, encode, encodeUint, expectBytes, expectList } from '../rlp/index.js'
import { type Clock, DecodeError, fromUtf8, withTimeout } from '../util/index.js'
import type { MsgTransport } from './msg.js'
import { DisconnectError, DiscReason, PeerProtocolError, toDiscReason } from './peer-error.js'
import type { Cap } from './protocol.js'

/** Base protocol message codes. */
export const BaseMsg = { Hello: 0x00, Disconnect: 0x01, Ping: 0x02, Pong: 0x03 } as const

/** Version we announce; snappy is on when both sides announce at least {@link SNAPPY_PROTOCOL_VERSION}. */
export const BASE_PROTOCOL_VERSION = 5
/** First base-protocol version that uses snappy (EIP-706). */
export const SNAPPY_PROTOCOL_VERSION = 5
/** Largest Hello accepted (geth's baseProtocolMaxMsgSize, 2 KiB). */
export const BASE_PROTOCOL_MAX_MSG_SIZE = 2 * 1024
/** Largest frame accepted while waiting for the Hello: the message limit plus the code byte. */
export const HELLO_MAX_FRAME_SIZE = BASE_PROTOCOL_MAX_MSG_SIZE + 8

/** Longest client name kept from a Hello (longer ones are truncated on decode). */
export const MAX_CLIENT_NAME = 1024

/** The empty list, payload of Ping and Pong. */
export const EMPTY_LIST_PAYLOAD = Uint8Array.of(0xc0)

/** A decoded Hello (geth's `protoHandshake`). */
export interface Hello {
  readonly version: number
  readonly name: string
  readonly caps: readonly Cap[]
  /** Legacy listen port; geth sends 0 and ignores it. */
  readonly listenPort: number
  /** The sender's 64-byte public key. */
  readonly id: Uint8Array
  /** Extra list elements (EIP-8), kept as received. */
  readonly rest: readonly RlpValue[]
}

/** Encode a Hello payload. */
export function encodeHello(h: Omit<Hello, 'rest'> & { rest?: readonly RlpValue[] }): Uint8Array {
  return encode([
    encodeUint(h.version),
    h.name,
    h.caps.map((c) => [c.name, encodeUint(c.version)]),
    encodeUint(h.listenPort),
    h.id,
    ...((h.rest ?? []) as RlpValue[]),
  ])
}

const NO_REST: readonly RlpValue[] = Object.freeze([])

/** Entries each intern table keeps at most (cleared when full: bounded, and it refills). */
const INTERN_MAX = 256
/**
 * Client names and capability lists seen in Hellos, shared by every peer that announces the
 * same: each connected peer keeps its Hello for its whole life, and peers mostly run a handful of
 * clients with the same capabilities (a capability list and its objects are ~150 B per peer, a
 * client name ~60 B). Shared lists and their capabilities are frozen.
 */
// BOUNDED: at most INTERN_MAX entries each; cleared when full.
const internedCaps = new Map<string, readonly Cap[]>()
// BOUNDED: at most INTERN_MAX entries each; cleared when full.
const internedNames = new Map<string, string>()

function intern<T>(table: Map<string, T>, key: string, make: () => T): T {
  const have = table.get(key)
  if (have !== undefined) return have
  if (table.size >= INTERN_MAX) table.clear()
  const v = make()
  table.set(key, v)
  return v
}

const NO_CAPS: readonly Cap[] = Object.freeze([])

function decodeCaps(c: RlpValue | undefined): readonly Cap[] {
  if (c instanceof Uint8Array) {
    if (c.length > 0) throw new DecodeError('hello', 'caps: expected a list')
    return NO_CAPS
  }
  const caps: Cap[] = (c ?? []).map((cv) => {
    const { items: ci } = expectList(cv, 2, 'hello cap')
    return {
      name: fromUtf8(expectBytes(ci[0], 'hello cap name', { maxLen: 32 })),
      version: decodeUint(ci[1], 'hello cap version', { maxBytes: 4 }),
    }
  })
  if (caps.length === 0) return NO_CAPS
  // Each name prefixed with its length: names may hold any character, yet no two lists share a key.
  let key = ''
  for (const x of caps) key += `${x.name.length}:${x.name}/${x.version};`
  return intern(internedCaps, key, () => Object.freeze(caps.map((x) => Object.freeze(x))))
}

/**
 * Decode a Hello payload, leniently as geth: extra elements kept, any version accepted.
 * The id's length is checked by {@link checkHelloIdentity}, not here. Client names and
 * capability lists are shared between Hellos that carry the same (frozen).
 */
export function decodeHello(payload: Uint8Array): Hello {
  if (payload.length > BASE_PROTOCOL_MAX_MSG_SIZE)
    throw new DecodeError('hello', `message too large (${payload.length} > ${BASE_PROTOCOL_MAX_MSG_SIZE})`)
  const { items, rest } = expectList(decode(payload), 5, 'hello')
  const [v, n, c, p, id] = items
  const caps = decodeCaps(c)
  const name = fromUtf8(expectBytes(n, 'hello name', { maxLen: BASE_PROTOCOL_MAX_MSG_SIZE })).slice(
    0,
    MAX_CLIENT_NAME,
  )
  return {
    version: decodeUint(v, 'hello version', { maxBytes: 6 }),
    name: intern(internedNames, name, () => name),
    caps,
    listenPort: decodeUint(p, 'hello listenPort', { maxBytes: 6 }),
    id: expectBytes(id, 'hello id', { maxLen: 128 }),
    // Shared when empty (always, today): every connected peer keeps its Hello.
    rest: rest.length === 0 ? NO_REST : rest,
  }
}

/** geth's checks on the Hello id: 64 bytes, not all zero; optionally equal to the handshake key. */
export function checkHelloIdentity(h: Hello, remotePublicKey?: Uint8Array): void {
  if (h.id.length !== 64 || h.id.every((b) => b === 0))
    throw new DisconnectError(DiscReason.InvalidIdentity, 'local')
  if (remotePublicKey && !h.id.every((b, i) => b === remotePublicKey[i]))
    throw new DisconnectError(DiscReason.UnexpectedIdentity, 'local')
}

/** Disconnect payload: `[reason]`. */
export function encodeDisconnect(reason: number): Uint8Array {
  return encode([encodeUint(reason)])
}

/**
 * Decode a Disconnect payload leniently as geth: `[reason]`, a bare reason, or an empty list
 * (reason 0); anything else is {@link DiscReason.Invalid}. Never throws.
 */
export function decodeDisconnect(payload: Uint8Array): DiscReason {
  try {
    let v: RlpValue = decode(payload)
    if (Array.isArray(v)) {
      if (v.length === 0) return DiscReason.Requested
      v = v[0]!
    }
    if (!(v instanceof Uint8Array) || v.length > 1) return DiscReason.Invalid
    return toDiscReason(v.length === 0 ? 0 : v[0]!)
  } catch {
    return DiscReason.Invalid
  }
}

/** Options of {@link exchangeHello}. */
export interface HelloExchangeOptions {
  readonly clock: Clock
  /**
   * Deadline of the whole exchange (default 5 s: the setup deadline). `Infinity`: no deadline of
   * its own, for a caller whose `signal` already carries one (as `setupConnection`'s does).
   */
  readonly timeoutMs?: number
  readonly signal?: AbortSignal
  /** The key authenticated by the encryption handshake; the Hello id must equal it. */
  readonly remotePublicKey?: Uint8Array
}

/**
 * Send our Hello and read theirs. A Disconnect instead of a Hello rejects with a remote
 * {@link DisconnectError}; a bad identity with a local one (the caller sends it). On success,
 * snappy is switched on when both versions allow it.
 */
export function exchangeHello(t: MsgTransport, ours: Hello, opts: HelloExchangeOptions): Promise<Hello> {
  const ms = opts.timeoutMs ?? 5000
  // The caller's deadline only: every read and write below honours the signal.
  if (!Number.isFinite(ms)) return helloExchange(t, ours, opts.signal, opts.remotePublicKey)
  return withTimeout(opts.clock, ms, 'hello exchange', opts.signal, (signal) =>
    helloExchange(t, ours, signal, opts.remotePublicKey),
  )
}

async function helloExchange(
  t: MsgTransport,
  ours: Hello,
  signal: AbortSignal | undefined,
  remotePublicKey: Uint8Array | undefined,
): Promise<Hello> {
  const io = signal === undefined ? undefined : { signal }
  const write = t.writeMsg(BaseMsg.Hello, encodeHello(ours), io)
  // A failed write shows up as a failed read too; keep it from being unhandled.
  write.catch(() => {})
  // The first message must be a Hello (or a Disconnect): never buffer more than a Hello's size.
  const msg = await t.readMsg({ ...io, maxFrameSize: HELLO_MAX_FRAME_SIZE })
  if (msg.code === BaseMsg.Disconnect) throw new DisconnectError(decodeDisconnect(msg.payload), 'remote')
  if (msg.code !== BaseMsg.Hello)
    throw new PeerProtocolError('invalid-msg', `expected Hello, got message code ${msg.code}`)
  const theirs = decodeHello(msg.payload)
  checkHelloIdentity(theirs, remotePublicKey)
  await write
  if (ours.version >= SNAPPY_PROTOCOL_VERSION && theirs.version >= SNAPPY_PROTOCOL_VERSION) t.setSnappy(true)
  // The id is the handshake key (checked above): keep that one array rather than a second copy
  // for the life of the peer.
  return remotePublicKey === undefined ? theirs : { ...theirs, id: remotePublicKey }
}

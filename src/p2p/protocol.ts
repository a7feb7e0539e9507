/**
 * Sub-protocols and capability matching (geth's `protocol.go` and `matchProtocols`).
 * Codes 0x00-0x0f belong to the base protocol; each shared capability gets a contiguous
 * range from 0x10 up, in name order, at its highest shared version.
 */
import type { Msg, MsgReadWriter, MsgWriter } from './msg.js'

/** Codes reserved by the base protocol (Hello, Disconnect, Ping, Pong, ...). */
export const BASE_PROTOCOL_LENGTH = 16

/** A capability: a protocol name (ASCII, at most 8 chars) and a version. */
export interface Cap {
  readonly name: string
  readonly version: number
}

/** `"eth/68"`. */
export function capString(c: Cap): string {
  return `${c.name}/${c.version}`
}

/** Order of geth's `capsByNameAndVersion`: by name (byte order), then version. */
export function compareCaps(a: Cap, b: Cap): number {
  if (a.name !== b.name) return a.name < b.name ? -1 : 1
  return a.version - b.version
}

/** What a running protocol sees of its peer (kept minimal so protocols stay testable). */
export interface ProtocolPeer {
  /** Hex node id of the remote: keccak256 of its public key (geth's `Peer.ID()`). */
  readonly id: string
  /** Hex of the remote's 64-byte public key (its Hello id). */
  readonly publicKey: string
  /** The remote's client name from its Hello. */
  readonly name: string
  /** The remote's capabilities. */
  readonly caps: readonly Cap[]
  /** Ask to end the connection with `reason`. */
  disconnect(reason: number): void
  /** Aborts when the peer goes away. */
  readonly signal: AbortSignal
}

/**
 * A sub-protocol, as geth's `p2p.Protocol`. `run` is called once per peer that shares the
 * capability; it reads and writes codes `0..length-1` (the offset is applied for it) and the
 * connection ends when it returns or throws.
 */
export interface Protocol {
  readonly name: string
  readonly version: number
  /** Number of message codes used. */
  readonly length: number
  /**
   * Loop style (geth's): runs for the life of the peer, reading with `rw.readMsg()`; the peer
   * ends (ClientQuitting) when it returns and with SubprotocolError when it throws. A protocol
   * has `run` or {@link onMsg}, not both.
   */
  run?(peer: ProtocolPeer, rw: MsgReadWriter): Promise<void>
  /**
   * Handler style: called with each message of this protocol, in order, for the life of the
   * peer. A returned promise holds the next message (the socket is not read meanwhile) until it
   * settles. Throwing or rejecting ends the peer as from `run` (a `DecodeError` with
   * ProtocolError). A waiting protocol then holds no promise, async frame or queue: an idle
   * peer costs less memory than with `run`.
   */
  onMsg?(msg: Msg, peer: ProtocolPeer, rw: MsgWriter): void | Promise<void>
  /** Optional: data for `admin_nodeInfo`. */
  nodeInfo?(): unknown
  /** Optional: data for `admin_peers` about one peer. */
  peerInfo?(peerId: string): unknown
}

/** Check that `p` has exactly one of `run` and `onMsg`. Throws `TypeError`. */
export function checkProtocol(p: Protocol): void {
  if ((p.run === undefined) === (p.onMsg === undefined))
    throw new TypeError(`protocol ${capString(p)}: give exactly one of run() and onMsg()`)
}

/** A protocol matched with a remote capability: its code offset. */
export interface MatchedProtocol {
  readonly protocol: Protocol
  readonly offset: number
}

/**
 * Match our protocols against the remote's capabilities exactly as geth: the remote's caps
 * sorted by name then version; every (name, version) we also run is taken, a later (higher)
 * version of the same name replacing the earlier one and rewinding the offset; offsets from
 * 0x10, each advancing by the protocol's length.
 */
export function matchProtocols(
  protocols: readonly Protocol[],
  remoteCaps: readonly Cap[],
): MatchedProtocol[] {
  const sorted = [...remoteCaps].sort(compareCaps)
  const result = new Map<string, MatchedProtocol>() // BOUNDED: at most one entry per local protocol name
  let offset = BASE_PROTOCOL_LENGTH
  outer: for (const cap of sorted) {
    for (const proto of protocols) {
      if (proto.name !== cap.name || proto.version !== cap.version) continue
      const old = result.get(cap.name)
      if (old) offset -= old.protocol.length
      result.set(cap.name, { protocol: proto, offset })
      offset += proto.length
      continue outer
    }
  }
  return [...result.values()].sort((a, b) => a.offset - b.offset)
}

/** Our capabilities as advertised in Hello: one per protocol, sorted. */
export function capsOf(protocols: readonly Protocol[]): Cap[] {
  return protocols.map((p) => ({ name: p.name, version: p.version })).sort(compareCaps)
}

/**
 * Shared pieces of the `rlpx` benchmark suite (bench/rlpx.ts, the client side) and its server
 * worker (bench/rlpx-server.ts): the two implementations under test behind one small interface,
 * the benchmark's message codes, Hellos and payloads.
 *
 * - `ours`: {@link setupConnection} (TCP socket → RLPx encryption handshake → Hello each way,
 *   under one deadline) and then {@link RLPxConn} `readMsg`/`writeMsg` for throughput, or a full
 *   {@link Peer} (read loop, ping timer, one protocol waiting for messages) for idle peers.
 * - `ethereumjs`: `@ethereumjs/devp2p`'s `Peer`, driven directly on a socket as in
 *   test/integration/rlpx/ethereumjs-interop.test.ts. Its Peer always announces base protocol v5
 *   and decompresses every received payload when the remote did too; sub-protocols compress what
 *   they send themselves (as its ETH protocol does). For "snappy off" rows we set the remote
 *   Hello's version to 4 on both sides after the Hello exchange, so no payload is decompressed,
 *   and send payloads as they are.
 *
 * The mode of a connection is told to the server by the client's Hello name
 * (`rlpx-bench/idle`, `rlpx-bench/tp-raw`, `rlpx-bench/tp-snappy`).
 */
import { randomBytes } from 'node:crypto'
import { connect, type Socket } from 'node:net'
import { Common, Mainnet } from '@ethereumjs/common'
import { Peer as EjsPeer } from '@ethereumjs/devp2p'
import type { Hello } from '../src/p2p/hello.js'
import { Peer } from '../src/p2p/peer.js'
import { matchProtocols, type Protocol } from '../src/p2p/protocol.js'
import { type SetupResult, setupConnection } from '../src/p2p/transport.js'
import type { RLPxConn } from '../src/rlpx/conn.js'
import { jsSnappy } from '../src/rlpx/snappy.js'
import { fromUtf8, systemClock, utf8 } from '../src/util/index.js'

/** The two implementations compared. */
export type Impl = 'ours' | 'ethereumjs'
export const IMPLS: readonly Impl[] = ['ours', 'ethereumjs']
/**
 * What a bench server can run: an implementation, or `socket`, the floor of the memory rows (a
 * plain `net.Socket` per connection that reads and drops, no handshake, no cipher).
 */
export type ServerImpl = Impl | 'socket'
/** What a memory row measures: a server, or ours running the handler-style protocol. */
export type MemImpl = ServerImpl | 'ours-handler'

/** What a connection is for, announced in the client's Hello name. */
/** `idle`: our loop-style protocol (run/readMsg); `idle-handler`: our handler style (onMsg). */
export type ConnMode = 'idle' | 'idle-handler' | 'tp-raw' | 'tp-snappy'
const NAME_PREFIX = 'rlpx-bench/'

export function helloName(mode: ConnMode): string {
  return NAME_PREFIX + mode
}

export function modeOfName(name: string): ConnMode {
  const m = name.startsWith(NAME_PREFIX) ? name.slice(NAME_PREFIX.length) : ''
  return m === 'tp-raw' || m === 'tp-snappy' || m === 'idle-handler' ? m : 'idle'
}

/** The benchmark sub-protocol: one capability, codes relative to its offset (0x10). */
export const BENCH_CAP = { name: 'bench', version: 1 } as const
export const BENCH_PROTO_LENGTH = 8
/** Offset of the first (only) shared capability: right after the 16 base-protocol codes. */
export const BENCH_OFFSET = 16
/** Relative codes. */
export const Code = {
  /** Payload to count. */
  Data: 0,
  /** Client → server: reset the counters and answer SyncAck (ends the warm-up). */
  Sync: 1,
  SyncAck: 2,
  /** Client → server: answer Result with the counters. */
  End: 3,
  /** Server → client: JSON `{bytes, msgs, wire}` of Data messages since the last Sync. */
  Result: 4,
} as const

export interface TpResult {
  /** Payload bytes received (decompressed). */
  bytes: number
  msgs: number
  /** Payload bytes as received on the wire (compressed size when snappy is on). */
  wire: number
}

export const EMPTY = new Uint8Array(0)

/** Handshake (and Hello) deadline used by both sides. */
export const SETUP_TIMEOUT_MS = 5_000

/** A node identity. */
export interface Identity {
  readonly privateKey: Uint8Array
  readonly publicKey: Uint8Array
}

/** Payload of `size` bytes: random, or half compressible (64 random bytes, then 64 zero bytes…). */
export function makePayload(size: number, compressible: boolean): Uint8Array {
  const p = new Uint8Array(randomBytes(size))
  if (compressible) for (let i = 64; i < size; i += 128) p.fill(0, i, Math.min(size, i + 64))
  return p
}

/** Connect to 127.0.0.1:`port`. */
export function dial(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect({ port, host: '127.0.0.1' })
    const onError = (e: Error): void => reject(e)
    s.once('error', onError)
    s.once('connect', () => {
      s.off('error', onError)
      resolve(s)
    })
  })
}

// ---------------------------------------------------------------------------------------------
// ours

export function ourHello(id: Identity, mode: ConnMode): Hello {
  return {
    version: 5,
    name: helloName(mode),
    caps: [BENCH_CAP],
    listenPort: 0,
    id: id.publicKey,
    rest: [],
  }
}

/** TCP connect + encryption handshake + Hello each way (our `setupConnection`). */
export async function ourDialSetup(
  port: number,
  id: Identity,
  remotePublicKey: Uint8Array,
  mode: ConnMode,
): Promise<SetupResult> {
  const socket = await dial(port)
  return setupConnection({
    socket,
    privateKey: id.privateKey,
    remotePublicKey,
    hello: ourHello(id, mode),
    clock: systemClock,
    timeoutMs: SETUP_TIMEOUT_MS,
  })
}

/** The protocol an idle peer runs: reads (and drops) messages until the peer ends. */
const idleProtocol: Protocol = {
  name: BENCH_CAP.name,
  version: BENCH_CAP.version,
  length: BENCH_PROTO_LENGTH,
  async run(_peer, rw) {
    for (;;) await rw.readMsg()
  },
}

/** The same protocol in handler style: it drops messages as they come, nothing waits. */
const idleHandlerProtocol: Protocol = {
  name: BENCH_CAP.name,
  version: BENCH_CAP.version,
  length: BENCH_PROTO_LENGTH,
  onMsg() {},
}

/**
 * Run an established connection as a full idle peer, with the loop-style protocol or (`handler`)
 * the handler-style one; resolves when it ends. Not an async function: the memory rows count
 * what each idle peer keeps, harness included, and a suspended async frame per peer is harness,
 * not library.
 */
export function ourRunIdlePeer(r: SetupResult, inbound: boolean, handler = false): Promise<unknown> {
  const peer = new Peer({
    transport: r.transport,
    hello: r.hello,
    protocols: matchProtocols([handler ? idleHandlerProtocol : idleProtocol], r.hello.caps),
    inbound,
    clock: systemClock,
  })
  return peer.run()
}

/** Server side of a throughput connection: count Data, answer Sync and End. */
export async function ourSink(conn: RLPxConn): Promise<void> {
  let res: TpResult = { bytes: 0, msgs: 0, wire: 0 }
  const data = BENCH_OFFSET + Code.Data
  for (;;) {
    const m = await conn.readMsg()
    if (m.code === data) {
      res.bytes += m.payload.length
      res.wire += m.size
      res.msgs++
    } else if (m.code === BENCH_OFFSET + Code.Sync) {
      res = { bytes: 0, msgs: 0, wire: 0 }
      await conn.writeMsg(BENCH_OFFSET + Code.SyncAck, EMPTY)
    } else if (m.code === BENCH_OFFSET + Code.End) {
      await conn.writeMsg(BENCH_OFFSET + Code.Result, utf8(JSON.stringify(res)))
    }
  }
}

// ---------------------------------------------------------------------------------------------
// @ethereumjs/devp2p

/** The sub-protocol object ethereumjs' Peer instantiates for the shared `bench` capability. */
export class EjsBenchProtocol {
  private handler: ((code: number, payload: Uint8Array) => void) | undefined
  private early: [number, Uint8Array][] = []
  constructor(
    _version: number,
    _peer: unknown,
    readonly send: (code: number, data: Uint8Array) => void,
  ) {}
  /** Called by ethereumjs' Peer with the code relative to the protocol (payload decompressed). */
  _handleMessage(code: number, payload: Uint8Array): void {
    if (this.handler) this.handler(code, payload)
    else this.early.push([code, payload])
  }
  onMessage(h: (code: number, payload: Uint8Array) => void): void {
    this.handler = h
    for (const [c, p] of this.early.splice(0)) h(c, p)
  }
}

const EJS_CAP = { ...BENCH_CAP, length: BENCH_PROTO_LENGTH, constructor: EjsBenchProtocol }
let common: Common | undefined

/** An ethereumjs Peer on `socket` (`remoteId` given: it dials and sends auth at once). */
/** Shared by every ethereumjs peer of the bench (no closure per peer). */
function ignoreError(): void {}

export function ejsPeer(socket: Socket, id: Identity, remoteId: Uint8Array | null, mode: ConnMode): EjsPeer {
  common ??= new Common({ chain: Mainnet })
  const peer = new EjsPeer({
    socket,
    remoteId: remoteId as Uint8Array,
    privateKey: id.privateKey,
    id: id.publicKey,
    clientId: utf8(helloName(mode)),
    capabilities: [EJS_CAP as never],
    common,
    port: 0,
    timeout: 10_000,
    EIP8: true,
  })
  peer.events.on('error', ignoreError)
  return peer
}

/** Internals of ethereumjs' Peer the benchmark touches. */
interface EjsPeerInternals {
  _hello: { protocolVersion: number; clientId: string } | null
  _socket: Socket
}

/** Stop ethereumjs' Peer from decompressing received payloads ("snappy off"). */
export function ejsDisableSnappy(peer: EjsPeer): void {
  const hello = (peer as unknown as EjsPeerInternals)._hello
  if (hello) hello.protocolVersion = 4
}

export function ejsRemoteMode(peer: EjsPeer): ConnMode {
  return modeOfName((peer as unknown as EjsPeerInternals)._hello?.clientId ?? '')
}

export function ejsProtocol(peer: EjsPeer): EjsBenchProtocol {
  const p = peer.getProtocols()[0]
  if (!(p instanceof EjsBenchProtocol)) throw new Error('ethereumjs peer: bench protocol not running')
  return p
}

/**
 * TCP connect + ethereumjs handshake + Hello each way; resolves on its Peer's `connect` event
 * (both Hellos sent and received).
 */
export async function ejsDialSetup(
  port: number,
  id: Identity,
  remotePublicKey: Uint8Array,
  mode: ConnMode,
): Promise<{ peer: EjsPeer; socket: Socket }> {
  const socket = await dial(port)
  return new Promise((resolve, reject) => {
    const peer = ejsPeer(socket, id, remotePublicKey, mode)
    const timer = setTimeout(() => fail(new Error('ethereumjs handshake timed out')), SETUP_TIMEOUT_MS)
    function fail(e: Error): void {
      clearTimeout(timer)
      socket.destroy()
      reject(e)
    }
    const onClose = (): void => fail(new Error('ethereumjs: socket closed during setup'))
    socket.once('close', onClose)
    peer.events.once('connect', () => {
      clearTimeout(timer)
      socket.off('close', onClose)
      resolve({ peer, socket })
    })
  })
}

/** Server side of an ethereumjs throughput connection (set up in its `connect` handler). */
export function ejsSink(peer: EjsPeer, snappy: boolean): void {
  if (!snappy) ejsDisableSnappy(peer)
  const proto = ejsProtocol(peer)
  let res: TpResult = { bytes: 0, msgs: 0, wire: 0 }
  const compress = jsSnappy().compress
  const send = (code: number, data: Uint8Array): void => proto.send(code, snappy ? compress(data) : data)
  proto.onMessage((code, payload) => {
    if (code === Code.Data) {
      res.bytes += payload.length
      res.msgs++
    } else if (code === Code.Sync) {
      res = { bytes: 0, msgs: 0, wire: 0 }
      send(Code.SyncAck, EMPTY)
    } else if (code === Code.End) {
      send(Code.Result, utf8(JSON.stringify(res)))
    }
  })
}

export function parseResult(payload: Uint8Array): TpResult {
  return JSON.parse(fromUtf8(payload)) as TpResult
}

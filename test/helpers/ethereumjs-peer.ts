/**
 * Helpers for peer-level interop with @ethereumjs/devp2p: a `test/1` capability for
 * ethereumjs' `Peer` (records what it receives, answers code 0 with code 1, compresses its
 * sends when the remote announced base protocol v5 since ethereumjs leaves that to
 * sub-protocols), an ethereumjs listener, and our own recording `test/1` protocol.
 */
import { once } from 'node:events'
import { type AddressInfo, connect, createServer, type Server as NetServer, type Socket } from 'node:net'
import { Common, Mainnet } from '@ethereumjs/common'
import { Peer as EjsPeer } from '@ethereumjs/devp2p'
import { publicKeyFromPrivate } from '../../src/crypto/index.js'
import type { MsgReadWriter } from '../../src/p2p/msg.js'
import type { Protocol, ProtocolPeer } from '../../src/p2p/protocol.js'
import { jsSnappy } from '../../src/rlpx/snappy.js'
import { utf8 } from '../../src/util/index.js'

export { EjsPeer }

/** A message one side's `test/1` received. */
export interface Received {
  readonly code: number
  readonly payload: Uint8Array
}

/** One `test/1` instance inside an ethereumjs Peer. */
export interface EjsTestProto {
  readonly peer: EjsPeer
  readonly received: Received[]
  /** Send `payload` as `test/1` message `code` (compressed when the remote speaks v5). */
  send(code: number, payload: Uint8Array): void
}

/** The `test/1` capability for ethereumjs, and every instance its peers created. */
export interface EjsTestCapability {
  /** Pass in `capabilities` (ethereumjs' `Capabilities`). */
  readonly cap: { name: string; version: number; length: number; constructor: new (...a: never[]) => object }
  readonly instances: EjsTestProto[]
}

/** A fresh `test/1` capability for ethereumjs peers. */
export function ejsTestCapability(): EjsTestCapability {
  const instances: EjsTestProto[] = []
  const snappy = jsSnappy()
  class TestProtocol implements EjsTestProto {
    readonly received: Received[] = []
    constructor(
      _version: number,
      readonly peer: EjsPeer,
      private readonly sendRaw: (code: number, data: Uint8Array) => void,
    ) {
      instances.push(this)
    }
    send(code: number, payload: Uint8Array): void {
      const v5 = (this.peer.getHelloMessage()?.protocolVersion ?? 0) >= 5
      this.sendRaw(code, v5 ? snappy.compress(payload) : payload)
    }
    _handleMessage(code: number, payload: Uint8Array): void {
      this.received.push({ code, payload: Uint8Array.from(payload) })
      if (code === 0) this.send(1, payload)
    }
  }
  return { cap: { name: 'test', version: 1, length: 4, constructor: TestProtocol }, instances }
}

/** Options of {@link ejsPeer}. */
export interface EjsPeerOptions {
  readonly socket: Socket
  /** The remote's public key when ethereumjs dials; null when it accepted the socket. */
  readonly remoteId: Uint8Array | null
  readonly privateKey: Uint8Array
  readonly capability: EjsTestCapability
  readonly clientId?: string
  /**
   * The listen port ethereumjs announces in Hello. Not 0: ethereumjs encodes 0 as the byte
   * 0x00, a non-canonical integer that geth (and we) refuse in a Hello.
   */
  readonly port?: number
  /** ethereumjs disconnects (UselessPeer) from clients whose name contains one of these. */
  readonly remoteClientIdFilter?: string[]
}

/** An ethereumjs `Peer` on `socket` with the `test/1` capability. */
export function ejsPeer(o: EjsPeerOptions): EjsPeer {
  const peer = new EjsPeer({
    socket: o.socket,
    remoteId: o.remoteId as Uint8Array,
    privateKey: o.privateKey,
    id: publicKeyFromPrivate(o.privateKey),
    clientId: utf8(o.clientId ?? 'ethereumjs-peer-test'),
    capabilities: [o.capability.cap as never],
    common: new Common({ chain: Mainnet }),
    port: o.port ?? 30303,
    timeout: 10_000,
    EIP8: true,
    ...(o.remoteClientIdFilter ? { remoteClientIdFilter: o.remoteClientIdFilter } : {}),
  })
  peer.events.on('error', () => {})
  return peer
}

/** An ethereumjs listener on 127.0.0.1: every accepted socket becomes a Peer. */
export interface EjsListener {
  readonly server: NetServer
  readonly port: number
  readonly publicKey: Uint8Array
  readonly peers: EjsPeer[]
  readonly sockets: Socket[]
  close(): Promise<void>
}

/** Listen on 127.0.0.1 port 0 with ethereumjs peers behind each connection. */
export async function listenEjs(
  privateKey: Uint8Array,
  capability: EjsTestCapability,
  extra: Partial<Pick<EjsPeerOptions, 'clientId' | 'remoteClientIdFilter'>> = {},
): Promise<EjsListener> {
  const peers: EjsPeer[] = []
  const sockets: Socket[] = []
  const server = createServer((socket) => {
    socket.on('error', () => {})
    sockets.push(socket)
    peers.push(ejsPeer({ socket, remoteId: null, privateKey, capability, ...extra }))
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  return {
    server,
    port: (server.address() as AddressInfo).port,
    publicKey: publicKeyFromPrivate(privateKey),
    peers,
    sockets,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy()
        server.close(() => resolve())
      }),
  }
}

/** Connect to 127.0.0.1:`port`. */
export function dialLocal(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect(port, '127.0.0.1', () => {
      s.off('error', reject)
      s.on('error', () => {})
      resolve(s)
    })
    s.once('error', reject)
  })
}

/** Resolve with the arguments of `peer`'s next `event` (rejects after `ms`). */
export function ejsEvent(peer: EjsPeer, event: 'connect' | 'close', ms = 10_000): Promise<unknown[]> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => {
      peer.events.off(event, on)
      reject(new Error(`timed out waiting for ethereumjs '${event}'`))
    }, ms)
    function on(...args: unknown[]): void {
      clearTimeout(t)
      resolve(args)
    }
    peer.events.once(event, on)
  })
}

/** Our `test/1`: records messages, answers code 0 with code 1, keeps each peer's rw and view. */
export interface RecordingProtocol {
  readonly protocol: Protocol
  readonly received: (Received & { readonly peer: string })[]
  readonly rws: Map<string, MsgReadWriter>
  readonly peers: Map<string, ProtocolPeer>
}

/** A fresh {@link RecordingProtocol}. */
export function recordingProtocol(): RecordingProtocol {
  const received: (Received & { peer: string })[] = []
  // BOUNDED: one entry per peer of a test.
  const rws = new Map<string, MsgReadWriter>()
  // BOUNDED: one entry per peer of a test.
  const peers = new Map<string, ProtocolPeer>()
  return {
    received,
    rws,
    peers,
    protocol: {
      name: 'test',
      version: 1,
      length: 4,
      async run(peer, rw) {
        rws.set(peer.publicKey, rw)
        peers.set(peer.publicKey, peer)
        for (;;) {
          const m = await rw.readMsg()
          received.push({ peer: peer.publicKey, code: m.code, payload: m.payload })
          if (m.code === 0) await rw.writeMsg(1, m.payload)
        }
      },
    },
  }
}

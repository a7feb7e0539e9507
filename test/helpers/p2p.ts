/** Helpers for server tests: a demo protocol, keys, and waiting on server events. */
import { generatePrivateKey, publicKeyFromPrivate } from '../../src/crypto/index.js'
import { Node } from '../../src/enode/index.js'
import type { MsgReadWriter } from '../../src/p2p/msg.js'
import type { Protocol, ProtocolPeer } from '../../src/p2p/protocol.js'
import { Server, type ServerEvent } from '../../src/p2p/server.js'

/** A `test/1` protocol that records what it receives and answers code 0 with code 1. */
export function echoProtocol(received: { peer: string; code: number; payload: Uint8Array }[] = []): Protocol {
  return {
    name: 'test',
    version: 1,
    length: 4,
    async run(peer: ProtocolPeer, rw: MsgReadWriter) {
      for (;;) {
        const m = await rw.readMsg()
        received.push({ peer: peer.id, code: m.code, payload: m.payload })
        if (m.code === 0) await rw.writeMsg(1, m.payload)
      }
    },
  }
}

/** A fresh key and the `Node` a server with it would be, listening on 127.0.0.1:`port`. */
export function nodeKey(): Uint8Array {
  return generatePrivateKey()
}

/** The dialable node of a running server. */
export function nodeOf(srv: Server): Node {
  return Node.fromPublicKey(publicKeyFromPrivate(srv.config.privateKey), {
    ip: '127.0.0.1',
    tcp: srv.port,
    udp: srv.discoveryPort,
  })
}

/** Resolve when `pred` matches an event of `srv` (rejects after `ms`). */
export function waitEvent(srv: Server, pred: (e: ServerEvent) => boolean, ms = 10_000): Promise<ServerEvent> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => {
      off()
      reject(new Error('timed out waiting for a server event'))
    }, ms)
    const off = srv.subscribe((e) => {
      if (!pred(e)) return
      clearTimeout(t)
      off()
      resolve(e)
    })
  })
}

/** Poll `cond` every 10 ms until true (rejects after `ms`). */
export async function until(cond: () => boolean, ms = 10_000, what = 'condition'): Promise<void> {
  const end = Date.now() + ms
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 10))
  }
}

/** Server options as tests pass them (the key is filled in). */
export type TestServerOptions = Partial<Parameters<typeof Server.start>[0]>

/**
 * A starter of loopback test servers (fresh key, 127.0.0.1:0, no discovery, an echo `test/1`
 * protocol, then `defaults`, then per-call options) that remembers them for `stopAll()`.
 */
export function testServers(defaults: TestServerOptions = {}): {
  start(opts?: TestServerOptions): Promise<Server>
  stopAll(): Promise<void>
} {
  const started: Server[] = []
  return {
    async start(opts = {}) {
      const srv = await Server.start({
        privateKey: nodeKey(),
        listenAddr: '127.0.0.1:0',
        noDiscovery: true,
        protocols: [echoProtocol()],
        ...defaults,
        ...opts,
      })
      started.push(srv)
      return srv
    },
    async stopAll() {
      await Promise.all(started.map((s) => s.stop()))
    },
  }
}

/** A promise to hold something back with, and the function that lets it go. */
export function deferred(): { promise: Promise<void>; release: () => void } {
  let release!: () => void
  const promise = new Promise<void>((r) => {
    release = r
  })
  return { promise, release }
}

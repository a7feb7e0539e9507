/**
 * Peer-level interop with @ethereumjs/devp2p over TCP on 127.0.0.1: our Server (a `test/1`
 * protocol written against the public Protocol/MsgReadWriter API) against an ethereumjs `Peer`
 * carrying a matching `test/1` capability. Both directions (we dial it; it dials us), messages
 * both ways with snappy (base protocol v5) and without (our Hello at v4, driven through
 * `setupConnection` + `Peer`), and Disconnect reasons in both directions.
 */
import assert from 'node:assert/strict'
import { once } from 'node:events'
import { type AddressInfo, createServer, type Socket } from 'node:net'
import { after, describe, it } from 'node:test'
import { DISCONNECT_REASON } from '@ethereumjs/devp2p'
import { generatePrivateKey, publicKeyFromPrivate } from '../../../src/crypto/index.js'
import { Node } from '../../../src/enode/index.js'
import { BaseMsg, type Hello } from '../../../src/p2p/hello.js'
import type { MsgTransport } from '../../../src/p2p/msg.js'
import { Peer, type PeerEnd } from '../../../src/p2p/peer.js'
import { DiscReason } from '../../../src/p2p/peer-error.js'
import { matchProtocols } from '../../../src/p2p/protocol.js'
import { Server, type ServerEvent } from '../../../src/p2p/server.js'
import { type SetupResult, setupConnection } from '../../../src/p2p/transport.js'
import { equalBytes, seededRandom, systemClock, toHex } from '../../../src/util/index.js'
import {
  dialLocal,
  type EjsListener,
  type EjsPeer,
  ejsEvent,
  ejsPeer,
  ejsTestCapability,
  listenEjs,
  type RecordingProtocol,
  recordingProtocol,
} from '../../helpers/ethereumjs-peer.js'
import { until, waitEvent } from '../../helpers/p2p.js'

const rand = seededRandom(0x5eed)
const PAYLOADS = [Uint8Array.of(0xc0), rand.bytes(100), rand.bytes(200_000)]

const servers: Server[] = []
const listeners: EjsListener[] = []
const sockets: Socket[] = []
after(async () => {
  for (const s of sockets) s.destroy()
  await Promise.all(servers.map((s) => s.stop()))
  await Promise.all(listeners.map((l) => l.close()))
})

async function startServer(proto: RecordingProtocol, name = 'devp2p-ts-interop'): Promise<Server> {
  const srv = await Server.start({
    privateKey: generatePrivateKey(),
    name,
    listenAddr: '127.0.0.1:0',
    noDiscovery: true,
    protocols: [proto.protocol],
    handshakeTimeoutMs: 2_000,
  })
  servers.push(srv)
  return srv
}

function ejsNode(l: EjsListener): Node {
  return Node.fromPublicKey(l.publicKey, { ip: '127.0.0.1', tcp: l.port })
}

/** ethereumjs' `test/1` instance of `peer` (after its 'connect'). */
function ejsProtoOf(cap: ReturnType<typeof ejsTestCapability>, peer: EjsPeer) {
  const p = cap.instances.find((i) => i.peer === peer)
  assert.ok(p, 'ethereumjs created a test/1 instance')
  return p
}

/** Both ways through `test/1`: we send code 0 and get ethereumjs' echo, and the reverse. */
async function exchange(
  ours: RecordingProtocol,
  peerId: string,
  theirs: ReturnType<typeof ejsProtoOf>,
): Promise<void> {
  const rw = ours.rws.get(peerId)
  assert.ok(rw, 'our protocol runs for the peer')
  for (const p of PAYLOADS) {
    const before = ours.received.length
    await rw.writeMsg(0, p)
    await until(() => ours.received.length > before, 10_000, 'echo from ethereumjs')
    const echo = ours.received[before]!
    assert.equal(echo.code, 1)
    assert.ok(equalBytes(echo.payload, p), `echo of ${p.length} bytes intact`)
  }
  assert.deepEqual(
    theirs.received.map((r) => [r.code, r.payload.length]),
    PAYLOADS.map((p) => [0, p.length]),
  )
  theirs.received.length = 0
  for (const p of PAYLOADS) {
    const before = theirs.received.length
    theirs.send(0, p)
    await until(() => theirs.received.length > before, 10_000, 'echo from us')
    const echo = theirs.received[before]!
    assert.equal(echo.code, 1)
    assert.ok(equalBytes(echo.payload, p), `echo of ${p.length} bytes intact`)
  }
  assert.ok(
    ours.received.filter((r) => r.code === 0).every((r, i) => equalBytes(r.payload, PAYLOADS[i]!)),
    'we received what ethereumjs sent',
  )
}

/** An ethereumjs peer (with the test/1 capability) that dials `srv` and has connected. */
async function ejsDialsUs(srv: Server): Promise<EjsPeer> {
  const sock = await dialLocal(srv.port)
  sockets.push(sock)
  const them = ejsPeer({
    socket: sock,
    remoteId: publicKeyFromPrivate(srv.config.privateKey),
    privateKey: generatePrivateKey(),
    capability: ejsTestCapability(),
  })
  await ejsEvent(them, 'connect')
  return them
}

describe('peer interop with @ethereumjs/devp2p', { timeout: 60_000 }, () => {
  it('we dial it: both handshakes, test/1 both ways with snappy', async () => {
    const ours = recordingProtocol()
    const srv = await startServer(ours)
    const cap = ejsTestCapability()
    const l = await listenEjs(generatePrivateKey(), cap)
    listeners.push(l)
    const added = waitEvent(srv, (e) => e.type === 'add')
    srv.addPeer(ejsNode(l))
    const add = await added
    assert.ok(add.type === 'add' && !add.inbound)
    await until(() => l.peers.length === 1, 5_000, 'ethereumjs accepted')
    const them = l.peers[0]!
    await until(() => them.getHelloMessage() !== null && cap.instances.length === 1, 5_000, 'ejs hello')
    const theirHello = them.getHelloMessage()!
    assert.equal(theirHello.clientId, 'devp2p-ts-interop')
    assert.equal(theirHello.protocolVersion, 5)
    assert.deepEqual(
      theirHello.capabilities.map((c) => `${c.name}/${c.version}`),
      ['test/1'],
    )
    assert.ok(equalBytes(theirHello.id, publicKeyFromPrivate(srv.config.privateKey)))

    const info = srv.peersInfo()[0]!
    assert.equal(info.name, 'ethereumjs-peer-test')
    assert.deepEqual(info.caps, ['test/1'])
    assert.equal(info.network.inbound, false)
    const sp = srv.peers()[0]!
    assert.equal(sp.setup.conn.snappy, true, 'snappy on: both sides announced v5')
    await until(() => ours.rws.size === 1, 5_000, 'our protocol running')
    await exchange(ours, sp.peer.publicKeyHex, ejsProtoOf(cap, them))
    assert.equal(srv.metrics.get('p2p_dials_total', { result: 'success' }), 1)
  })

  it('it dials us: both handshakes, test/1 both ways with snappy', async () => {
    const ours = recordingProtocol()
    const srv = await startServer(ours)
    const cap = ejsTestCapability()
    const added = waitEvent(srv, (e) => e.type === 'add')
    const sock = await dialLocal(srv.port)
    sockets.push(sock)
    const ejsKey = generatePrivateKey()
    const them = ejsPeer({
      socket: sock,
      remoteId: publicKeyFromPrivate(srv.config.privateKey),
      privateKey: ejsKey,
      capability: cap,
    })
    const connected = ejsEvent(them, 'connect')
    const add = await added
    assert.ok(add.type === 'add' && add.inbound)
    await connected
    const sp = srv.peers()[0]!
    assert.equal(sp.peer.publicKeyHex, toHex(publicKeyFromPrivate(ejsKey)))
    assert.equal(sp.setup.conn.snappy, true)
    assert.equal(srv.peersInfo()[0]?.network.inbound, true)
    await until(() => ours.rws.size === 1, 5_000, 'our protocol running')
    await exchange(ours, sp.peer.publicKeyHex, ejsProtoOf(cap, them))
    assert.equal(srv.metrics.get('p2p_serves_total', { result: 'success' }), 1)
    assert.equal(srv.pendingHandshakes, 0)
  })

  describe('setupConnection + Peer, with and without snappy', () => {
    for (const version of [4, 5]) {
      for (const direction of ['we dial', 'it dials us'] as const) {
        it(`Hello v${version}, ${direction}: snappy ${version >= 5 ? 'on' : 'off'}, messages and Pong both ways`, async () => {
          const ours = recordingProtocol()
          const cap = ejsTestCapability()
          const ourKey = generatePrivateKey()
          const ejsKey = generatePrivateKey()
          let ourSocket: Socket
          let them: EjsPeer
          if (direction === 'we dial') {
            const l = await listenEjs(ejsKey, cap)
            listeners.push(l)
            ourSocket = await dialLocal(l.port)
            await until(() => l.peers.length === 1, 5_000, 'ethereumjs accepted')
            them = l.peers[0]!
          } else {
            const ln = createServer()
            ln.listen(0, '127.0.0.1')
            await once(ln, 'listening')
            const accepted = once(ln, 'connection') as Promise<[Socket]>
            const port = (ln.address() as AddressInfo).port
            const theirSock = await dialLocal(port)
            sockets.push(theirSock)
            ourSocket = (await accepted)[0]
            ln.close()
            them = ejsPeer({
              socket: theirSock,
              remoteId: publicKeyFromPrivate(ourKey),
              privateKey: ejsKey,
              capability: cap,
            })
          }
          sockets.push(ourSocket)
          const hello: Hello = {
            version,
            name: 'devp2p-ts-v',
            caps: [{ name: 'test', version: 1 }],
            listenPort: 0,
            id: publicKeyFromPrivate(ourKey),
            rest: [],
          }
          const connected = ejsEvent(them, 'connect')
          const res: SetupResult = await setupConnection({
            socket: ourSocket,
            privateKey: ourKey,
            ...(direction === 'we dial' ? { remotePublicKey: publicKeyFromPrivate(ejsKey) } : {}),
            hello,
            clock: systemClock,
            timeoutMs: 5_000,
          })
          await connected
          assert.equal(res.hello.version, 5, 'ethereumjs announces v5')
          assert.equal(res.conn.snappy, version >= 5)
          assert.equal(them.getHelloMessage()?.protocolVersion, version)
          // Record base-protocol messages as they arrive (Pong must decode as the empty list).
          const base: { code: number; payload: Uint8Array }[] = []
          // A wrapper without readMsgOrWait: the peer reads through readMsg, which records.
          const t = res.transport
          const transport: MsgTransport = {
            readMsg: async (opts) => {
              const m = await t.readMsg(opts)
              if (m.code < 0x10) base.push(m)
              return m
            },
            writeMsg: (code, payload, opts) => t.writeMsg(code, payload, opts),
            setSnappy: (on) => t.setSnappy(on),
            close: (err) => t.close(err),
            closeGracefully: (ms) => t.closeGracefully?.(ms) ?? Promise.resolve(),
          }
          const peer = new Peer({
            transport,
            hello: res.hello,
            protocols: matchProtocols([ours.protocol], res.hello.caps),
            inbound: direction !== 'we dial',
            clock: systemClock,
            config: { pingIntervalMs: 50 },
          })
          const ended = peer.run()
          await until(() => base.some((m) => m.code === BaseMsg.Pong), 5_000, 'a Pong from ethereumjs')
          assert.deepEqual(base.find((m) => m.code === BaseMsg.Pong)?.payload, Uint8Array.of(0xc0))
          await until(() => ours.rws.size === 1, 5_000, 'our protocol running')
          await exchange(ours, peer.publicKeyHex, ejsProtoOf(cap, them))
          assert.equal(peer.isRunning, true)

          // ethereumjs ends it: the reason arrives intact, as the remote's.
          them.disconnect(DISCONNECT_REASON.CLIENT_QUITTING)
          const end: PeerEnd = await ended
          assert.equal(end.side, 'remote', end.error.message)
          assert.equal(end.reason, DiscReason.Quitting)
        })
      }
    }
  })

  describe('Disconnect reasons', () => {
    it('we disconnect with TooManyPeers: ethereumjs reports it', async () => {
      const ours = recordingProtocol()
      const srv = await startServer(ours)
      const cap = ejsTestCapability()
      const l = await listenEjs(generatePrivateKey(), cap)
      listeners.push(l)
      const added = waitEvent(srv, (e) => e.type === 'add')
      srv.addPeer(ejsNode(l))
      await added
      await until(() => l.peers.length === 1, 5_000, 'ethereumjs accepted')
      const them = l.peers[0]!
      await until(() => them.getHelloMessage() !== null, 5_000, 'ejs hello')
      const closed = ejsEvent(them, 'close')
      const dropped = waitEvent(srv, (e) => e.type === 'drop')
      srv.peers()[0]!.peer.disconnect(DiscReason.TooManyPeers)
      const [reason, weDisconnected] = await closed
      assert.equal(reason, DISCONNECT_REASON.TOO_MANY_PEERS)
      assert.equal(weDisconnected, false, 'ethereumjs saw the remote end it')
      const d = (await dropped) as Extract<ServerEvent, { type: 'drop' }>
      assert.equal(d.side, 'local')
      assert.equal(d.reason, 'TooManyPeers')
      assert.equal(srv.peerCount(), 0)
      srv.removePeer(ejsNode(l)) // no redial
    })

    it('our protocol disconnects with UselessPeer: ethereumjs reports it (inbound)', async () => {
      const ours = recordingProtocol()
      const srv = await startServer(ours)
      const them = await ejsDialsUs(srv)
      await until(() => ours.peers.size === 1, 5_000, 'our protocol running')
      const closed = ejsEvent(them, 'close')
      const dropped = waitEvent(srv, (e) => e.type === 'drop')
      ;[...ours.peers.values()][0]!.disconnect(DiscReason.UselessPeer)
      const [reason] = await closed
      assert.equal(reason, DISCONNECT_REASON.USELESS_PEER)
      const d = (await dropped) as Extract<ServerEvent, { type: 'drop' }>
      assert.equal(d.side, 'local')
      assert.equal(d.reason, 'UselessPeer')
    })

    for (const [name, code] of [
      ['TooManyPeers', DISCONNECT_REASON.TOO_MANY_PEERS],
      ['SubprotocolError', DISCONNECT_REASON.SUBPROTOCOL_ERROR],
      ['Requested', DISCONNECT_REASON.DISCONNECT_REQUESTED],
    ] as const) {
      it(`ethereumjs disconnects with ${name}: our drop event shows it as remote`, async () => {
        const proto = recordingProtocol()
        const srv = await startServer(proto)
        const them = await ejsDialsUs(srv)
        await until(() => srv.peerCount() === 1, 5_000, 'peer added')
        const dropped = waitEvent(srv, (e) => e.type === 'drop')
        them.disconnect(code)
        const d = (await dropped) as Extract<ServerEvent, { type: 'drop' }>
        assert.equal(d.side, 'remote', d.error)
        assert.equal(d.reason, name)
        assert.equal(srv.metrics.get('p2p_peer_drops_total', { reason: `remote-${name}` }), 1)
        assert.equal(srv.peerCount(), 0)
      })
    }

    it('ethereumjs refuses our client name right after Hello: UselessPeer, remote', async () => {
      const ours = recordingProtocol()
      const srv = await startServer(ours, 'filtered-client')
      const cap = ejsTestCapability()
      const l = await listenEjs(generatePrivateKey(), cap, { remoteClientIdFilter: ['filtered'] })
      listeners.push(l)
      const dropped = waitEvent(srv, (e) => e.type === 'drop')
      srv.addPeer(ejsNode(l))
      const d = (await dropped) as Extract<ServerEvent, { type: 'drop' }>
      assert.equal(d.side, 'remote', d.error)
      assert.equal(d.reason, 'UselessPeer')
      srv.removePeer(ejsNode(l))
    })
  })
})

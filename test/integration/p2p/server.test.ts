import assert from 'node:assert/strict'
import { connect, type Socket } from 'node:net'
import { after, describe, it } from 'node:test'
import { type MsgReadWriter, send } from '../../../src/p2p/msg.js'
import { DisconnectError, DiscReason } from '../../../src/p2p/peer-error.js'
import type { Protocol } from '../../../src/p2p/protocol.js'
import type { Server } from '../../../src/p2p/server.js'
import {
  echoProtocol,
  nodeOf,
  type TestServerOptions,
  testServers,
  until,
  waitEvent,
} from '../../helpers/p2p.js'

const servers = testServers()
const start = (opts: TestServerOptions = {}, protocols?: Protocol[]): Promise<Server> =>
  servers.start(protocols ? { ...opts, protocols } : opts)
after(() => servers.stopAll())

describe('Server', () => {
  it('connects to a static peer, runs the protocol both ways, and ends with ClientQuitting on stop', async () => {
    const got: { peer: string; code: number; payload: Uint8Array }[] = []
    const b = await start({}, [echoProtocol(got)])
    let rwA: MsgReadWriter | undefined
    const gotA: number[] = []
    const a = await start({}, [
      {
        name: 'test',
        version: 1,
        length: 4,
        async run(_p, rw) {
          rwA = rw
          for (;;) gotA.push((await rw.readMsg()).code)
        },
      },
    ])
    const added = waitEvent(b, (e) => e.type === 'add')
    a.addPeer(nodeOf(b))
    await added
    await until(() => rwA !== undefined && a.peerCount() === 1, 10_000, 'peer on a')
    assert.equal(b.peersInfo()[0]?.network.inbound, true)
    assert.equal(a.peersInfo()[0]?.network.static, true)
    assert.deepEqual(a.peersInfo()[0]?.caps, ['test/1'])
    await send(rwA!, 0, [Uint8Array.of(1, 2, 3)])
    await until(() => gotA.length === 1, 10_000, 'echo')
    assert.deepEqual(gotA, [1])
    assert.equal(got[0]?.code, 0)
    // Wire bytes include both handshakes and the frames: well above the 3-byte payload.
    const wireIn = /^p2p_wire_ingress_bytes (\d+)$/m.exec(a.prometheus())
    assert.ok(wireIn && Number(wireIn[1]) > 300, String(wireIn))
    assert.equal(
      a.metrics.get('p2p_ingress_bytes_total'),
      5,
      'payload bytes of the echo (RLP list of 3 bytes)',
    )
    const dropped = waitEvent(b, (e) => e.type === 'drop')
    await a.stop()
    const d = await dropped
    assert.ok(d.type === 'drop' && d.reason === 'Quitting' && d.side === 'remote', JSON.stringify(d))
    assert.equal(b.peerCount(), 0)
  })

  it('refuses a useless peer, a duplicate connection and a connection to itself', async () => {
    const a = await start({}, [echoProtocol()])
    const other = await start({}, [
      { name: 'other', version: 1, length: 1, run: () => new Promise(() => {}) },
    ])
    const useless = waitEvent(other, (e) => e.type === 'add', 3000).then(
      () => 'added',
      () => 'not added',
    )
    other.addPeer(nodeOf(a))
    assert.equal(await useless, 'not added')
    assert.equal(a.metrics.get('p2p_serves_total', { result: 'local-UselessPeer' }), 1)

    // A connection to itself: the dial side refuses it at the first checkpoint.
    const selfSock = await new Promise<Socket>((resolve) => {
      const s = connect(a.port, '127.0.0.1', () => resolve(s))
    })
    const selfErr = await a
      .setupConn(selfSock, { inbound: false, trusted: false, static: false, dynamic: true }, nodeOf(a))
      .then(
        () => undefined,
        (e: unknown) => e,
      )
    assert.ok(selfErr instanceof DisconnectError && selfErr.reason === DiscReason.Self, String(selfErr))
    assert.equal(a.metrics.get('p2p_dials_total', { result: 'local-Self' }), 1)
    assert.equal(a.peerCount(), 0, 'never connected to itself')

    const b = await start({}, [echoProtocol()])
    b.addPeer(nodeOf(a))
    await until(() => a.peerCount() === 1 && b.peerCount() === 1, 10_000, 'connected')
    // A second connection with the same key: set up by hand through b's setupConn.
    const sock = await new Promise<Socket>((resolve) => {
      const s = connect(a.port, '127.0.0.1', () => resolve(s))
    })
    await b
      .setupConn(sock, { inbound: false, trusted: false, static: false, dynamic: true }, nodeOf(a))
      .catch((e: unknown) => e)
    await until(
      () => a.metrics.get('p2p_serves_total', { result: 'local-AlreadyConnected' }) === 1,
      5000,
      'refusal',
    )
    assert.equal(a.peerCount(), 1)
  })

  it('holds at most maxPendingPeers silent connections, closes them at the deadline, and lets real peers in', async () => {
    const a = await start({ maxPendingPeers: 10, handshakeTimeoutMs: 400 })
    const socks: Socket[] = []
    let closed = 0
    let maxPending = 0
    for (let i = 0; i < 60; i++) {
      const s = connect(a.port, '127.0.0.1')
      s.on('error', () => {})
      s.on('close', () => closed++)
      socks.push(s)
      maxPending = Math.max(maxPending, a.pendingHandshakes)
    }
    await until(() => closed === 60, 10_000, 'all silent sockets closed')
    assert.ok(maxPending <= 10, `pending ${maxPending}`)
    assert.equal(a.pendingHandshakes, 0, 'every slot returned')
    assert.ok(a.metrics.get('p2p_serves_total', { result: 'no-slot' }) >= 40)
    assert.ok(a.metrics.get('p2p_serves_total', { result: 'timeout' }) >= 1)
    const b = await start()
    b.addPeer(nodeOf(a))
    await until(() => a.peerCount() === 1, 10_000, 'real peer in')
  })

  it('sends TooManyPeers above maxPeers, but admits trusted peers', async () => {
    const a = await start({ maxPeers: 1, noDial: true })
    const b = await start()
    const c = await start()
    b.addPeer(nodeOf(a))
    await until(() => a.peerCount() === 1, 10_000, 'first peer')
    const refused = waitEvent(c, (e) => e.type === 'add', 2500).then(
      () => 'added',
      () => 'refused',
    )
    c.addPeer(nodeOf(a))
    assert.equal(await refused, 'refused')
    assert.ok(a.metrics.get('p2p_serves_total', { result: 'local-TooManyPeers' }) >= 1)
    a.addTrustedPeer(nodeOf(c))
    await until(() => a.peerCount() === 2, 60_000, 'trusted peer in (after c redials)')
    assert.ok(a.peersInfo().some((p) => p.network.trusted))
  })
  it('two nodes dialing each other at once keep exactly one connection (the lower id dials)', async () => {
    for (let round = 0; round < 4; round++) {
      const a = await start()
      const b = await start()
      const dial = (to: Server): Promise<Socket> =>
        new Promise((resolve) => {
          const s = connect(to.port, '127.0.0.1', () => resolve(s))
          s.on('error', () => {})
        })
      const [sa, sb] = await Promise.all([dial(b), dial(a)])
      const out = { inbound: false, trusted: false, static: false, dynamic: true }
      await Promise.all([
        a.setupConn(sa, { ...out }, nodeOf(b)).catch((e: unknown) => e),
        b.setupConn(sb, { ...out }, nodeOf(a)).catch((e: unknown) => e),
      ])
      await until(() => a.peerCount() === 1 && b.peerCount() === 1, 5000, 'one peer each')
      // Let any refused duplicate finish closing, then the survivor must still be there.
      await new Promise((r) => setTimeout(r, 300))
      assert.equal(a.peerCount(), 1)
      assert.equal(b.peerCount(), 1)
      const aDialed = a.self().idHex < b.self().idHex
      assert.equal(
        a.peers()[0]?.flags.inbound,
        !aDialed,
        `round ${round}: a keeps the connection the lower id dialed`,
      )
      assert.equal(b.peers()[0]?.flags.inbound, aDialed)
      await Promise.all([a.stop(), b.stop()])
    }
  })
})

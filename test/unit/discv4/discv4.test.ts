/**
 * The Discv4 engine between nodes on the in-memory network (simulated clock): requests and
 * replies, bonding, Neighbors gathering and filtering, EIP-868, NetRestrict, NodeDB bookkeeping,
 * limits, cancellation and close.
 */
import assert from 'node:assert/strict'
import { afterEach, beforeEach, describe, it } from 'node:test'
import { generatePrivateKey, publicKeyFromPrivate } from '../../../src/crypto/index.js'
import {
  createMemoryNetwork,
  Discv4,
  Discv4Error,
  decodePacket,
  type MemoryNetwork,
  type WireNode,
} from '../../../src/discv4/index.js'
import { Node, NodeDB } from '../../../src/enode/index.js'
import { Netlist } from '../../../src/netutil/index.js'
import { isAbortError, parseIP, SimulatedClock, seededRandom, TimeoutError } from '../../../src/util/index.js'
import { drive, keys, startNode, TestPeer } from './helpers.js'

const isErr =
  (reason: string) =>
  (e: unknown): boolean =>
    e instanceof Discv4Error && e.reason === reason

describe('Discv4 on the memory network', () => {
  let clock: SimulatedClock
  let net: MemoryNetwork
  const nodes: Discv4[] = []
  const peers: TestPeer[] = []
  const nextKey = keys(1234)

  const start = async (ip: string, extra: Parameters<typeof startNode>[3] = {}): Promise<Discv4> => {
    const n = await startNode(net, clock, ip, {
      key: nextKey(),
      random: seededRandom(nodes.length + 1),
      ...extra,
    })
    nodes.push(n)
    await clock.advance(0)
    return n
  }
  const peer = (ip: string, target: Discv4, port = 30303): TestPeer => {
    const p = new TestPeer(net, clock, ip, port, nextKey(), target.localAddress())
    peers.push(p)
    return p
  }
  /** Count datagrams of `kind` sent by `from` while `fn` runs. */
  const countSent = async <T>(
    from: Discv4,
    kind: string,
    fn: () => Promise<T>,
  ): Promise<{ value: T; n: number }> => {
    let n = 0
    const me = from.localAddress()
    const untap = net.tap((p) => {
      if (p.from.ip === me.ip && p.from.port === me.port && decodePacket(p.bytes).packet.kind === kind) n++
    })
    try {
      return { value: await fn(), n }
    } finally {
      untap()
    }
  }

  beforeEach(() => {
    clock = new SimulatedClock()
    net = createMemoryNetwork({ clock })
  })
  afterEach(() => {
    for (const n of nodes.splice(0)) n.close()
    for (const p of peers.splice(0)) p.close()
  })

  it('ping resolves with the peer seq and our observed endpoint; the pinged node adds us after its ping-back', async () => {
    const a = await start('10.0.0.1')
    const b = await start('10.0.0.2')
    const res = await drive(clock, a.ping(b.self()))
    assert.equal(res.seq, b.self().seq)
    assert.deepEqual(res.observed, { ip: '10.0.0.1', port: 30303 })
    await clock.advance(10)
    assert.ok(
      b.tableNodes().some((n) => n.idHex === a.self().idHex),
      'b added a as an inbound node',
    )
    assert.ok(b.buckets().some((bk) => bk.entries.some((e) => e.node.idHex === a.self().idHex && e.live)))
  })

  it('a Ping from an unbonded node is answered and pinged back once, even when repeated', async () => {
    const a = await start('10.0.0.1')
    const p = peer('10.0.0.9', a)
    p.ping()
    p.ping()
    const got = await p.collect(100)
    assert.equal(TestPeer.ofKind(got, 'pong').length, 2)
    assert.equal(TestPeer.ofKind(got, 'ping').length, 1, 'one ping-back in flight per endpoint')
  })

  it('requestENR returns the current signed record, also after it changed', async () => {
    const a = await start('10.0.0.1')
    const b = await start('10.0.0.2')
    const n1 = await drive(clock, a.requestENR(b.self()))
    assert.equal(n1.seq, b.self().seq)
    assert.ok(n1.record?.verify())
    b.localNode.set('foo', Uint8Array.of(1, 2, 3))
    const n2 = await drive(clock, a.requestENR(b.self()))
    assert.equal(n2.seq, n1.seq + 1n)
    assert.deepEqual(n2.record?.get('foo'), Uint8Array.of(1, 2, 3))
  })

  it('bonds once before FindNode (ping, wait for the ping-back), then asks directly', async () => {
    const a = await start('10.0.0.1')
    const b = await start('10.0.0.2')
    const first = await countSent(a, 'ping', () => drive(clock, a.findNode(b.self(), a.self().publicKey)))
    assert.equal(first.n, 1)
    const second = await countSent(a, 'ping', () => drive(clock, a.findNode(b.self(), a.self().publicKey)))
    assert.equal(second.n, 0)
    assert.ok(second.value.some((n) => n.idHex === a.self().idHex) || second.value.length === 0)
  })

  it('a FindNode answer of 16 nodes comes in two Neighbors packets (12 + 4) and is gathered', async () => {
    const b = await start('10.0.0.2')
    for (let i = 0; i < 20; i++) {
      const c = await start(`10.0.1.${i + 1}`)
      await drive(clock, c.ping(b.self()))
    }
    await clock.advance(10)
    assert.ok(b.tableNodes().length >= 16)
    const a = await start('10.0.0.1')
    const sizes: number[] = []
    const bAddr = b.localAddress()
    const untap = net.tap((p) => {
      if (p.from.port !== bAddr.port || p.from.ip !== bAddr.ip) return
      const d = decodePacket(p.bytes).packet
      if (d.kind === 'neighbors') sizes.push(d.nodes.length)
    })
    const found = await drive(clock, a.findNode(b.self(), publicKeyFromPrivate(nextKey())))
    untap()
    assert.deepEqual(sizes, [12, 4])
    assert.equal(found.length, 16)
  })

  it('a Neighbors packet that is not full ends the answer without waiting for the timeout', async () => {
    const a = await start('10.0.0.1')
    const p = peer('10.0.0.9', a)
    const others = Array.from({ length: 3 }, () => publicKeyFromPrivate(nextKey()))
    p.serve({
      neighbors: () =>
        others.map((key, i) => ({ ip: parseIP(`10.0.5.${i + 1}`), udp: 30303, tcp: 30303, key })),
    })
    await drive(clock, a.ping(p.node())) // bond first, so only the FindNode exchange remains
    await clock.advance(10)
    const r: { found?: Node[] } = {}
    void a.findNode(p.node(), others[0]!).then((f) => {
      r.found = f
    })
    await clock.advance(100) // well below the 500 ms reply timeout
    assert.equal(r.found?.length, 3)
  })

  it('a single full packet (12) leaves the answer open until the timeout, then succeeds', async () => {
    const a = await start('10.0.0.1')
    const p = peer('10.0.0.9', a)
    const others = Array.from({ length: 12 }, () => publicKeyFromPrivate(nextKey()))
    p.serve({
      neighbors: () =>
        others.map((key, i) => ({ ip: parseIP(`10.0.5.${i + 1}`), udp: 30303, tcp: 30303, key })),
    })
    await drive(clock, a.ping(p.node()))
    await clock.advance(10)
    const r: { found?: Node[] } = {}
    void a.findNode(p.node(), others[0]!).then((f) => {
      r.found = f
    })
    const got = (): Node[] | undefined => r.found
    await clock.advance(100)
    assert.equal(got(), undefined, 'a full packet may be followed by more')
    await clock.advance(500)
    assert.equal(got()?.length, 12)
  })

  it('answering with exactly 12 (or 0) nodes, we add an empty Neighbors packet to mark the end', async () => {
    const b = await start('10.0.0.2')
    const p = peer('10.0.0.9', b)
    await p.bond()
    p.send({ kind: 'findnode', target: p.publicKey, expiration: p.exp() })
    const ns = TestPeer.ofKind(await p.collect(), 'neighbors').map((n) => n.nodes.length)
    assert.deepEqual(ns, [1], 'one node (the peer itself): one short packet')
    for (let i = 0; i < 11; i++) {
      const c = await start(`10.0.1.${i + 1}`)
      await drive(clock, c.ping(b.self()))
    }
    await clock.advance(10)
    assert.equal(b.tableNodes().length, 12)
    p.send({ kind: 'findnode', target: p.publicKey, expiration: p.exp() })
    const twelve = TestPeer.ofKind(await p.collect(), 'neighbors').map((n) => n.nodes.length)
    assert.deepEqual(twelve, [12, 0])
  })

  it('Neighbors entries are filtered: low port, relay-IP rules, invalid key', async () => {
    const a = await start('51.0.0.1')
    const p = peer('51.0.0.9', a)
    const good = publicKeyFromPrivate(nextKey())
    const k = (): Uint8Array => publicKeyFromPrivate(nextKey())
    const entries: WireNode[] = [
      { ip: parseIP('52.1.1.1'), udp: 30303, tcp: 30303, key: good },
      { ip: parseIP('52.1.1.2'), udp: 1024, tcp: 30303, key: k() }, // UDP port ≤ 1024
      { ip: parseIP('10.1.1.1'), udp: 30303, tcp: 30303, key: k() }, // LAN from a WAN sender
      { ip: parseIP('127.0.0.1'), udp: 30303, tcp: 30303, key: k() }, // loopback from a WAN sender
      { ip: parseIP('0.0.0.0'), udp: 30303, tcp: 30303, key: k() }, // unspecified
      { ip: parseIP('192.0.2.1'), udp: 30303, tcp: 30303, key: k() }, // special network
      { ip: parseIP('52.1.1.3'), udp: 30303, tcp: 30303, key: new Uint8Array(64).fill(7) }, // not on the curve
      { ip: Uint8Array.of(1, 2, 3), udp: 30303, tcp: 30303, key: k() }, // bad IP length
    ]
    p.serve({ neighbors: () => entries })
    const found = await drive(clock, a.findNode(p.node(), good))
    assert.deepEqual(
      found.map((n) => n.ip),
      ['52.1.1.1'],
    )
  })

  it('NetRestrict: packets from outside are dropped, addresses outside are neither contacted nor learned', async () => {
    const a = await start('10.0.0.1', { extra: { netRestrict: Netlist.parse('10.0.0.0/8') } })
    const outside = peer('51.0.0.9', a)
    outside.ping()
    assert.deepEqual(await outside.collect(), [])
    assert.equal(a.stats().droppedRestricted, 1)
    await assert.rejects(a.ping(outside.node()), isErr('net-restrict'))
    const inside = peer('10.0.0.9', a)
    const keyOut = publicKeyFromPrivate(nextKey())
    const keyIn = publicKeyFromPrivate(nextKey())
    inside.serve({
      neighbors: () => [
        { ip: parseIP('11.1.1.1'), udp: 30303, tcp: 30303, key: keyOut },
        { ip: parseIP('10.1.1.1'), udp: 30303, tcp: 30303, key: keyIn },
      ],
    })
    const found = await drive(clock, a.findNode(inside.node(), keyIn))
    assert.deepEqual(
      found.map((n) => n.ip),
      ['10.1.1.1'],
    )
  })

  it('unsolicited replies are dropped and counted', async () => {
    const a = await start('10.0.0.1')
    const p = peer('10.0.0.9', a)
    p.pong(new Uint8Array(32))
    p.send({ kind: 'neighbors', nodes: [], expiration: p.exp() })
    await p.collect(50)
    assert.equal(a.stats().droppedUnsolicited, 2)
  })

  it('EIP-868: a Ping announcing a higher seq makes us fetch the record of a table node', async () => {
    const a = await start('10.0.0.1')
    const b = await start('10.0.0.2')
    await drive(clock, b.ping(a.self()))
    await clock.advance(20)
    const inA = (): Node | undefined => a.tableNodes().find((n) => n.idHex === b.self().idHex)
    assert.equal(inA()?.seq, b.self().seq, 'record fetched right after the first contact')
    b.localNode.set('foo', 1)
    const newSeq = b.self().seq
    await drive(clock, b.ping(a.self()))
    await clock.advance(20)
    assert.equal(inA()?.seq, newSeq)
    assert.equal(inA()?.record?.get('foo')?.toString(), Uint8Array.of(1).toString())
  })

  it('NodeDB: last ping/pong per endpoint and FindNode failures are recorded', async () => {
    const db = NodeDB.open(undefined, { clock })
    const a = await start('10.0.0.1', { extra: { db } })
    const b = await start('10.0.0.2')
    await drive(clock, a.findNode(b.self(), b.self().publicKey))
    assert.ok(db.lastPongReceived(b.self().id, '10.0.0.2') > 0)
    assert.ok(db.lastPingReceived(b.self().id, '10.0.0.2') > 0)
    // A peer that answers pings but never FindNode: a lookup through it counts a failure.
    const mute = peer('10.0.0.9', a)
    mute.serve()
    await drive(clock, a.ping(mute.node()))
    await clock.advance(10)
    await drive(clock, a.lookup(a.self().publicKey))
    assert.ok(db.findFails(mute.node().id, '10.0.0.9') >= 1)
    a.close()
    db.close()
  })

  it('a dead node: ping and findNode reject with TimeoutError', async () => {
    const a = await start('10.0.0.1')
    const ghost = Node.fromPublicKey(publicKeyFromPrivate(nextKey()), { ip: '10.0.0.99', udp: 30303 })
    await assert.rejects(drive(clock, a.ping(ghost)), TimeoutError)
    await assert.rejects(drive(clock, a.findNode(ghost, ghost.publicKey)), TimeoutError)
  })

  it('bad arguments: ourselves, no UDP endpoint, wrong target length', async () => {
    const a = await start('10.0.0.1')
    await assert.rejects(a.ping(a.self()), isErr('self'))
    await assert.rejects(
      a.ping(Node.fromPublicKey(publicKeyFromPrivate(nextKey()))),
      isErr('no-udp-endpoint'),
    )
    await assert.rejects(a.findNode(a.self(), new Uint8Array(32)), RangeError)
    await assert.rejects(a.lookup(new Uint8Array(32)), RangeError)
  })

  it('the pending-reply cap refuses requests beyond it', async () => {
    const a = await start('10.0.0.1', { config: { maxPendingReplies: 2 } })
    const ghost = (i: number): Node =>
      Node.fromPublicKey(publicKeyFromPrivate(nextKey()), { ip: `10.0.0.${100 + i}`, udp: 30303 })
    const p1 = a.ping(ghost(1))
    const p2 = a.ping(ghost(2))
    await assert.rejects(a.ping(ghost(3)), isErr('too-many-pending'))
    await clock.advance(600)
    await assert.rejects(p1, TimeoutError)
    await assert.rejects(p2, TimeoutError)
  })

  it('abort and close: calls reject, nothing is left pending, the connection is closed', async () => {
    const a = await start('10.0.0.1')
    const ghost = Node.fromPublicKey(publicKeyFromPrivate(nextKey()), { ip: '10.0.0.99', udp: 30303 })
    const ac = new AbortController()
    const p = a.ping(ghost, { signal: ac.signal })
    ac.abort()
    await assert.rejects(p, (e: unknown) => isAbortError(e))
    await assert.rejects(a.ping(ghost, { signal: AbortSignal.abort() }), (e: unknown) => isAbortError(e))
    const pending = a.ping(ghost)
    a.close()
    await assert.rejects(pending, isErr('closed'))
    await assert.rejects(a.ping(ghost), isErr('closed'))
    // The address is free again.
    const again = net.listen('10.0.0.1', 30303)
    again.close()
  })

  it('resolve: asks the node; on failure uses the table copy, then a lookup', async () => {
    const a = await start('10.0.0.1')
    const b = await start('10.0.0.2')
    const c = await start('10.0.0.3')
    // c knows b; a knows only c.
    await drive(clock, b.ping(c.self()))
    await drive(clock, c.ping(a.self()))
    await clock.advance(20)
    b.localNode.set('foo', 9)
    const stale = Node.fromPublicKey(b.self().publicKey, { ip: '10.0.0.2', udp: 40000 })
    const r = await drive(clock, a.resolve(stale))
    assert.equal(r.seq, b.self().seq)
    assert.equal(r.udp, 30303)
    // A node nobody knows resolves to itself.
    const ghost = Node.fromPublicKey(publicKeyFromPrivate(nextKey()), { ip: '10.0.0.99', udp: 30303 })
    assert.equal(await drive(clock, a.resolve(ghost)), ghost)
  })

  it('garbage datagrams are dropped and counted; the node keeps answering', async () => {
    const a = await start('10.0.0.1')
    const p = peer('10.0.0.9', a)
    const r = seededRandom(4)
    for (let i = 0; i < 200; i++) p.sendRaw(r.bytes(r.int(1400)))
    const valid = p.ping()
    const got = await p.collect(50)
    assert.equal(a.stats().droppedInvalid, 200)
    assert.deepEqual(TestPeer.ofKind(got, 'pong')[0]?.replyTok, valid)
  })

  it('the lifetime signal of start() closes discovery', async () => {
    const ac = new AbortController()
    const a = await start('10.0.0.1', { extra: { signal: ac.signal } })
    ac.abort()
    await assert.rejects(a.ping(a.self()), isErr('closed'))
    await assert.rejects(start('10.0.0.2', { extra: { signal: AbortSignal.abort() } }), (e: unknown) =>
      isAbortError(e),
    )
  })

  it('a private key that does not match the given LocalNode is refused', async () => {
    const { LocalNode } = await import('../../../src/enode/index.js')
    const ln = new LocalNode(generatePrivateKey(seededRandom(99)), { clock })
    await assert.rejects(
      Discv4.start({ privateKey: nextKey(), localNode: ln, conn: net.listen('10.0.0.50', 30303), clock }),
      RangeError,
    )
  })
})

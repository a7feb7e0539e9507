/**
 * The 15 behaviours of go-ethereum's discv4 conformance suite (`devp2p discv4 test`,
 * internal/v4test), each as a named test against our node over the in-memory UDP network with a
 * simulated clock. A hand-driven test peer crafts the packets; like geth's suite it waits 300 ms
 * (simulated) for replies.
 */
import assert from 'node:assert/strict'
import { afterEach, beforeEach, describe, it } from 'node:test'
import { keccak256, publicKeyFromPrivate, sign } from '../../../src/crypto/index.js'
import {
  createMemoryNetwork,
  type Discv4,
  encodePacket,
  type MemoryNetwork,
} from '../../../src/discv4/index.js'
import { Node } from '../../../src/enode/index.js'
import { concatBytes, formatIP, parseIP, SimulatedClock, toHex } from '../../../src/util/index.js'
import { keys, startNode, TestPeer } from './helpers.js'

const TARGET = { ip: '10.0.0.1', port: 30303 }
const PEER_IP = '10.0.0.2'
const PEER_IP2 = '10.0.0.3'

describe('discv4 conformance (geth v4test)', () => {
  let clock: SimulatedClock
  let net: MemoryNetwork
  let node: Discv4
  let peer: TestPeer
  const nextKey = keys(77)

  beforeEach(async () => {
    clock = new SimulatedClock()
    net = createMemoryNetwork({ clock })
    node = await startNode(net, clock, TARGET.ip, { port: TARGET.port, key: nextKey() })
    await clock.advance(10) // initial refresh (empty table) completes
    peer = new TestPeer(net, clock, PEER_IP, 30304, nextKey(), TARGET)
  })
  afterEach(() => {
    node.close()
    peer.close()
  })

  it('Ping/Basic: one Pong (right token, to, future expiration) and one Ping back', async () => {
    const hash = peer.ping()
    const got = await peer.collect()
    const pongs = TestPeer.ofKind(got, 'pong')
    const pings = TestPeer.ofKind(got, 'ping')
    assert.equal(pongs.length, 1)
    assert.equal(pings.length, 1)
    assert.equal(got.length, 2)
    const pong = pongs[0]!
    assert.deepEqual(pong.replyTok, hash)
    assert.equal(formatIP(pong.to.ip), PEER_IP)
    assert.equal(pong.to.udp, 30304)
    assert.ok(pong.expiration * 1000 > clock.now())
    assert.equal(pong.enrSeq, node.self().seq)
  })

  it('Ping/WrongTo: a Ping with a bogus `to` is answered', async () => {
    peer.ping({ to: { ip: parseIP('192.0.2.1'), udp: 1, tcp: 1 } })
    assert.equal(TestPeer.ofKind(await peer.collect(), 'pong').length, 1)
  })

  it('Ping/WrongFrom: a Ping with a bogus `from` is answered at the UDP source', async () => {
    peer.ping({ from: { ip: parseIP('192.0.2.1'), udp: 1, tcp: 1 } })
    const pongs = TestPeer.ofKind(await peer.collect(), 'pong')
    assert.equal(pongs.length, 1)
    assert.equal(formatIP(pongs[0]!.to.ip), PEER_IP)
    assert.equal(pongs[0]!.to.udp, 30304)
  })

  it('Ping/ExtraData: a Ping with extra list elements is answered (EIP-8)', async () => {
    peer.ping({ enrSeq: 7n, rest: [Uint8Array.of(1), [Uint8Array.of(2, 3)]] })
    assert.equal(TestPeer.ofKind(await peer.collect(), 'pong').length, 1)
  })

  it('Ping/ExtraDataWrongFrom: extra elements and a bogus `from` together are answered', async () => {
    peer.ping({ from: { ip: parseIP('192.0.2.1'), udp: 1, tcp: 1 }, rest: [Uint8Array.of(0xff)] })
    assert.equal(TestPeer.ofKind(await peer.collect(), 'pong').length, 1)
  })

  it('Ping/PastExpiration: an expired Ping gets no reply', async () => {
    peer.ping({ expiration: peer.exp(-20) })
    assert.deepEqual(await peer.collect(), [])
  })

  it('Ping/WrongPacketType: an unknown packet type (66) gets no reply', async () => {
    const { bytes } = encodePacket(peer.key, { kind: 'enrRequest', expiration: peer.exp() })
    const body = concatBytes(Uint8Array.of(66), bytes.subarray(98))
    const sig = sign(keccak256(body), peer.key)
    peer.sendRaw(concatBytes(keccak256(concatBytes(sig, body)), sig, body))
    assert.deepEqual(await peer.collect(), [])
  })

  it('Ping/BondThenPingWithWrongFrom: after bonding, a Ping with bogus `from` gets a Pong', async () => {
    await peer.bond()
    peer.ping({ from: { ip: parseIP('192.0.2.1'), udp: 1, tcp: 1 } })
    const got = await peer.collect()
    assert.equal(TestPeer.ofKind(got, 'pong').length, 1)
    // Bonded now: no second ping-back.
    assert.equal(TestPeer.ofKind(got, 'ping').length, 0)
  })

  it('ENRRequest: after bonding, answered with our signed record and the right token', async () => {
    await peer.bond()
    const hash = peer.send({ kind: 'enrRequest', expiration: peer.exp() })
    const resps = TestPeer.ofKind(await peer.collect(), 'enrResponse')
    assert.equal(resps.length, 1)
    const r = resps[0]!
    assert.deepEqual(r.replyTok, hash)
    assert.ok(r.record.verify())
    const n = Node.fromRecord(r.record)
    assert.equal(n.idHex, node.self().idHex)
    assert.equal(n.seq, node.self().seq)
  })

  it('Findnode/WithoutEndpointProof: FindNode before bonding gets no reply', async () => {
    peer.send({ kind: 'findnode', target: peer.publicKey, expiration: peer.exp() })
    assert.deepEqual(await peer.collect(), [])
  })

  it('Findnode/BasicFindnode: after bonding, FindNode gets Neighbors', async () => {
    await peer.bond()
    peer.send({ kind: 'findnode', target: peer.publicKey, expiration: peer.exp() })
    const ns = TestPeer.ofKind(await peer.collect(), 'neighbors')
    assert.ok(ns.length >= 1)
  })

  it('Findnode/UnsolicitedNeighbors: unsolicited Neighbors are not inserted into the table', async () => {
    await peer.bond()
    const fake = keys(5)()
    const fakeNode = Node.fromPublicKey(publicKeyFromPrivate(fake), {
      ip: '10.9.9.9',
      udp: 30303,
      tcp: 30303,
    })
    peer.send({
      kind: 'neighbors',
      nodes: [{ ip: parseIP('10.9.9.9'), udp: 30303, tcp: 30303, key: fakeNode.publicKey }],
      expiration: peer.exp(),
    })
    await peer.collect()
    peer.send({ kind: 'findnode', target: fakeNode.publicKey, expiration: peer.exp() })
    const ns = TestPeer.ofKind(await peer.collect(), 'neighbors')
    assert.ok(ns.length >= 1)
    for (const n of ns) for (const e of n.nodes) assert.notEqual(toHex(e.key), toHex(fakeNode.publicKey))
    assert.equal(
      node.tableNodes().some((n) => n.idHex === fakeNode.idHex),
      false,
    )
  })

  it('Findnode/PastExpiration: an expired FindNode (after bonding) gets no reply', async () => {
    await peer.bond()
    peer.send({ kind: 'findnode', target: peer.publicKey, expiration: peer.exp(-20) })
    assert.deepEqual(await peer.collect(), [])
  })

  it('Amplification/InvalidPongHash: a Pong with a wrong token is no endpoint proof', async () => {
    peer.ping()
    const got = await peer.collect(50)
    const pingBack = got.find((d) => d.packet.kind === 'ping')
    assert.ok(pingBack)
    peer.pong(new Uint8Array(32).fill(0xaa))
    await peer.collect(50)
    peer.send({ kind: 'findnode', target: peer.publicKey, expiration: peer.exp() })
    assert.deepEqual(await peer.collect(), [])
  })

  it('Amplification/WrongIP: bonded from one IP, a FindNode from another IP gets no reply', async () => {
    await peer.bond()
    const other = new TestPeer(net, clock, PEER_IP2, 30304, peer.key, TARGET)
    try {
      other.send({ kind: 'findnode', target: peer.publicKey, expiration: other.exp() })
      assert.deepEqual(await other.collect(), [])
      // The same request from the bonded IP is answered.
      peer.send({ kind: 'findnode', target: peer.publicKey, expiration: peer.exp() })
      assert.ok(TestPeer.ofKind(await peer.collect(), 'neighbors').length >= 1)
    } finally {
      other.close()
    }
  })
})

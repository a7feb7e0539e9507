/**
 * Discovery and connection with an independent implementation, end to end on 127.0.0.1: our
 * bootnode (a Server with maxPeers 0: discovery only, refuses every connection), two of our
 * Servers with a `test/1` protocol bootstrapped from it, and an @ethereumjs/devp2p node (its
 * DPT for discovery, its RLPx dialing what DPT finds, with a matching `test/1` capability)
 * bootstrapped from the same bootnode. They must find each other through the bootnode (each of
 * our tables holds the other two; DPT's holds ours), connect over RLPx in every pair, and
 * exchange `test/1` messages with the ethereumjs node both ways. Every wait is bounded and
 * everything is closed in `after`.
 */
import assert from 'node:assert/strict'
import { after, describe, it } from 'node:test'
import { Common, Mainnet } from '@ethereumjs/common'
import { DPT, RLPx } from '@ethereumjs/devp2p'
import { generatePrivateKey, publicKeyFromPrivate } from '../../../src/crypto/index.js'
import { nodeIdFromPublicKey } from '../../../src/enode/index.js'
import { type Discv4Discovery, startDiscv4 } from '../../../src/p2p/discovery.js'
import { Server } from '../../../src/p2p/server.js'
import { equalBytes, seededRandom, toHex, utf8 } from '../../../src/util/index.js'
import {
  type EjsTestCapability,
  type EjsTestProto,
  ejsTestCapability,
  type RecordingProtocol,
  recordingProtocol,
} from '../../helpers/ethereumjs-peer.js'
import { until } from '../../helpers/p2p.js'
import { freeTcpPort, freeUdpPort } from '../../helpers/ports.js'

const EJS_NAME = 'ethereumjs-devp2p-interop'

const servers: Server[] = []
const cleanups: (() => void)[] = []
after(async () => {
  for (const c of cleanups) {
    try {
      c()
    } catch {
      // already closed
    }
  }
  await Promise.all(servers.map((s) => s.stop()))
})

interface Ours {
  readonly srv: Server
  readonly proto: RecordingProtocol
  readonly disc: () => Discv4Discovery
  /** Hex node id (keccak of the public key): what tables and admin_peers use. */
  readonly id: string
  /** Hex public key: what ethereumjs and our protocols' `peer.id` use. */
  readonly pub: string
}

/** One of our nodes; its discv4 is captured through the `startDiscovery` service. */
async function startOurs(name: string, bootnodes: Server[], maxPeers: number): Promise<Ours> {
  let disc: Discv4Discovery | undefined
  const proto = recordingProtocol()
  const srv = await Server.start(
    {
      privateKey: generatePrivateKey(),
      name,
      listenAddr: '127.0.0.1:0',
      maxPeers,
      bootnodes: bootnodes.map((b) => b.self()),
      protocols: maxPeers > 0 ? [proto.protocol] : [],
    },
    {
      startDiscovery: async (init) => {
        disc = await startDiscv4(init)
        return disc
      },
    },
  )
  servers.push(srv)
  const pub = publicKeyFromPrivate(srv.config.privateKey)
  return {
    srv,
    proto,
    disc: () => {
      assert.ok(disc, 'discovery started')
      return disc
    },
    id: toHex(nodeIdFromPublicKey(pub)),
    pub: toHex(pub),
  }
}

function tableIds(o: Ours): Set<string> {
  return new Set(
    o
      .disc()
      .discv4.tableNodes()
      .map((n) => n.idHex),
  )
}

interface Ejs {
  readonly dpt: DPT
  readonly rlpx: RLPx
  readonly cap: EjsTestCapability
  readonly id: string
  readonly pub: string
  readonly tcpPort: number
  readonly udpPort: number
  readonly errors: string[]
}

/** An ethereumjs node: DPT on a UDP port and RLPx on a TCP port of 127.0.0.1, RLPx fed by DPT. */
async function startEjs(): Promise<Ejs> {
  const key = generatePrivateKey()
  const pub = publicKeyFromPrivate(key)
  const tcpPort = await freeTcpPort()
  const udpPort = await freeUdpPort()
  const errors: string[] = []
  const dpt = new DPT(key, {
    endpoint: { address: '127.0.0.1', udpPort, tcpPort },
    refreshInterval: 2000,
    timeout: 2000,
  })
  dpt.events.on('error', (e: Error) => errors.push(`dpt: ${e.message}`))
  const dptListening = new Promise<void>((resolve) => dpt.events.once('listening', () => resolve()))
  dpt.bind(udpPort, '127.0.0.1')
  cleanups.push(() => dpt.destroy())
  await dptListening
  const cap = ejsTestCapability()
  const rlpx = new RLPx(key, {
    dpt,
    maxPeers: 10,
    clientId: utf8(EJS_NAME),
    capabilities: [cap.cap as never],
    common: new Common({ chain: Mainnet }),
    listenPort: tcpPort,
    timeout: 5000,
  })
  rlpx.events.on('error', (e: Error) => errors.push(`rlpx: ${e.message}`))
  rlpx.events.on('peer:error', (_p: unknown, e: Error) => errors.push(`rlpx peer: ${e.message}`))
  const rlpxListening = new Promise<void>((resolve) => rlpx.events.once('listening', () => resolve()))
  rlpx.listen(tcpPort, '127.0.0.1')
  cleanups.unshift(() => rlpx.destroy())
  await rlpxListening
  return { dpt, rlpx, cap, id: toHex(nodeIdFromPublicKey(pub)), pub: toHex(pub), tcpPort, udpPort, errors }
}

/** ethereumjs' live `test/1` instance talking to our node `o`. */
function ejsProtoFor(ejs: Ejs, o: Ours): EjsTestProto | undefined {
  const live = new Set(ejs.rlpx.getPeers())
  return ejs.cap.instances.find((i) => {
    const id = i.peer.getId()
    return live.has(i.peer) && id !== null && toHex(id) === o.pub
  })
}

/** `test/1` both ways between our node `o` and the ethereumjs node. */
async function exchange(o: Ours, ejs: Ejs, payload: Uint8Array): Promise<void> {
  await until(() => o.proto.rws.has(ejs.pub), 10_000, 'our test/1 running with ethereumjs')
  await until(() => ejsProtoFor(ejs, o) !== undefined, 10_000, "ethereumjs' test/1 running with ours")
  const theirs = ejsProtoFor(ejs, o)!
  // We send code 0; ethereumjs answers code 1 with the same payload.
  const before = o.proto.received.length
  await o.proto.rws.get(ejs.pub)!.writeMsg(0, payload)
  await until(
    () => o.proto.received.slice(before).some((r) => r.peer === ejs.pub && r.code === 1),
    10_000,
    'echo from ethereumjs',
  )
  const echo = o.proto.received.slice(before).find((r) => r.peer === ejs.pub && r.code === 1)!
  assert.ok(equalBytes(echo.payload, payload), 'ethereumjs echoed our payload intact')
  assert.ok(
    theirs.received.some((r) => r.code === 0 && equalBytes(r.payload, payload)),
    'ethereumjs received our message',
  )
  // ethereumjs sends code 0; we answer code 1.
  const reverse = Uint8Array.from(payload).reverse()
  const theirBefore = theirs.received.length
  theirs.send(0, reverse)
  await until(
    () => theirs.received.slice(theirBefore).some((r) => r.code === 1 && equalBytes(r.payload, reverse)),
    10_000,
    'echo from us',
  )
  assert.ok(
    o.proto.received.some((r) => r.peer === ejs.pub && r.code === 0 && equalBytes(r.payload, reverse)),
  )
}

describe('discovery and RLPx with @ethereumjs/devp2p through our bootnode', { timeout: 90_000 }, () => {
  it('two of our nodes and an @ethereumjs/devp2p node find each other through our bootnode and connect', async () => {
    const boot = await startOurs('devp2p-ts/bootnode', [], 0)
    const a = await startOurs('devp2p-ts/a', [boot.srv], 10)
    const b = await startOurs('devp2p-ts/b', [boot.srv], 10)
    // The bootnode knows our two nodes before ethereumjs asks it for neighbours.
    await until(() => tableIds(boot).has(a.id) && tableIds(boot).has(b.id), 15_000, 'bootnode table')

    const ejs = await startEjs()
    await ejs.dpt.bootstrap({ address: '127.0.0.1', udpPort: boot.srv.discoveryPort, tcpPort: boot.srv.port })
    assert.ok(
      ejs.dpt.getPeers().some((p) => p.id !== undefined && toHex(p.id) === boot.pub),
      `ethereumjs bonded with our bootnode (${ejs.errors.join('; ')})`,
    )

    // Discovery: each of our tables holds the ethereumjs node and our other node; DPT holds ours.
    const ejsKnows = (o: Ours): boolean =>
      ejs.dpt.getPeers().some((p) => p.id !== undefined && toHex(p.id) === o.pub)
    await until(
      () =>
        tableIds(a).has(ejs.id) &&
        tableIds(a).has(b.id) &&
        tableIds(b).has(ejs.id) &&
        tableIds(b).has(a.id) &&
        ejsKnows(a) &&
        ejsKnows(b),
      45_000,
      'every table to hold the others',
    )
    const ejsEntry = a
      .disc()
      .discv4.tableNodes()
      .find((n) => n.idHex === ejs.id)!
    assert.equal(ejsEntry.ip, '127.0.0.1')
    assert.equal(ejsEntry.udp, ejs.udpPort)
    assert.equal(ejsEntry.tcp, ejs.tcpPort, "the ethereumjs node's TCP port came through discovery")

    // RLPx: every pair of {a, b, ethereumjs} connected, the bootnode with nobody.
    const connected = (o: Ours, id: string): boolean => o.srv.peersInfo().some((p) => p.id === id)
    const ejsConnected = (o: Ours): boolean =>
      ejs.rlpx.getPeers().some((p) => {
        const id = p.getId()
        return id !== null && toHex(id) === o.pub
      })
    await until(
      () =>
        connected(a, b.id) &&
        connected(a, ejs.id) &&
        connected(b, ejs.id) &&
        ejsConnected(a) &&
        ejsConnected(b),
      45_000,
      'RLPx connections between every pair',
    )
    assert.equal(boot.srv.peerCount(), 0, 'the bootnode (maxPeers 0) keeps no peer')

    for (const [o, other] of [
      [a, b],
      [b, a],
    ] as const) {
      const infos = o.srv.peersInfo()
      const toEjs = infos.find((p) => p.id === ejs.id)!
      assert.equal(toEjs.name, EJS_NAME)
      assert.deepEqual(toEjs.caps, ['test/1'])
      assert.ok(toEjs.enode.startsWith(`enode://${ejs.pub}@127.0.0.1:`), toEjs.enode)
      const toOther = infos.find((p) => p.id === other.id)!
      assert.equal(toOther.name, other.srv.config.name)
      assert.deepEqual(toOther.caps, ['test/1'])
      const theirView = ejs.rlpx.getPeers().find((p) => {
        const id = p.getId()
        return id !== null && toHex(id) === o.pub
      })!
      const hello = theirView.getHelloMessage()!
      assert.equal(hello.clientId, o.srv.config.name)
      assert.deepEqual(
        hello.capabilities.map((c) => `${c.name}/${c.version}`),
        ['test/1'],
      )
    }

    // test/1 messages flow between each of our nodes and the ethereumjs node, both ways.
    const rand = seededRandom(0xd15c)
    await exchange(a, ejs, rand.bytes(100))
    await exchange(b, ejs, rand.bytes(3000))
  })
})

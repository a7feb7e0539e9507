/** The Kademlia table: buckets, replacements, IP limits, revalidation, refresh, seeds. */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { generatePrivateKey, publicKeyFromPrivate } from '../../../src/crypto/index.js'
import {
  BUCKET_SIZE,
  bucketIndexOf,
  DISCV4_DEFAULTS,
  MAX_REPLACEMENTS,
  N_BUCKETS,
  nodeFromStoredRecord,
  storedRecordOf,
  Table,
  type TableTransport,
} from '../../../src/discv4/index.js'
import { logDistance, Node, NodeDB } from '../../../src/enode/index.js'
import { ENR } from '../../../src/enr/index.js'
import { Netlist } from '../../../src/netutil/index.js'
import { type RandomSource, SimulatedClock, seededRandom, silentLogger } from '../../../src/util/index.js'

const SELF_KEY = generatePrivateKey(seededRandom(1))
const SELF = Node.fromPublicKey(publicKeyFromPrivate(SELF_KEY), { ip: '10.0.0.1', udp: 30303, tcp: 30303 })

/** Keys whose node falls into bucket `b` relative to SELF (generated deterministically). */
function keysInBucket(b: number, count: number, r: RandomSource): Uint8Array[] {
  const out: Uint8Array[] = []
  while (out.length < count) {
    const k = generatePrivateKey(r)
    const pub = publicKeyFromPrivate(k)
    const n = Node.fromPublicKey(pub)
    if (bucketIndexOf(logDistance(SELF.id, n.id)) === b) out.push(pub)
  }
  return out
}

function nodeAt(pub: Uint8Array, ip: string, udp = 30303): Node {
  return Node.fromPublicKey(pub, { ip, udp, tcp: udp })
}

interface FakeTransport extends TableTransport {
  pings: string[]
  lookups: string[]
  alive: (n: Node) => boolean
}

function fakeTransport(): FakeTransport {
  const t: FakeTransport = {
    pings: [],
    lookups: [],
    alive: () => true,
    ping: async (n) => {
      t.pings.push(n.idHex)
      if (!t.alive(n)) throw new Error('timeout')
      return 0n
    },
    lookupSelf: async () => {
      t.lookups.push('self')
    },
    lookupRandom: async () => {
      t.lookups.push('random')
    },
  }
  return t
}

function makeTable(
  opts: {
    transport?: TableTransport
    clock?: SimulatedClock
    db?: NodeDB
    bootnodes?: Node[]
    netRestrict?: Netlist
    seed?: number
  } = {},
): { table: Table; clock: SimulatedClock } {
  const clock = opts.clock ?? new SimulatedClock()
  const table = new Table({
    selfId: SELF.id,
    transport: opts.transport ?? fakeTransport(),
    config: DISCV4_DEFAULTS,
    clock,
    random: seededRandom(opts.seed ?? 9),
    logger: silentLogger,
    db: opts.db,
    bootnodes: opts.bootnodes,
    netRestrict: opts.netRestrict,
  })
  return { table, clock }
}

/** A started table whose first refresh has finished. */
async function readyTable(
  opts: Parameters<typeof makeTable>[0] = {},
): Promise<{ table: Table; clock: SimulatedClock }> {
  const r = makeTable(opts)
  r.table.start()
  await r.clock.advance(0)
  assert.ok(r.table.initDone)
  return r
}

describe('buckets', () => {
  it('17 buckets; log-distance 240 + i goes to bucket i, everything up to 240 to bucket 0', () => {
    assert.equal(N_BUCKETS, 17)
    assert.equal(bucketIndexOf(256), 16)
    assert.equal(bucketIndexOf(241), 1)
    assert.equal(bucketIndexOf(240), 0)
    assert.equal(bucketIndexOf(239), 0)
    assert.equal(bucketIndexOf(1), 0)
    const { table } = makeTable()
    assert.equal(table.buckets().length, 17)
  })

  it('a full bucket sends newcomers to the replacement list (10, newest first)', async () => {
    const { table } = await readyTable()
    const pubs = keysInBucket(16, BUCKET_SIZE + 12, seededRandom(2))
    for (const [i, p] of pubs.entries()) table.addFoundNode(nodeAt(p, `51.${i}.0.1`))
    const b = table.buckets()[16]!
    assert.equal(b.entries.length, BUCKET_SIZE)
    assert.equal(b.replacements.length, MAX_REPLACEMENTS)
    // newest first: the last added is at the head
    assert.equal(b.replacements[0]!.idHex, nodeAt(pubs[pubs.length - 1]!, '1.1.1.1').idHex)
    assert.equal(table.len(), BUCKET_SIZE)
  })

  it('self, nodes without IP or UDP port, and nodes outside NetRestrict are never added', async () => {
    const { table } = await readyTable({ netRestrict: Netlist.parse('51.0.0.0/8') })
    const [p1, p2, p3] = keysInBucket(16, 3, seededRandom(3))
    assert.equal(table.addFoundNode(SELF), false)
    assert.equal(table.addFoundNode(Node.fromPublicKey(p1!)), false)
    assert.equal(table.addFoundNode(Node.fromPublicKey(p2!, { ip: '51.1.1.1', udp: 0, tcp: 1 })), false)
    assert.equal(table.addFoundNode(nodeAt(p3!, '52.1.1.1')), false)
    assert.equal(table.addFoundNode(nodeAt(p3!, '51.1.1.1')), true)
  })

  it('IP limits: 2 per /24 per bucket, 10 per /24 in the table; LAN addresses are exempt', async () => {
    const { table } = await readyTable()
    const r = seededRandom(4)
    const b16 = keysInBucket(16, 3, r)
    assert.equal(table.addFoundNode(nodeAt(b16[0]!, '51.1.1.1')), true)
    assert.equal(table.addFoundNode(nodeAt(b16[1]!, '51.1.1.2')), true)
    assert.equal(table.addFoundNode(nodeAt(b16[2]!, '51.1.1.3')), false, 'third of the /24 in one bucket')
    // Table-wide: 2 more in each of buckets 15..12 (total 10), then an 11th in bucket 11 fails.
    let added = 2
    for (const b of [15, 14, 13, 12]) {
      for (const p of keysInBucket(b, 2, r)) {
        assert.equal(table.addFoundNode(nodeAt(p, `51.1.1.${10 + added}`)), true)
        added++
      }
    }
    assert.equal(added, 10)
    const [p11] = keysInBucket(11, 1, r)
    assert.equal(table.addFoundNode(nodeAt(p11!, '51.1.1.99')), false, '11th of the /24 in the table')
    // LAN: a whole bucket from one /24 is fine.
    const lan = makeTable()
    lan.table.start()
    await lan.clock.advance(0)
    const many = keysInBucket(16, BUCKET_SIZE, seededRandom(5))
    for (const [i, p] of many.entries())
      assert.equal(lan.table.addFoundNode(nodeAt(p, `192.168.1.${i + 1}`)), true)
  })

  it('inbound nodes are refused until the first refresh finished', async () => {
    const t = fakeTransport()
    let release!: () => void
    t.lookupSelf = () =>
      new Promise<void>((resolve) => {
        release = resolve
      })
    const { table, clock } = makeTable({ transport: t })
    table.start()
    await clock.advance(0)
    const [p1, p2] = keysInBucket(16, 2, seededRandom(6))
    assert.equal(table.initDone, false)
    assert.equal(table.addInboundNode(nodeAt(p1!, '51.2.2.2')), false)
    assert.equal(table.addFoundNode(nodeAt(p2!, '51.3.3.3')), true)
    release()
    await clock.advance(0)
    assert.equal(table.initDone, true)
    assert.equal(table.addInboundNode(nodeAt(p1!, '51.2.2.2')), true)
    assert.equal(
      table.buckets()[16]!.entries.find((e) => e.node.idHex === nodeAt(p1!, '1.1.1.1').idHex)?.live,
      true,
    )
  })

  it('found nodes update an entry only with a higher seq; inbound contact updates the endpoint', async () => {
    const { table } = await readyTable()
    const key = generatePrivateKey(seededRandom(7))
    const rec1 = new ENR().setIp('51.4.4.4').setUdp(30303).setSeq(1n).sign(key)
    const n1 = Node.fromRecord(rec1)
    table.addFoundNode(n1)
    const rec1b = new ENR().setIp('51.5.5.5').setUdp(30303).setSeq(1n).sign(key)
    table.addFoundNode(Node.fromRecord(rec1b))
    assert.equal(table.getNode(n1.id)?.ip, '51.4.4.4', 'same seq: no update')
    const rec2 = new ENR().setIp('51.6.6.6').setUdp(30303).setSeq(2n).sign(key)
    table.updateRecord(Node.fromRecord(rec2))
    assert.equal(table.getNode(n1.id)?.ip, '51.6.6.6')
    assert.equal(table.getNode(n1.id)?.seq, 2n)
    // Inbound at the known endpoint keeps the record; at another endpoint replaces it.
    table.addInboundNode(Node.fromPublicKey(n1.publicKey, { ip: '51.6.6.6', udp: 30303 }))
    assert.equal(table.getNode(n1.id)?.seq, 2n)
    table.addInboundNode(Node.fromPublicKey(n1.publicKey, { ip: '51.7.7.7', udp: 30304 }))
    assert.equal(table.getNode(n1.id)?.ip, '51.7.7.7')
    assert.equal(table.getNode(n1.id)?.udp, 30304)
  })

  it('closest() prefers nodes validated live when asked to; readRandomNodes is distinct and bounded', async () => {
    const { table } = await readyTable()
    const pubs = keysInBucket(16, 6, seededRandom(8))
    for (const [i, p] of pubs.entries()) {
      const n = nodeAt(p, `51.${i}.1.1`)
      if (i < 2) table.addInboundNode(n)
      else table.addFoundNode(n)
    }
    const target = SELF.id
    assert.equal(table.closest(target, 16, false).length, 6)
    assert.equal(table.closest(target, 16, true).length, 2)
    const all = table.closest(target, 3, false)
    assert.equal(all.length, 3)
    const sorted = Table.byDistance(target, table.nodes()).slice(0, 3)
    assert.deepEqual(
      all.map((n) => n.idHex),
      sorted.map((n) => n.idHex),
    )
    const rnd = table.readRandomNodes(4)
    assert.equal(rnd.length, 4)
    assert.equal(new Set(rnd.map((n) => n.idHex)).size, 4)
    assert.equal(table.readRandomNodes(100).length, 6)
  })

  it('trackRequest drops a node after 5 failures when its bucket holds at least 4, and adds found nodes', async () => {
    const { table } = await readyTable()
    const pubs = keysInBucket(16, 5, seededRandom(10))
    const ns = pubs.map((p, i) => nodeAt(p, `51.${i}.2.2`))
    for (const n of ns.slice(0, 4)) table.addFoundNode(n)
    table.trackRequest(ns[0]!, 4, [])
    assert.ok(table.getNode(ns[0]!.id))
    table.trackRequest(ns[0]!, 5, [ns[4]!])
    assert.equal(table.getNode(ns[0]!.id), undefined)
    assert.ok(table.getNode(ns[4]!.id))
  })
})

describe('revalidation (two lists, geth 2024)', () => {
  it('a node that stops answering is removed and a replacement takes its place', async () => {
    const t = fakeTransport()
    const { table, clock } = await readyTable({ transport: t })
    const pubs = keysInBucket(16, BUCKET_SIZE + 1, seededRandom(11))
    const ns = pubs.map((p, i) => nodeAt(p, `51.${i}.3.3`))
    for (const n of ns) table.addFoundNode(n)
    const dead = ns[0]!.idHex
    t.alive = (n) => n.idHex !== dead
    const replacement = ns[BUCKET_SIZE]!.idHex
    assert.equal(table.buckets()[16]!.replacements[0]!.idHex, replacement)
    for (let i = 0; i < 200 && table.getNode(ns[0]!.id) !== undefined; i++) await clock.advance(1000)
    assert.equal(table.getNode(ns[0]!.id), undefined)
    assert.ok(table.getNode(ns[BUCKET_SIZE]!.id), 'replacement promoted')
    assert.equal(table.len(), BUCKET_SIZE)
  })

  it('answering nodes become live, move on, and after more than 5 checks are stored as seeds', async () => {
    const db = NodeDB.open()
    const t = fakeTransport()
    const clock = new SimulatedClock()
    const { table } = await readyTable({ transport: t, db, clock })
    const [p] = keysInBucket(16, 1, seededRandom(12))
    const n = nodeAt(p!, '51.9.9.9')
    table.addFoundNode(n)
    assert.equal(table.buckets()[16]!.entries[0]!.live, false)
    for (let i = 0; i < 600 && (table.buckets()[16]!.entries[0]?.livenessChecks ?? 0) <= 5; i++)
      await clock.advance(500)
    const e = table.buckets()[16]!.entries[0]!
    assert.equal(e.live, true)
    assert.ok(e.livenessChecks > 5)
    const stored = db.node(n.id)
    assert.ok(stored, 'stored as a seed')
    assert.equal(nodeFromStoredRecord(stored.record)?.idHex, n.idHex)
    table.close()
    db.close()
  })

  it('a failing check divides the liveness counter by 3 (a node with many checks survives one miss)', async () => {
    const t = fakeTransport()
    const { table, clock } = await readyTable({ transport: t })
    const [p] = keysInBucket(16, 1, seededRandom(13))
    const n = nodeAt(p!, '51.10.10.10')
    table.addFoundNode(n)
    const checks = (): number => table.buckets()[16]!.entries[0]?.livenessChecks ?? -1
    for (let i = 0; i < 600 && checks() < 6; i++) await clock.advance(500)
    assert.equal(checks(), 6)
    t.alive = () => false
    const before = t.pings.length
    while (t.pings.length === before) await clock.advance(100)
    await clock.advance(0)
    assert.equal(checks(), 2)
    assert.ok(table.getNode(n.id))
    table.close()
  })
})

describe('refresh and seeds', () => {
  it('the first refresh runs a self-lookup and 3 random lookups, then again within [15, 30) min', async () => {
    const t = fakeTransport()
    const [pb] = keysInBucket(16, 1, seededRandom(17))
    const { table, clock } = await readyTable({ transport: t, bootnodes: [nodeAt(pb!, '51.41.0.1')] })
    assert.deepEqual(t.lookups, ['self', 'random', 'random', 'random'])
    await clock.advance(15 * 60_000 - 1)
    assert.equal(t.lookups.length, 4)
    await clock.advance(15 * 60_000)
    assert.deepEqual(t.lookups.slice(4), ['self', 'random', 'random', 'random'])
    table.close()
  })

  it('an emptied table refreshes again, at most once a minute', async () => {
    const t = fakeTransport()
    t.alive = () => false
    const [pb] = keysInBucket(16, 1, seededRandom(16))
    const boot = nodeAt(pb!, '51.40.0.1')
    const { table, clock } = await readyTable({ transport: t, bootnodes: [boot] })
    assert.ok(table.getNode(boot.id))
    await clock.advance(10_000)
    assert.equal(table.len(), 0, 'the dead bootnode was dropped')
    assert.equal(t.lookups.length, 4)
    await clock.advance(49_000)
    assert.equal(t.lookups.length, 4, 'not before a minute since the last refresh')
    await clock.advance(2_000)
    assert.equal(t.lookups.length, 8)
    table.close()
  })

  it('refresh loads bootnodes and database seeds (as found nodes)', async () => {
    const clock = new SimulatedClock()
    const db = NodeDB.open(undefined, { clock, random: seededRandom(1) })
    const [pb, ps, pold] = keysInBucket(16, 3, seededRandom(14))
    const boot = nodeAt(pb!, '51.20.0.1')
    const seed = nodeAt(ps!, '51.21.0.1')
    const old = nodeAt(pold!, '51.22.0.1')
    db.updateNode(seed.id, storedRecordOf(seed), 0n)
    db.updateLastPongReceived(seed.id, '51.21.0.1', clock.now() - 60_000)
    db.updateNode(old.id, storedRecordOf(old), 0n)
    db.updateLastPongReceived(old.id, '51.22.0.1', clock.now() - 6 * 24 * 3600_000)
    const { table } = await readyTable({ clock, db, bootnodes: [boot] })
    assert.ok(table.getNode(boot.id))
    assert.ok(table.getNode(seed.id))
    assert.equal(table.getNode(old.id), undefined, 'older than 5 days')
    table.close()
    db.close()
  })

  it('stored records: signed records survive as they are, plain v4 nodes keep key and endpoint', () => {
    const key = generatePrivateKey(seededRandom(15))
    const rec = new ENR().setIp('51.30.0.1').setUdp(30303).setTcp(30304).setSeq(5n).sign(key)
    const a = Node.fromRecord(rec)
    assert.equal(nodeFromStoredRecord(storedRecordOf(a))?.toString(), a.toString())
    const v4 = Node.fromPublicKey(publicKeyFromPrivate(key), { ip: '2001:db8::1', udp: 30303, tcp: 30305 })
    const back = nodeFromStoredRecord(storedRecordOf(v4))
    assert.equal(back?.toEnodeUrl(), v4.toEnodeUrl())
    assert.equal(back?.record, undefined)
    assert.equal(nodeFromStoredRecord(Uint8Array.of(0xc0)), undefined)
  })
})

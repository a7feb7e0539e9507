/** LocalNode: lazy re-signing, seq bumps and persistence, endpoint selection. */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { generatePrivateKey, keccak256, publicKeyFromPrivate } from '../../../src/crypto/index.js'
import { type EndpointPredictor, LocalNode, NodeDB, type SeqStore } from '../../../src/enode/index.js'
import { ENR } from '../../../src/enr/index.js'
import { SimulatedClock, seededRandom, toHex } from '../../../src/util/index.js'

const key = generatePrivateKey(seededRandom(11))
const T0 = 1_700_000_000_000

class FakeStore implements SeqStore {
  readonly map = new Map<string, bigint>()
  stores = 0
  loadLocalSeq(id: Uint8Array): bigint | undefined {
    return this.map.get(toHex(id))
  }
  storeLocalSeq(id: Uint8Array, seq: bigint): void {
    this.stores++
    this.map.set(toHex(id), seq)
  }
}

class FakePredictor implements EndpointPredictor {
  prediction: string | undefined
  readonly statements: [string, string][] = []
  readonly contacts: string[] = []
  addStatement(host: string, endpoint: string): void {
    this.statements.push([host, endpoint])
  }
  addContact(host: string): void {
    this.contacts.push(host)
  }
  predictEndpoint(): string | undefined {
    return this.prediction
  }
}

function verifiedCopy(ln: LocalNode): ENR {
  const r = ENR.decode(ln.record().encode())
  assert.equal(r.verify(), true)
  return r
}

describe('LocalNode', () => {
  it('starts from the clock in ms without a stored seq and signs seq + 1', () => {
    const ln = new LocalNode(key, { clock: new SimulatedClock(T0) })
    assert.deepEqual(ln.id, keccak256(publicKeyFromPrivate(key)))
    assert.equal(ln.seq, BigInt(T0))
    const r = verifiedCopy(ln)
    assert.equal(r.seq, BigInt(T0) + 1n)
    assert.equal(ln.seq, BigInt(T0) + 1n)
    assert.deepEqual(r.keys(), ['id', 'secp256k1'])
    assert.deepEqual(ln.node().id, ln.id)
    // Asking again without changes returns the same version.
    assert.equal(ln.record().seq, BigInt(T0) + 1n)
    assert.equal(ln.node(), ln.node())
  })
  it('bumps seq once per batch of changes and the signature verifies after each', () => {
    const ln = new LocalNode(key, { clock: new SimulatedClock(1000) })
    let seq = ln.record().seq
    ln.set('tcp', 30303)
    ln.set('eth', [[Uint8Array.of(1, 2, 3, 4), 0]])
    let r = verifiedCopy(ln)
    assert.equal(r.seq, seq + 1n)
    assert.equal(r.tcp, 30303)
    assert.deepEqual(r.get('eth'), [[Uint8Array.of(1, 2, 3, 4), new Uint8Array(0)]])
    seq = r.seq
    ln.set('tcp', 30303) // unchanged: no new version
    assert.equal(ln.record().seq, seq)
    ln.delete('eth')
    r = verifiedCopy(ln)
    assert.equal(r.seq, seq + 1n)
    assert.equal(r.has('eth'), false)
    ln.delete('eth') // absent: no new version
    assert.equal(ln.record().seq, seq + 1n)
    assert.equal(ln.node().seq, seq + 1n)
    assert.equal(ln.node().tcp, 0) // no IP in the record: no endpoint (as geth)
    assert.equal(ln.node().record?.tcp, 30303)
  })
  it('persists seq through the SeqStore and resumes after it', () => {
    const store = new FakeStore()
    const clock = new SimulatedClock(T0)
    const a = new LocalNode(key, { clock, seqStore: store })
    a.record()
    a.set('tcp', 1)
    a.record()
    assert.equal(store.map.get(toHex(a.id)), BigInt(T0) + 2n)
    assert.equal(store.stores, 2)
    // A restart (even with the clock behind) continues from the stored number.
    const b = new LocalNode(key, { clock: new SimulatedClock(5), seqStore: store })
    assert.equal(b.seq, BigInt(T0) + 2n)
    assert.equal(b.record().seq, BigInt(T0) + 3n)
    assert.equal(store.map.get(toHex(b.id)), BigInt(T0) + 3n)
  })
  it('works with the real NodeDB as SeqStore', () => {
    const db = NodeDB.open(undefined, { clock: new SimulatedClock(T0) })
    try {
      const a = new LocalNode(key, { clock: new SimulatedClock(T0), seqStore: db })
      a.record()
      const b = new LocalNode(key, { clock: new SimulatedClock(0), seqStore: db })
      assert.equal(b.seq, BigInt(T0) + 1n)
    } finally {
      db.close()
    }
  })
  it('refuses computed keys and invalid values', () => {
    const ln = new LocalNode(key)
    for (const k of ['id', 'secp256k1', 'ip', 'ip6', 'udp', 'udp6']) {
      assert.throws(() => ln.set(k, 1), RangeError)
      assert.throws(() => ln.delete(k), RangeError)
    }
    assert.throws(() => ln.set('tcp', 70000), RangeError)
    assert.throws(() => ln.setStaticIP('nope'), RangeError)
    assert.throws(() => ln.setFallbackUDP(65536), RangeError)
  })
  it('a record too big to sign throws and leaves seq unchanged', () => {
    const ln = new LocalNode(key, { clock: new SimulatedClock(1) })
    const seq = ln.record().seq
    ln.set('big', new Uint8Array(300))
    assert.throws(() => ln.record(), RangeError)
    assert.equal(ln.seq, seq)
    ln.delete('big')
    assert.equal(ln.record().seq, seq + 1n)
  })
  it('calls onChange once per changing call', () => {
    let calls = 0
    const ln = new LocalNode(key, { onChange: () => calls++ })
    ln.set('tcp', 1)
    ln.set('tcp', 1)
    ln.setFallbackIP('127.0.0.1')
    ln.setFallbackUDP(30303) // sets udp
    ln.setFallbackUDP(30303)
    assert.equal(calls, 3)
  })
})

describe('LocalNode endpoints', () => {
  it('fallback IP and UDP port, static IP overriding, IPv6 family', () => {
    const ln = new LocalNode(key)
    ln.setFallbackIP('127.0.0.1')
    ln.setFallbackUDP(30303)
    let r = verifiedCopy(ln)
    assert.deepEqual([r.ip, r.udp, r.has('ip6'), r.has('udp6')], ['127.0.0.1', 30303, false, false])
    ln.setStaticIP('203.0.113.9')
    ln.setStaticIP('2001:db8::7')
    r = verifiedCopy(ln)
    assert.deepEqual([r.ip, r.ip6, r.udp, r.has('udp6')], ['203.0.113.9', '2001:db8::7', 30303, false])
    // A more global address wins in the Node view.
    assert.equal(ln.node().ip, '203.0.113.9')
    ln.clearStaticIP()
    r = verifiedCopy(ln)
    assert.deepEqual([r.ip, r.has('ip6')], ['127.0.0.1', false])
    ln.setFallbackUDP(0)
    r = verifiedCopy(ln)
    assert.equal(r.has('udp'), false)
  })
  it('an unspecified IP is not published', () => {
    const ln = new LocalNode(key)
    ln.setFallbackIP('0.0.0.0')
    ln.setFallbackIP('::')
    const r = verifiedCopy(ln)
    assert.equal(r.has('ip'), false)
    assert.equal(r.has('ip6'), false)
  })
  it('IPv4-mapped text counts as IPv4', () => {
    const ln = new LocalNode(key)
    ln.setStaticIP('::ffff:8.8.4.4')
    assert.equal(verifiedCopy(ln).ip, '8.8.4.4')
  })
  it('predicted endpoints override the fallback (not a static IP), udp6 only when different', () => {
    const p4 = new FakePredictor()
    const p6 = new FakePredictor()
    const ln = new LocalNode(key, { predictors: { ip4: p4, ip6: p6 } })
    ln.setFallbackIP('127.0.0.1')
    ln.setFallbackUDP(30303)
    p4.prediction = '198.51.100.1:40000'
    ln.udpEndpointStatement({ ip: '192.0.2.1', port: 30303 }, { ip: '198.51.100.1', port: 40000 })
    assert.deepEqual(p4.statements, [['192.0.2.1:30303', '198.51.100.1:40000']])
    let r = verifiedCopy(ln)
    assert.deepEqual([r.ip, r.udp], ['198.51.100.1', 40000])
    p6.prediction = '[2001:db8::5]:40000'
    ln.udpContact({ ip: '2001:db8::9', port: 1 })
    assert.deepEqual(p6.contacts, ['[2001:db8::9]:1'])
    r = verifiedCopy(ln)
    assert.deepEqual([r.ip6, r.has('udp6')], ['2001:db8::5', false])
    p6.prediction = '[2001:db8::5]:40001'
    ln.udpContact({ ip: '2001:db8::9', port: 1 })
    assert.equal(verifiedCopy(ln).udp6, 40001)
    ln.setStaticIP('203.0.113.1')
    r = verifiedCopy(ln)
    assert.deepEqual([r.ip, r.udp], ['203.0.113.1', 30303])
    // A malformed prediction is ignored.
    p6.prediction = 'garbage'
    ln.udpContact({ ip: '2001:db8::9', port: 1 })
    assert.equal(verifiedCopy(ln).has('ip6'), false)
  })
  it('statements without a predictor are ignored', () => {
    const ln = new LocalNode(key)
    const seq = ln.record().seq
    ln.udpEndpointStatement({ ip: '192.0.2.1', port: 1 }, { ip: '198.51.100.1', port: 2 })
    ln.udpContact({ ip: '192.0.2.1', port: 1 })
    assert.equal(ln.record().seq, seq)
  })
})

/** Node construction from records and keys, endpoint choice, and the XOR metric. */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import { generatePrivateKey, keccak256, publicKeyFromPrivate } from '../../../src/crypto/index.js'
import {
  distCmp,
  logDistance,
  Node,
  nodeIdFromPublicKey,
  parseNodeId,
  xorDistance,
} from '../../../src/enode/index.js'
import { ENR } from '../../../src/enr/index.js'
import { compareBytes, DecodeError, seededRandom, toHex } from '../../../src/util/index.js'
import { loadVectors } from '../../helpers/vectors.js'

const key = generatePrivateKey(seededRandom(7))
const pub = publicKeyFromPrivate(key)

describe('Node.fromRecord', () => {
  it('the EIP-778 example', () => {
    const v = loadVectors<{ valid_records: { text: string; expected: { node_id: string } }[] }>('enr.json')
    const n = Node.fromRecord(ENR.fromText(v.valid_records[0]!.text))
    assert.equal(n.idHex, v.valid_records[0]!.expected.node_id)
    assert.equal(n.ip, '127.0.0.1')
    assert.equal(n.udp, 30303)
    assert.equal(n.tcp, 0)
    assert.equal(n.seq, 1n)
    assert.deepEqual(n.udpEndpoint(), { ip: '127.0.0.1', port: 30303 })
    assert.equal(n.tcpEndpoint(), undefined)
    assert.equal(n.toString(), v.valid_records[0]!.text)
  })
  it('IPv4 only, IPv6 only with tcp6/udp6 fallback to tcp/udp', () => {
    const r4 = new ENR().setIp('1.2.3.4').setTcp(1).setUdp(2).setTcp6(3).setUdp6(4).sign(key)
    const n4 = Node.fromRecord(r4)
    assert.deepEqual([n4.ip, n4.tcp, n4.udp], ['1.2.3.4', 1, 2])
    const r6 = new ENR().setIp('2001:db8::1').setTcp(1).setUdp(2).setUdp6(4).sign(key)
    const n6 = Node.fromRecord(r6)
    assert.deepEqual([n6.ip, n6.tcp, n6.udp], ['2001:db8::1', 1, 4])
    assert.deepEqual(n6.id, keccak256(pub))
  })
  it('prefers the more global address, IPv4 on a tie; ignores multicast', () => {
    const both = (ip4: string, ip6: string): string | undefined =>
      Node.fromRecord(new ENR().setIp(ip4).setIp(ip6).setUdp(1).sign(key)).ip
    assert.equal(both('8.8.8.8', '2001:db8::1'), '8.8.8.8')
    assert.equal(both('192.168.0.1', '2001:db8::1'), '2001:db8::1')
    assert.equal(both('127.0.0.1', 'fe80::1'), 'fe80::1')
    assert.equal(both('10.0.0.1', '::1'), '10.0.0.1')
    assert.equal(both('0.0.0.0', '::'), '0.0.0.0')
    assert.equal(both('224.0.0.1', '::1'), '::1')
    assert.equal(both('224.0.0.1', 'ff02::1'), undefined)
  })
  it('an IPv4-mapped ip6 entry is used as IPv4 with the IPv4 ports', () => {
    const r = new ENR().set('ip6', Uint8Array.of(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 255, 255, 9, 9, 9, 9))
    r.setUdp(5).setUdp6(6).sign(key)
    const n = Node.fromRecord(r)
    assert.deepEqual([n.ip, n.udp], ['9.9.9.9', 5])
  })
  it('no IP: ports are 0', () => {
    const n = Node.fromRecord(new ENR().setTcp(1).setUdp(2).sign(key))
    assert.deepEqual([n.ip, n.tcp, n.udp, n.incomplete], [undefined, 0, 0, true])
  })
  it('refuses unsigned and badly signed records unless told not to verify', () => {
    const r = new ENR().setIp('1.2.3.4')
    assert.throws(() => Node.fromRecord(r), DecodeError)
    r.sign(key)
    const bytes = r.encode()
    bytes[5]! ^= 1
    const tampered = ENR.decode(bytes, { verify: false })
    assert.throws(() => Node.fromRecord(tampered), /invalid signature/)
    assert.equal(Node.fromRecord(tampered, { verify: false }).ip, '1.2.3.4')
  })
  it('keeps a private copy of the record', () => {
    const r = new ENR().setIp('1.2.3.4').sign(key)
    const n = Node.fromRecord(r)
    r.setIp('5.6.7.8')
    assert.equal(n.record!.ip, '1.2.3.4')
    assert.equal(n.record!.verify(), true)
  })
})

describe('Node.fromPublicKey', () => {
  it('builds a node without a record', () => {
    const n = Node.fromPublicKey(pub, { ip: '10.0.0.1', tcp: 30303, udp: 30301 })
    assert.deepEqual(n.id, nodeIdFromPublicKey(pub))
    assert.equal(n.record, undefined)
    assert.equal(n.seq, 0n)
    assert.ok(Object.isFrozen(n))
    assert.equal(n.toString(), `enode://${toHex(pub)}@10.0.0.1:30303?discport=30301`)
  })
  it('checks its arguments', () => {
    assert.throws(() => Node.fromPublicKey(pub.subarray(1)), RangeError)
    assert.throws(() => Node.fromPublicKey(pub, { ip: 'nope' }), RangeError)
    assert.throws(() => Node.fromPublicKey(pub, { tcp: 70000 }), RangeError)
    assert.throws(() => Node.fromPublicKey(pub, { udp: 1.5 }), RangeError)
  })
  it('endpoints need a specified IP and a non-zero port', () => {
    assert.equal(Node.fromPublicKey(pub, { ip: '0.0.0.0', tcp: 1, udp: 1 }).tcpEndpoint(), undefined)
    assert.equal(Node.fromPublicKey(pub, { ip: '::', tcp: 1, udp: 1 }).udpEndpoint(), undefined)
    assert.equal(Node.fromPublicKey(pub, { ip: '1.1.1.1', tcp: 0, udp: 1 }).tcpEndpoint(), undefined)
    assert.deepEqual(Node.fromPublicKey(pub, { ip: '::1', udp: 9 }).udpEndpoint(), { ip: '::1', port: 9 })
  })
})

describe('distance', () => {
  const id = (hex: string): Uint8Array => parseNodeId(hex.padEnd(64, '0'))
  it('logDistance edge cases', () => {
    const zero = new Uint8Array(32)
    assert.equal(logDistance(zero, zero), 0)
    assert.equal(logDistance(zero, id('80')), 256)
    assert.equal(logDistance(zero, id('01')), 249)
    assert.equal(logDistance(zero, parseNodeId(`${'00'.repeat(31)}01`)), 1)
    assert.equal(logDistance(id('ff'), id('fe')), 249)
    assert.throws(() => logDistance(zero, new Uint8Array(31)), RangeError)
    assert.throws(() => parseNodeId('00'), DecodeError)
  })
  it('distCmp and xorDistance', () => {
    const t = id('00')
    assert.equal(distCmp(t, id('01'), id('02')), -1)
    assert.equal(distCmp(t, id('03'), id('02')), 1)
    assert.equal(distCmp(t, id('03'), id('03')), 0)
    assert.deepEqual(xorDistance(id('f0'), id('0f')), id('ff'))
  })
  const arbId = fc.uint8Array({ minLength: 32, maxLength: 32 })
  it('logDistance is symmetric and equals 256 minus the leading zero bits of the XOR', () => {
    fc.assert(
      fc.property(arbId, arbId, (a, b) => {
        const d = logDistance(a, b)
        assert.equal(d, logDistance(b, a))
        const x = xorDistance(a, b)
        const bits = [...x].map((v) => v.toString(2).padStart(8, '0')).join('')
        const lz = bits.indexOf('1') < 0 ? 256 : bits.indexOf('1')
        assert.equal(d, 256 - lz)
      }),
      { numRuns: 1000 },
    )
  })
  it('logDistance counts every bit position', () => {
    fc.assert(
      fc.property(arbId, fc.integer({ min: 0, max: 255 }), (a, bit) => {
        const b = a.slice()
        b[bit >> 3]! ^= 0x80 >> (bit & 7)
        assert.equal(logDistance(a, b), 256 - bit)
      }),
    )
  })
  it('distCmp agrees with comparing XOR distances', () => {
    fc.assert(
      fc.property(arbId, arbId, arbId, (t, a, b) => {
        assert.equal(distCmp(t, a, b), Math.sign(compareBytes(xorDistance(t, a), xorDistance(t, b))))
        assert.equal(distCmp(t, a, b) + distCmp(t, b, a), 0)
      }),
      { numRuns: 500 },
    )
  })
})

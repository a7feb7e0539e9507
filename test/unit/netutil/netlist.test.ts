import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import {
  checkRelayIP,
  isLAN,
  isSpecialNetwork,
  Netlist,
  netlistContains,
  RelayIPError,
  relayIPRejectionText,
} from '../../../src/netutil/index.js'
import { DecodeError, parseIP } from '../../../src/util/index.js'

describe('Netlist', () => {
  it('parses a comma-separated list, ignoring whitespace and empty entries', () => {
    const l = Netlist.parse(' 10.0.0.0/8 ,\n192.168.0.0/16,,\t2001:db8::/32 ,')
    assert.equal(l.length, 3)
    assert.equal(l.toString(), '10.0.0.0/8,192.168.0.0/16,2001:db8::/32')
    assert.deepEqual(l.toJSON(), ['10.0.0.0/8', '192.168.0.0/16', '2001:db8::/32'])
    assert.equal(Netlist.parse(l.toString()).toString(), l.toString())
    assert.equal(Netlist.parse('').length, 0)
    assert.equal(Netlist.parse(' , ,').length, 0)
  })
  it('rejects bare IPs and malformed masks with DecodeError', () => {
    for (const bad of [
      '10.0.0.1',
      '10.0.0.0/8,1.2.3.4',
      '10.0.0.0/33',
      'foo',
      '10.0.0.0/8;192.168.0.0/16',
      '1.2.3.4/x',
    ]) {
      assert.throws(() => Netlist.parse(bad), DecodeError, bad)
    }
  })
  it('contains', () => {
    const l = Netlist.parse('127.0.0.0/8,10.0.0.0/8,fc00::/7')
    const yes = ['127.0.0.1', '10.0.1.2', '::ffff:10.9.9.9', 'fd00::1']
    const no = ['11.0.0.1', '192.168.1.1', '::1', 'fe80::1']
    for (const s of yes) assert.ok(l.contains(parseIP(s)), s)
    for (const s of no) assert.ok(!l.contains(parseIP(s)), s)
    assert.ok(!netlistContains(undefined, parseIP('10.0.0.1')))
    assert.ok(netlistContains(l, parseIP('10.0.0.1')))
    assert.equal(Netlist.fromList(['1.0.0.0/8']).contains(parseIP('1.2.3.4')), true)
  })
  it('random strings throw only DecodeError', () => {
    const cidrish = fc.stringMatching(/^[0-9a-f:./, \n\t]{0,60}$/)
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.string({ unit: 'binary' }), cidrish), (s) => {
        try {
          const l = Netlist.parse(s)
          assert.equal(Netlist.parse(l.toString()).toString(), l.toString())
        } catch (e) {
          assert.ok(e instanceof DecodeError, String(e))
        }
      }),
      { numRuns: 5000 },
    )
  })
  it('round trips generated lists', () => {
    const v4 = fc.tuple(fc.uint8Array({ minLength: 4, maxLength: 4 }), fc.integer({ min: 0, max: 32 }))
    fc.assert(
      fc.property(fc.array(v4, { maxLength: 10 }), (entries) => {
        const text = entries.map(([b, bits]) => `${b.join('.')}/${bits}`).join(',')
        const l = Netlist.parse(text)
        assert.equal(l.length, entries.length)
        for (const [b] of entries) assert.ok(l.contains(b))
        assert.equal(Netlist.parse(l.toString()).toString(), l.toString())
      }),
    )
  })
})

describe('isLAN / isSpecialNetwork', () => {
  it('classifies LAN addresses', () => {
    const lan = [
      '127.0.0.1',
      '10.0.1.1',
      '172.16.5.5',
      '192.168.0.1',
      '169.254.3.3',
      '::1',
      'fc00::1',
      'fe80::1',
      '::ffff:10.1.1.1',
    ]
    const wan = ['8.8.8.8', '1.1.1.1', '172.32.0.1', '2001:4860::1', '::ffff:8.8.8.8', '100.64.0.1']
    for (const s of lan) assert.ok(isLAN(parseIP(s)), s)
    for (const s of wan) assert.ok(!isLAN(parseIP(s)), s)
  })
  it('classifies special networks', () => {
    const special = [
      '0.1.2.3',
      '192.0.0.1',
      '192.0.0.9',
      '192.0.0.170',
      '192.0.0.171',
      '192.0.2.1',
      '192.31.196.1',
      '192.52.193.1',
      '192.88.99.1',
      '192.175.48.1',
      '198.18.0.1',
      '198.19.255.255',
      '198.51.100.1',
      '203.0.113.1',
      '255.255.255.255',
      '224.0.0.1',
      '::ffff:203.0.113.9',
      '100::1',
      '2001::1',
      '2001:1::1',
      '2001:2::1',
      '2001:3::1',
      '2001:4:112::1',
      '2001:5::1',
      '2001:10::1',
      '2001:20::1',
      '2001:db8::1',
      '2002::1',
      'ff02::1',
    ]
    const normal = [
      '1.2.3.4',
      '192.0.0.8',
      '192.0.0.172',
      '198.20.0.1',
      '10.0.0.1',
      '127.0.0.1',
      '2001:1::2',
      '2001:4:113::1',
      '2001:30::1',
      '2003::1',
      '::1',
    ]
    for (const s of special) assert.ok(isSpecialNetwork(parseIP(s)), s)
    for (const s of normal) assert.ok(!isSpecialNetwork(parseIP(s)), s)
  })
})

describe('checkRelayIP', () => {
  const cases: [sender: string, addr: string | Uint8Array, want: string | undefined][] = [
    ['8.8.8.8', new Uint8Array(5), 'invalid'],
    ['8.8.8.8', new Uint8Array(0), 'invalid'],
    ['8.8.8.8', '0.0.0.0', 'unspecified'],
    ['8.8.8.8', '::', 'unspecified'],
    ['8.8.8.8', '192.0.2.1', 'special'],
    ['127.0.0.1', '255.255.255.255', 'special'],
    ['127.0.0.1', 'ff02::1', 'special'],
    ['8.8.8.8', '127.0.0.1', 'loopback'],
    ['10.0.0.1', '127.0.0.1', 'loopback'],
    ['127.0.0.1', '127.0.0.2', undefined],
    ['::1', '127.0.0.1', undefined],
    ['8.8.8.8', '10.0.0.1', 'lan'],
    ['8.8.8.8', '::ffff:192.168.1.1', 'lan'],
    ['8.8.8.8', 'fe80::1', 'lan'],
    ['10.0.0.1', '192.168.1.1', undefined],
    ['127.0.0.1', '10.0.0.1', undefined],
    ['::ffff:10.0.0.1', '10.0.0.2', undefined],
    ['8.8.8.8', '1.2.3.4', undefined],
    ['10.0.0.1', '1.2.3.4', undefined],
    ['127.0.0.1', '2001:4860::1', undefined],
  ]
  for (const [sender, addr, want] of cases) {
    it(`${sender} relays ${typeof addr === 'string' ? addr : `${addr.length} bytes`} → ${want ?? 'ok'}`, () => {
      const a = typeof addr === 'string' ? parseIP(addr) : addr
      assert.equal(checkRelayIP(parseIP(sender), a), want)
    })
  }
  it('has geth-worded errors', () => {
    const e = new RelayIPError('lan')
    assert.equal(e.message, 'LAN address from WAN host')
    assert.equal(e.kind, 'lan')
    assert.equal(e.name, 'RelayIPError')
    assert.equal(relayIPRejectionText('loopback'), 'loopback address from non-loopback host')
  })
})

/** netutil/ip.ts: address families, classes, locality, CIDR prefixes, endpoints. */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import {
  formatCIDR,
  formatEndpoint,
  formatHostPort,
  ipEqual,
  isIPv4,
  isIPv6,
  isLinkLocalUnicast,
  isLoopback,
  isMulticast,
  isPrivate,
  isUnspecified,
  localityScore,
  parseCIDR,
  parseEndpoint,
  prefixContains,
  sameNet,
  tryParseEndpoint,
} from '../../../src/netutil/index.js'
import { DecodeError, formatIP, parseIP } from '../../../src/util/index.js'

describe('IPv4-mapped handling', () => {
  it('families and comparison unmap first', () => {
    const m = parseIP('::ffff:10.0.0.1')
    assert.ok(isIPv4(m))
    assert.ok(!isIPv6(m))
    assert.ok(isIPv6(parseIP('::10.0.0.1')))
    assert.ok(ipEqual(m, parseIP('10.0.0.1')))
    assert.ok(!ipEqual(parseIP('::10.0.0.1'), parseIP('10.0.0.1')))
  })
})

describe('address classes', () => {
  const table: [
    string,
    { loop?: boolean; unspec?: boolean; multi?: boolean; priv?: boolean; ll?: boolean },
  ][] = [
    ['127.0.0.1', { loop: true }],
    ['127.255.255.254', { loop: true }],
    ['::1', { loop: true }],
    ['::ffff:127.0.0.1', { loop: true }],
    ['0.0.0.0', { unspec: true }],
    ['::', { unspec: true }],
    ['::ffff:0.0.0.0', { unspec: true }],
    ['224.0.0.1', { multi: true }],
    ['239.255.255.250', { multi: true }],
    ['ff02::1', { multi: true }],
    ['10.1.2.3', { priv: true }],
    ['172.16.0.1', { priv: true }],
    ['172.31.255.255', { priv: true }],
    ['172.32.0.1', {}],
    ['172.15.255.255', {}],
    ['192.168.0.1', { priv: true }],
    ['192.169.0.1', {}],
    ['fc00::1', { priv: true }],
    ['fdff::1', { priv: true }],
    ['fe00::1', {}],
    ['::ffff:192.168.1.1', { priv: true }],
    ['169.254.1.1', { ll: true }],
    ['fe80::1', { ll: true }],
    ['febf::1', { ll: true }],
    ['fec0::1', {}],
    ['8.8.8.8', {}],
    ['2001:4860::8888', {}],
  ]
  for (const [text, want] of table) {
    it(text, () => {
      const ip = parseIP(text)
      assert.equal(isLoopback(ip), want.loop === true, 'loopback')
      assert.equal(isUnspecified(ip), want.unspec === true, 'unspecified')
      assert.equal(isMulticast(ip), want.multi === true, 'multicast')
      assert.equal(isPrivate(ip), want.priv === true, 'private')
      assert.equal(isLinkLocalUnicast(ip), want.ll === true, 'link-local')
      // go-ethereum's localityScore: unspecified 0, loopback 1, link-local 2, private 3, else 4.
      const score = want.unspec ? 0 : want.loop ? 1 : want.ll ? 2 : want.priv ? 3 : 4
      assert.equal(localityScore(ip), score, 'locality')
    })
  }
})

describe('parseCIDR', () => {
  it('parses and masks', () => {
    assert.equal(formatCIDR(parseCIDR('10.1.2.3/8')), '10.0.0.0/8')
    assert.equal(formatCIDR(parseCIDR('192.168.0.0/16')), '192.168.0.0/16')
    assert.equal(formatCIDR(parseCIDR('0.0.0.0/0')), '0.0.0.0/0')
    assert.equal(formatCIDR(parseCIDR('1.2.3.4/32')), '1.2.3.4/32')
    assert.equal(formatCIDR(parseCIDR('1.2.3.255/25')), '1.2.3.128/25')
    assert.equal(formatCIDR(parseCIDR('fc00::1/7')), 'fc00::/7')
    assert.equal(formatCIDR(parseCIDR('::/0')), '::/0')
    assert.equal(formatCIDR(parseCIDR('::ffff:10.0.0.0/104')), '10.0.0.0/8')
  })
  for (const bad of [
    '10.0.0.0',
    '10.0.0.0/',
    '10.0.0.0/33',
    '10.0.0.0/08',
    '10.0.0.0/-1',
    '10.0.0/8',
    '::/129',
    '/8',
    'x/8',
    '10.0.0.0/8/8',
    '10.0.0.0/ 8',
  ]) {
    it(`rejects ${bad}`, () => assert.throws(() => parseCIDR(bad), DecodeError))
  }
  it('contains', () => {
    const p = parseCIDR('10.0.0.0/8')
    assert.ok(prefixContains(p, parseIP('10.255.0.1')))
    assert.ok(prefixContains(p, parseIP('::ffff:10.0.0.1')))
    assert.ok(!prefixContains(p, parseIP('11.0.0.1')))
    assert.ok(!prefixContains(p, parseIP('::a00:1')))
    const q = parseCIDR('172.16.0.0/12')
    assert.ok(prefixContains(q, parseIP('172.31.0.1')))
    assert.ok(!prefixContains(q, parseIP('172.32.0.1')))
    assert.ok(prefixContains(parseCIDR('0.0.0.0/0'), parseIP('8.8.8.8')))
    assert.ok(!prefixContains(parseCIDR('0.0.0.0/0'), parseIP('::1')))
  })
  it('sameNet', () => {
    assert.ok(sameNet(24, parseIP('1.2.3.4'), parseIP('1.2.3.200')))
    assert.ok(!sameNet(24, parseIP('1.2.3.4'), parseIP('1.2.4.4')))
    assert.ok(sameNet(23, parseIP('1.2.2.4'), parseIP('1.2.3.4')))
    assert.ok(sameNet(24, parseIP('::ffff:1.2.3.4'), parseIP('1.2.3.9')))
    assert.ok(!sameNet(0, parseIP('1.2.3.4'), parseIP('::1')))
    assert.ok(sameNet(64, parseIP('2001:db8::1'), parseIP('2001:db8::ffff:1')))
  })
  it('random text fails only with DecodeError', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.stringMatching(/^[0-9a-f:./]{0,40}$/)), (s) => {
        try {
          const p = parseCIDR(s)
          assert.equal(formatCIDR(parseCIDR(formatCIDR(p))), formatCIDR(p))
        } catch (e) {
          assert.ok(e instanceof DecodeError)
        }
      }),
      { numRuns: 3000 },
    )
  })
})

describe('endpoints', () => {
  it('formats and parses', () => {
    assert.equal(formatEndpoint({ ip: parseIP('1.2.3.4'), port: 30303 }), '1.2.3.4:30303')
    assert.equal(formatEndpoint({ ip: parseIP('::ffff:1.2.3.4'), port: 1 }), '1.2.3.4:1')
    assert.equal(formatEndpoint({ ip: parseIP('2001:db8::1'), port: 0 }), '[2001:db8::1]:0')
    const e = parseEndpoint('[2001:db8::1]:30303')
    assert.equal(formatIP(e.ip), '2001:db8::1')
    assert.equal(e.port, 30303)
    assert.deepEqual(tryParseEndpoint('[::ffff:1.2.3.4]:7'), { ip: parseIP('::ffff:1.2.3.4'), port: 7 })
    assert.equal(formatHostPort('1.2.3.4', 1), '1.2.3.4:1')
    assert.equal(formatHostPort('example.org', 30303), 'example.org:30303')
    assert.equal(formatHostPort('fe80::1', 0), '[fe80::1]:0')
    for (const bad of [
      '1.2.3.4',
      '1.2.3.4:65536',
      '::1:80',
      '[1.2.3.4]:1',
      'host:80',
      '1.2.3.4:',
      '[::1]80',
      '1.2.3.4:+1',
    ]) {
      assert.throws(() => parseEndpoint(bad), DecodeError, bad)
      assert.equal(tryParseEndpoint(bad), undefined, bad)
    }
  })
})

import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import {
  formatCIDR,
  formatEndpoint,
  formatIP,
  ipEqual,
  isIPv4,
  isIPv4Mapped,
  isLinkLocalUnicast,
  isLoopback,
  isMulticast,
  isPrivate,
  isUnspecified,
  parseCIDR,
  parseEndpoint,
  parseIP,
  prefixContains,
  sameNet,
  tryParseIP,
  unmapIP,
} from '../../../src/netutil/index.js'
import { DecodeError } from '../../../src/util/index.js'

const hex = (b: Uint8Array | undefined): string | undefined =>
  b ? Buffer.from(b).toString('hex') : undefined

describe('parseIP / formatIP', () => {
  const good: [string, string, string][] = [
    // text, bytes (hex), canonical text
    ['0.0.0.0', '00000000', '0.0.0.0'],
    ['1.2.3.4', '01020304', '1.2.3.4'],
    ['255.255.255.255', 'ffffffff', '255.255.255.255'],
    ['::', '0'.repeat(32), '::'],
    ['::1', `${'0'.repeat(30)}01`, '::1'],
    ['2001:db8::1', `20010db8${'0'.repeat(22)}01`, '2001:db8::1'],
    ['2001:DB8:0:0:0:0:0:1', `20010db8${'0'.repeat(22)}01`, '2001:db8::1'],
    ['fe80::1:2', `fe80${'0'.repeat(20)}00010002`, 'fe80::1:2'],
    ['1:0:0:2:0:0:0:3', '00010000000000020000000000000003', '1:0:0:2::3'],
    ['1:0:0:2:0:0:3:4', '00010000000000020000000000030004', '1::2:0:0:3:4'],
    ['1:2:3:4:5:6:7:8', '00010002000300040005000600070008', '1:2:3:4:5:6:7:8'],
    ['1:0:2:3:4:5:6:7', '00010000000200030004000500060007', '1:0:2:3:4:5:6:7'],
    ['1:2:3:4:5:6:7::', '00010002000300040005000600070000', '1:2:3:4:5:6:7:0'],
    ['::ffff:1.2.3.4', '00000000000000000000ffff01020304', '::ffff:1.2.3.4'],
    ['::ffff:0102:0304', '00000000000000000000ffff01020304', '::ffff:1.2.3.4'],
    ['::1.2.3.4', '00000000000000000000000001020304', '::102:304'],
    ['64:ff9b::192.0.2.33', '0064ff9b0000000000000000c0000221', '64:ff9b::c000:221'],
    ['1:2:3:4:5:6:1.2.3.4', '00010002000300040005000601020304', '1:2:3:4:5:6:102:304'],
  ]
  for (const [text, bytes, canon] of good) {
    it(`parses ${text}`, () => {
      const ip = parseIP(text)
      assert.equal(hex(ip), bytes)
      assert.equal(formatIP(ip), canon)
      assert.equal(hex(parseIP(canon)), bytes)
    })
  }
  const bad = [
    '',
    '1.2.3',
    '1.2.3.4.5',
    '256.1.1.1',
    '01.2.3.4',
    '1.2.3.-4',
    '1.2.3.4 ',
    ' 1.2.3.4',
    '0x1.2.3.4',
    '1..2.3',
    ':',
    ':::',
    '1:::2',
    '1::2::3',
    '1:2:3:4:5:6:7:8:9',
    '1:2:3:4:5:6:7',
    '1:2:3:4:5:6:7:8::',
    '12345::',
    'g::',
    ':1:2:3:4:5:6:7',
    '1:2:3:4:5:6:7:',
    'fe80::1%eth0',
    '[::1]',
    '::ffff:1.2.3',
    '::ffff:1.2.3.4:5',
    '1:2:3:4:5:6:7:1.2.3.4',
    'localhost',
    `${'1'.repeat(70)}`,
  ]
  for (const text of bad) {
    it(`rejects ${JSON.stringify(text)}`, () => {
      assert.equal(tryParseIP(text), undefined)
      assert.throws(() => parseIP(text), DecodeError)
    })
  }
  it('format rejects bad lengths', () => {
    assert.throws(() => formatIP(new Uint8Array(5)), RangeError)
  })
  it('round trips random 4- and 16-byte addresses', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.uint8Array({ minLength: 4, maxLength: 4 }),
          fc.uint8Array({ minLength: 16, maxLength: 16 }),
        ),
        (b) => {
          assert.equal(hex(parseIP(formatIP(b))), hex(b))
        },
      ),
      { numRuns: 2000 },
    )
  })
  it('round trips sparse IPv6 (many zero groups)', () => {
    const group = fc.oneof(fc.constant(0), fc.constant(0), fc.integer({ min: 0, max: 0xffff }))
    fc.assert(
      fc.property(fc.array(group, { minLength: 8, maxLength: 8 }), (gs) => {
        const b = new Uint8Array(16)
        gs.forEach((g, i) => {
          b[i * 2] = g >> 8
          b[i * 2 + 1] = g & 0xff
        })
        const text = formatIP(b)
        assert.equal(hex(parseIP(text)), hex(b))
        assert.equal(formatIP(parseIP(text)), text)
        assert.ok(!text.includes(':::'))
      }),
      { numRuns: 2000 },
    )
  })
  it('never throws anything but DecodeError on random text', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.stringMatching(/^[0-9a-fA-F:.%]{0,45}$/)), (s) => {
        try {
          const ip = parseIP(s)
          assert.ok(ip.length === 4 || ip.length === 16)
        } catch (e) {
          assert.ok(e instanceof DecodeError)
        }
      }),
      { numRuns: 3000 },
    )
  })
})

describe('IPv4-mapped handling', () => {
  it('unmaps and compares', () => {
    const m = parseIP('::ffff:10.0.0.1')
    assert.ok(isIPv4Mapped(m))
    assert.ok(isIPv4(m))
    assert.equal(hex(unmapIP(m)), '0a000001')
    assert.ok(ipEqual(m, parseIP('10.0.0.1')))
    assert.ok(!ipEqual(parseIP('::10.0.0.1'), parseIP('10.0.0.1')))
    const v6 = parseIP('::1')
    assert.equal(unmapIP(v6), v6)
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
    }
  })
})

/** The IP text codec (util/ip.ts): parse, RFC 5952 format, IPv4-mapped handling, properties. */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import {
  DecodeError,
  formatIP,
  isIPv4Mapped,
  MAX_IP_TEXT,
  normalizeIP,
  parseIP,
  tryParseIP,
  unmapIP,
} from '../../../src/util/index.js'

const hex = (b: Uint8Array | undefined): string | undefined =>
  b ? Buffer.from(b).toString('hex') : undefined

describe('parseIP / formatIP', () => {
  const good: [string, string, string?][] = [
    // text, bytes (hex), canonical text (when not the text itself)
    ['0.0.0.0', '00000000'],
    ['1.2.3.4', '01020304'],
    ['127.0.0.1', '7f000001'],
    ['255.255.255.255', 'ffffffff'],
    ['::', '0'.repeat(32)],
    ['::1', `${'0'.repeat(30)}01`],
    ['2001:db8::1', `20010db8${'0'.repeat(22)}01`],
    ['2001:DB8:0:0:0:0:0:1', `20010db8${'0'.repeat(22)}01`, '2001:db8::1'],
    ['2001:DB8::0:1', `20010db8${'0'.repeat(22)}01`, '2001:db8::1'],
    ['2001:db8:3c4d:15::abcd:ef12', '20010db83c4d001500000000abcdef12'],
    ['fe80::1:2', `fe80${'0'.repeat(20)}00010002`],
    ['1:0:0:2:0:0:0:3', '00010000000000020000000000000003', '1:0:0:2::3'],
    ['1:0:0:2:0:0:3:4', '00010000000000020000000000030004', '1::2:0:0:3:4'],
    ['1:0:0:2:2:0:0:3', '00010000000000020002000000000003', '1::2:2:0:0:3'],
    ['1:2:3:4:5:6:7:8', '00010002000300040005000600070008'],
    ['1:0:2:3:4:5:6:7', '00010000000200030004000500060007'],
    ['1:2:3:4:5:6:7::', '00010002000300040005000600070000', '1:2:3:4:5:6:7:0'],
    ['::ffff:1.2.3.4', '00000000000000000000ffff01020304'],
    ['::ffff:10.0.0.1', '00000000000000000000ffff0a000001'],
    ['::ffff:0102:0304', '00000000000000000000ffff01020304', '::ffff:1.2.3.4'],
    ['::1.2.3.4', '00000000000000000000000001020304', '::102:304'],
    ['64:ff9b::192.0.2.33', '0064ff9b0000000000000000c0000221', '64:ff9b::c000:221'],
    ['1:2:3:4:5:6:1.2.3.4', '00010002000300040005000601020304', '1:2:3:4:5:6:102:304'],
    // The longest valid text (MAX_IP_TEXT characters).
    [
      'ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255',
      'f'.repeat(32),
      'ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff',
    ],
  ]
  for (const [text, bytes, canonical] of good) {
    const canon = canonical ?? text
    it(`parses ${text}`, () => {
      const ip = parseIP(text)
      assert.equal(hex(ip), bytes)
      assert.equal(hex(tryParseIP(text)), bytes)
      assert.equal(formatIP(ip), canon)
      assert.equal(hex(parseIP(canon)), bytes)
    })
  }
  it('MAX_IP_TEXT is the length of the longest valid text', () => {
    assert.equal('ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255'.length, MAX_IP_TEXT)
  })
  const bad = [
    '',
    '1.2.3',
    '1.2.3.4.5',
    '256.1.1.1',
    '01.2.3.4',
    '1.2.3.-1',
    '1.2.3.-4',
    '1.2.3.4 ',
    ' 1.2.3.4',
    '0x1.2.3.4',
    '1..2.3',
    '1.2.3.4::',
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
    '::1.2.3',
    '::ffff:1.2.3',
    '::ffff:1.2.3.4:5',
    '1:2:3:4:5:6:7:1.2.3.4',
    'localhost',
    `0${'ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255'}`,
    `${'1'.repeat(70)}`,
  ]
  for (const text of bad) {
    it(`rejects ${JSON.stringify(text)}`, () => {
      assert.equal(tryParseIP(text), undefined)
      assert.throws(() => parseIP(text), DecodeError)
      assert.equal(normalizeIP(text), undefined)
    })
  }
  it('format rejects bad lengths', () => {
    assert.throws(() => formatIP(new Uint8Array(5)), RangeError)
    assert.throws(() => formatIP(new Uint8Array(0)), RangeError)
  })
  it('round trips random 4- and 16-byte addresses', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.uint8Array({ minLength: 4, maxLength: 4 }),
          fc.uint8Array({ minLength: 16, maxLength: 16 }),
        ),
        (b) => {
          assert.deepEqual(parseIP(formatIP(b)), b)
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
  it('recognises and unmaps', () => {
    const m = parseIP('::ffff:10.0.0.1')
    assert.ok(isIPv4Mapped(m))
    assert.equal(hex(unmapIP(m)), '0a000001')
    assert.ok(!isIPv4Mapped(parseIP('::10.0.0.1')))
    assert.ok(!isIPv4Mapped(parseIP('10.0.0.1')))
    const v6 = parseIP('::1')
    assert.equal(unmapIP(v6), v6)
    const v4 = parseIP('1.2.3.4')
    assert.equal(unmapIP(v4), v4)
  })
  it('unmapIP returns a copy', () => {
    const m = parseIP('::ffff:10.0.0.1')
    const u = unmapIP(m)
    u[0] = 99
    assert.equal(m[12], 10)
  })
})

describe('normalizeIP', () => {
  const cases: [string, string][] = [
    ['1.2.3.4', '1.2.3.4'],
    ['::ffff:1.2.3.4', '1.2.3.4'],
    ['::FFFF:0A00:0001', '10.0.0.1'],
    ['2001:0db8:0:0::1', '2001:db8::1'],
    ['::1.2.3.4', '::102:304'],
    ['FE80::1', 'fe80::1'],
  ]
  for (const [text, want] of cases) it(text, () => assert.equal(normalizeIP(text), want))
  it('is canonical: normalising twice changes nothing', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 16, maxLength: 16 }), (b) => {
        const t = normalizeIP(formatIP(b))!
        assert.equal(normalizeIP(t), t)
        assert.equal(formatIP(unmapIP(b)), t)
      }),
      { numRuns: 1000 },
    )
  })
})

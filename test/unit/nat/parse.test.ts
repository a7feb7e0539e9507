import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import { AutoNat, ExtIpNat, PmpNat, parseNat, StunNat } from '../../../src/nat/index.js'
import { DecodeError, formatIP } from '../../../src/util/index.js'

describe('parseNat', () => {
  it('returns undefined for no NAT handling', () => {
    for (const s of ['', 'none', 'off', 'NONE', ' off ']) assert.equal(parseNat(s), undefined, s)
  })
  const table: [string, string, string, string][] = [
    // spec, class, canonical spec, toString
    ['any', 'AutoNat', 'any', 'UPnP or NAT-PMP'],
    ['auto', 'AutoNat', 'any', 'UPnP or NAT-PMP'],
    ['ON', 'AutoNat', 'any', 'UPnP or NAT-PMP'],
    ['upnp', 'AutoNat', 'upnp', 'UPnP'],
    ['UPnP', 'AutoNat', 'upnp', 'UPnP'],
    ['pmp', 'AutoNat', 'pmp', 'NAT-PMP'],
    ['natpmp', 'AutoNat', 'pmp', 'NAT-PMP'],
    ['pmp:192.168.0.1', 'PmpNat', 'pmp:192.168.0.1', 'NAT-PMP(192.168.0.1)'],
    ['nat-pmp:10.0.0.1', 'PmpNat', 'pmp:10.0.0.1', 'NAT-PMP(10.0.0.1)'],
    ['extip:1.2.3.4', 'ExtIpNat', 'extip:1.2.3.4', 'ExtIP(1.2.3.4)'],
    ['ip:2001:db8::1', 'ExtIpNat', 'extip:2001:db8::1', 'ExtIP(2001:db8::1)'],
    ['EXTIP:1.2.3.4', 'ExtIpNat', 'extip:1.2.3.4', 'ExtIP(1.2.3.4)'],
    ['stun', 'StunNat', 'stun', 'STUN'],
    ['stun:10.99.0.2:3478', 'StunNat', 'stun:10.99.0.2:3478', 'STUN(10.99.0.2:3478)'],
    ['stun:stun.example.org', 'StunNat', 'stun:stun.example.org:3478', 'STUN(stun.example.org:3478)'],
  ]
  for (const [spec, cls, canon, str] of table) {
    it(`${spec} → ${cls}`, () => {
      const nat = parseNat(spec)!
      assert.equal(nat.constructor.name, cls)
      assert.equal(nat.spec, canon)
      assert.equal(nat.toString(), str)
      assert.equal(parseNat(nat.spec)!.spec, canon, 'spec round trips')
    })
  }
  it('extip reports its IP and maps nothing', async () => {
    const nat = parseNat('extip:1.2.3.4') as ExtIpNat
    assert.ok(nat instanceof ExtIpNat)
    assert.equal(formatIP(await nat.externalIP()), '1.2.3.4')
    assert.equal(await nat.addMapping('udp', 0, 30303, 'x', 600), 30303)
    assert.equal(await nat.addMapping('udp', 30305, 30303, 'x', 600), 30305)
    await nat.deleteMapping('udp', 30305, 30303)
    assert.equal(nat.supportsMapping, false)
    assert.equal(nat.gateway, undefined)
  })
  it('gives clear DecodeErrors', () => {
    const cases: [string, RegExp][] = [
      ['foo', /unknown NAT mechanism "foo"/],
      ['extip', /missing IP address/],
      ['extip:', /missing IP address/],
      ['extip:1.2.3', /invalid IP address/],
      ['pmp:1.2.3.4.5', /invalid gateway/],
      ['pmp:::1', /invalid gateway/],
      ['upnp:1.2.3.4', /upnp takes no argument/],
      ['any:x', /any takes no argument/],
      ['none:x', /none takes no argument/],
      ['stun:a:b', /invalid STUN server/],
    ]
    for (const [spec, re] of cases) {
      assert.throws(
        () => parseNat(spec),
        (e: unknown) =>
          e instanceof DecodeError && re.test(e.message) && /expected none\|any/.test(e.message),
        spec,
      )
    }
  })
  it('random specs give a Nat, undefined, or DecodeError', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string(),
          fc
            .constantFrom('pmp:', 'extip:', 'stun:', 'upnp', 'any')
            .chain((p) => fc.string().map((s) => p + s)),
        ),
        (s) => {
          try {
            const n = parseNat(s)
            if (n)
              assert.ok(
                n instanceof AutoNat || n instanceof ExtIpNat || n instanceof PmpNat || n instanceof StunNat,
              )
          } catch (e) {
            assert.ok(e instanceof DecodeError, String(e))
          }
        },
      ),
      { numRuns: 3000 },
    )
  })
})

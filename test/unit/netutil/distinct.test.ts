import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import { DistinctNetSet } from '../../../src/netutil/index.js'
import { parseIP } from '../../../src/util/index.js'

const ip = parseIP

describe('DistinctNetSet', () => {
  it('limits members per /24', () => {
    const s = new DistinctNetSet(24, 2)
    assert.ok(s.add(ip('1.2.3.4')))
    assert.ok(s.add(ip('1.2.3.5')))
    assert.ok(!s.add(ip('1.2.3.6')), 'third in /24 refused')
    assert.ok(s.add(ip('1.2.4.1')), 'other /24 accepted')
    assert.equal(s.len(), 3)
    assert.ok(s.contains(ip('1.2.3.200')))
    assert.ok(!s.contains(ip('1.2.5.1')))
    s.remove(ip('1.2.3.99'))
    assert.equal(s.len(), 2)
    assert.ok(s.add(ip('1.2.3.7')))
    assert.equal(s.toString(), '{1.2.3.0/24×2 1.2.4.0/24×1}')
  })
  it('treats IPv4-mapped addresses as IPv4 and keeps families apart', () => {
    const s = new DistinctNetSet(24, 1)
    assert.ok(s.add(ip('10.0.0.1')))
    assert.ok(!s.add(ip('::ffff:10.0.0.2')))
    assert.ok(s.add(ip('::a00:3')), 'IPv6 ::a00:3 is a different network')
  })
  it('clamps the subnet to the address length', () => {
    const s = new DistinctNetSet(64, 1)
    assert.ok(s.add(ip('10.0.0.1')))
    assert.ok(s.add(ip('10.0.0.2')), '/64 on IPv4 is /32')
    assert.ok(!s.add(ip('10.0.0.1')))
    assert.ok(s.add(ip('2001:db8::1')))
    assert.ok(!s.add(ip('2001:db8::2')), 'same /64')
  })
  it('remove of an absent network is a no-op; limit 0 refuses all', () => {
    const s = new DistinctNetSet(24, 0)
    assert.ok(!s.add(ip('1.1.1.1')))
    s.remove(ip('1.1.1.1'))
    assert.equal(s.len(), 0)
    assert.equal(s.toString(), '{}')
  })
  it('never exceeds the limit; len equals accepted minus removed', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 32 }),
        fc.integer({ min: 0, max: 4 }),
        fc.array(fc.tuple(fc.boolean(), fc.uint8Array({ minLength: 4, maxLength: 4 })), { maxLength: 60 }),
        (subnet, limit, ops) => {
          const s = new DistinctNetSet(subnet, limit)
          const added: Uint8Array[] = []
          for (const [isAdd, a] of ops) {
            if (isAdd) {
              if (s.add(a)) added.push(a)
            } else if (added.length > 0) {
              s.remove(added.pop()!)
            }
          }
          assert.equal(s.len(), added.length)
          const m = /×(\d+)/g
          for (const x of s.toString().matchAll(m)) assert.ok(Number(x[1]) <= limit)
        },
      ),
    )
  })
})

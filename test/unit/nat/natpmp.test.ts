import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import {
  decodePmpResponse,
  discoverPmp,
  encodePmpExternalAddressRequest,
  encodePmpMappingRequest,
  NAT_DEFAULTS,
  NatPmpError,
  NoRouterError,
  PmpNat,
  parseRouteTable,
  potentialGateways,
} from '../../../src/nat/index.js'
import { DecodeError, formatIP, SimulatedClock, TimeoutError, toHex } from '../../../src/util/index.js'
import { FakeUdpNetwork, fakeDeps, LAN_INTERFACES, settle } from './fakes.js'

const hex = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s.replace(/\s/g, ''), 'hex'))
const GW = '192.168.1.1'

/** A NAT-PMP gateway on the fake network: external 203.0.113.9, epoch 1000, optional port remap. */
function gateway(
  udp: FakeUdpNetwork,
  opts: { remap?: (p: number) => number; result?: number; from?: string; fromPort?: number } = {},
) {
  udp.on(GW, 5351, (d) => {
    const from = { address: opts.from ?? GW, port: opts.fromPort ?? 5351 }
    const rc = opts.result ?? 0
    if (d.length === 2 && d[1] === 0) {
      const b = new Uint8Array(12)
      const v = new DataView(b.buffer)
      b[1] = 128
      v.setUint16(2, rc)
      v.setUint32(4, 1000)
      b.set([203, 0, 113, 9], 8)
      return [{ data: b, from }]
    }
    if (d.length === 12) {
      const req = new DataView(d.buffer, d.byteOffset)
      const b = new Uint8Array(16)
      const v = new DataView(b.buffer)
      b[1] = 128 + d[1]!
      v.setUint16(2, rc)
      v.setUint32(4, 1000)
      v.setUint16(8, req.getUint16(4))
      const lifetime = req.getUint32(8)
      v.setUint16(10, lifetime === 0 ? 0 : (opts.remap ?? ((p) => p))(req.getUint16(6)))
      v.setUint32(12, lifetime)
      return [{ data: b, from }]
    }
    return undefined
  })
}

describe('NAT-PMP codec', () => {
  it('encodes requests (lifetimes in seconds, big-endian)', () => {
    assert.equal(toHex(encodePmpExternalAddressRequest()), '0000')
    assert.equal(toHex(encodePmpMappingRequest('tcp', 30303, 30303, 7200)), '00020000765f765f00001c20')
    assert.equal(toHex(encodePmpMappingRequest('udp', 30303, 30304, 600)), '00010000765f766000000258')
    assert.equal(toHex(encodePmpMappingRequest('udp', 30303, 0, 0)), '00010000765f000000000000')
    assert.throws(() => encodePmpMappingRequest('tcp', 0, 1, 1), RangeError)
    assert.throws(() => encodePmpMappingRequest('tcp', 1, 1, 2 ** 32), RangeError)
  })
  it('decodes responses (miniupnpd bytes)', () => {
    assert.deepEqual(decodePmpResponse(hex('0080 0000 00000066 0a630001')), {
      kind: 'external-address',
      resultCode: 0,
      epoch: 0x66,
      ip: Uint8Array.of(10, 99, 0, 1),
    })
    assert.deepEqual(decodePmpResponse(hex('0082 0000 00000066 7666 7667 0000003c')), {
      kind: 'mapping',
      protocol: 'tcp',
      resultCode: 0,
      epoch: 0x66,
      intPort: 30310,
      extPort: 30311,
      lifetimeSec: 60,
    })
    const err = decodePmpResponse(hex('0081 0002 00000066'))
    assert.equal(err.kind, 'mapping')
    assert.equal(err.resultCode, 2)
    assert.equal(decodePmpResponse(hex('0080 0003 00000066')).resultCode, 3)
    // trailing bytes are ignored
    assert.equal(decodePmpResponse(hex('0080 0000 00000066 0a630001 ffff')).kind, 'external-address')
  })
  it('rejects truncated, wrong-version, request and unknown opcodes', () => {
    for (const bad of [
      '',
      '0080',
      '0080000000000066',
      '0080 0000 00000066 0a63',
      '0082 0000 00000066 7666 7667',
      '0180 0000 00000066 0a630001',
      '0000 0000 00000066 0a630001',
      '0083 0000 00000066 0a630001',
    ]) {
      assert.throws(() => decodePmpResponse(hex(bad)), DecodeError, bad)
    }
  })
  it('random bytes throw only DecodeError', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 40 }), (b) => {
        try {
          decodePmpResponse(b)
        } catch (e) {
          assert.ok(e instanceof DecodeError)
        }
      }),
      { numRuns: 5000 },
    )
  })
})

describe('gateway guess', () => {
  it('parses /proc/net/route default gateways', () => {
    const table =
      'Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n' +
      'lan0\t00000000\t0101630A\t0003\t0\t0\t0\t00000000\t0\t0\t0\n' +
      'lan0\t0001630A\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n' +
      'eth1\t00000000\t0101A8C0\t0001\t0\t0\t0\t00000000\t0\t0\t0\n' + // no RTF_GATEWAY flag
      'eth2\t00000000\tzzzzzzzz\t0003\t0\t0\t0\t00000000\t0\t0\t0\n' +
      'short line\n'
    assert.deepEqual(parseRouteTable(table), ['10.99.1.1'])
    assert.deepEqual(parseRouteTable(''), [])
  })
  it('guesses .1 of each private interface subnet, default routes first, deduplicated', () => {
    const ifs = [
      ...LAN_INTERFACES,
      { address: '10.1.2.3', netmask: '255.255.0.0', family: 'IPv4' as const, internal: false },
      { address: '8.8.8.8', netmask: '255.255.255.0', family: 'IPv4' as const, internal: false },
      { address: '192.168.1.7', netmask: '255.255.255.0', family: 'IPv4' as const, internal: false },
    ]
    assert.deepEqual(potentialGateways(ifs, ['10.1.0.1', 'junk']), ['10.1.0.1', '192.168.1.1'])
  })
})

describe('PmpNat', () => {
  it('reads the external address', async () => {
    const clock = new SimulatedClock(0)
    const udp = new FakeUdpNetwork(clock)
    gateway(udp)
    const nat = new PmpNat(GW, fakeDeps(clock, udp), NAT_DEFAULTS)
    assert.equal(formatIP(await nat.externalIP()), '203.0.113.9')
    assert.equal(nat.toString(), 'NAT-PMP(192.168.1.1)')
    assert.equal(nat.spec, 'pmp:192.168.1.1')
    assert.equal(udp.openSockets, 0)
  })
  it('maps with the lifetime in seconds and returns the port the gateway chose', async () => {
    const clock = new SimulatedClock(0)
    const udp = new FakeUdpNetwork(clock)
    gateway(udp, { remap: (p) => p + 1 })
    const nat = new PmpNat(GW, fakeDeps(clock, udp), NAT_DEFAULTS)
    assert.equal(await nat.addMapping('udp', 30303, 30303, 'x', 600), 30304)
    assert.equal(toHex(udp.sent[0]!.data), '00010000765f765f00000258')
    await nat.deleteMapping('udp', 30304, 30303)
    assert.equal(toHex(udp.sent[1]!.data), '00010000765f000000000000')
    await assert.rejects(nat.addMapping('udp', 1, 1, 'x', 0), RangeError)
  })
  it('turns result codes into NatPmpError', async () => {
    const clock = new SimulatedClock(0)
    const udp = new FakeUdpNetwork(clock)
    gateway(udp, { result: 2 })
    const nat = new PmpNat(GW, fakeDeps(clock, udp), NAT_DEFAULTS)
    await assert.rejects(
      nat.addMapping('tcp', 1, 1, 'x', 60),
      (e: unknown) => e instanceof NatPmpError && e.resultCode === 2 && /NotAuthorized/.test(e.message),
    )
  })
  it('ignores replies from another address or port, and retransmits 250 ms doubling', async () => {
    const clock = new SimulatedClock(0)
    const udp = new FakeUdpNetwork(clock)
    gateway(udp, { from: '192.168.1.66' })
    const nat = new PmpNat(GW, fakeDeps(clock, udp), NAT_DEFAULTS)
    const r = await settle(clock, nat.externalIP(), 5)
    assert.ok(!r.ok && r.error instanceof TimeoutError)
    // sends at 0, 250, 750, 1750, 3750 ms; the 4 s request timeout ends it
    assert.deepEqual(
      udp.sent.map((p) => p.at),
      [0, 250, 750, 1750, 3750],
    )
    assert.equal(clock.pendingTimers, 0)
    assert.equal(udp.openSockets, 0)
  })
  it('stops after the RFC tries when the timeout allows them all', async () => {
    const clock = new SimulatedClock(0)
    const udp = new FakeUdpNetwork(clock)
    const nat = new PmpNat(GW, fakeDeps(clock, udp), { ...NAT_DEFAULTS, pmpTimeoutMs: 200_000 })
    const r = await settle(clock, nat.externalIP(), 250, 300_000)
    assert.ok(!r.ok && r.error instanceof TimeoutError && /after 9 tries/.test(r.error.message))
    assert.equal(udp.sent.length, 9)
    assert.equal(udp.sent.at(-1)?.at, 250 * (2 ** 8 - 1))
  })
  it('ignores garbage and replies for another port', async () => {
    const clock = new SimulatedClock(0)
    const udp = new FakeUdpNetwork(clock)
    udp.on(GW, 5351, () => [
      { data: hex('ffff') },
      { data: hex('0082 0000 00000001 0001 0002 0000003c') }, // intPort 1, not ours
      { data: hex('0081 0000 00000001 765f 765f 0000003c') }, // UDP, we asked TCP
      { data: hex('0082 0000 00000001 765f 7777 0000003c') },
    ])
    const nat = new PmpNat(GW, fakeDeps(clock, udp), NAT_DEFAULTS)
    assert.equal(await nat.addMapping('tcp', 30303, 30303, 'x', 60), 0x7777)
  })
  it('rejects a non-IPv4 gateway', () => {
    const clock = new SimulatedClock(0)
    assert.throws(
      () => new PmpNat('::1', fakeDeps(clock, new FakeUdpNetwork(clock)), NAT_DEFAULTS),
      RangeError,
    )
  })
})

describe('discoverPmp', () => {
  it('asks every candidate and takes the one that answers', async () => {
    const clock = new SimulatedClock(0)
    const udp = new FakeUdpNetwork(clock)
    gateway(udp)
    const deps = fakeDeps(clock, udp, undefined, { defaultGateways: () => ['10.0.0.1'] })
    const r = await settle(clock, discoverPmp(deps, NAT_DEFAULTS), 10)
    assert.ok(r.ok)
    assert.equal(r.value.gateway, GW)
    assert.ok(udp.sentTo('10.0.0.1:5351').length >= 1)
    assert.equal(udp.openSockets, 0)
  })
  it('gives NoRouterError after the discovery bound (1 s)', async () => {
    const clock = new SimulatedClock(0)
    const udp = new FakeUdpNetwork(clock)
    const r = await settle(clock, discoverPmp(fakeDeps(clock, udp), NAT_DEFAULTS), 10)
    assert.ok(!r.ok && r.error instanceof NoRouterError)
    assert.equal(clock.now(), 1000)
  })
  it('gives NoRouterError without candidates', async () => {
    const clock = new SimulatedClock(0)
    const deps = fakeDeps(clock, new FakeUdpNetwork(clock), undefined, { interfaces: () => [] })
    await assert.rejects(discoverPmp(deps, NAT_DEFAULTS), NoRouterError)
  })
})

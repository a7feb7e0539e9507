import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import {
  AutoNat,
  NAT_DEFAULTS,
  NoRouterError,
  probeNat,
  resolveNatOptions,
  udpExchange,
} from '../../../src/nat/index.js'
import { AbortError, formatIP, SimulatedClock, TimeoutError } from '../../../src/util/index.js'
import { FakeHttp, FakeUdpNetwork, fakeDeps, settle } from './fakes.js'

const GW = '192.168.1.1'

/** A NAT-PMP gateway that answers the external-address request and maps ports as asked. */
function pmpGateway(udp: FakeUdpNetwork): void {
  udp.on(GW, 5351, (d) => {
    if (d.length === 2) return [{ data: Uint8Array.of(0, 128, 0, 0, 0, 0, 0, 1, 203, 0, 113, 9) }]
    const b = new Uint8Array(16)
    b[1] = 128 + d[1]!
    b.set(d.subarray(4, 8), 8)
    b.set(d.subarray(8, 12), 12)
    return [{ data: b }]
  })
}

describe('AutoNat', () => {
  it('any: NAT-PMP answers, UPnP does not; the first usable wins', async () => {
    const clock = new SimulatedClock(0)
    const udp = new FakeUdpNetwork(clock)
    pmpGateway(udp)
    const nat = new AutoNat('any', fakeDeps(clock, udp), NAT_DEFAULTS)
    assert.equal(nat.toString(), 'UPnP or NAT-PMP')
    const r = await settle(clock, nat.externalIP(), 10)
    assert.ok(r.ok)
    assert.equal(formatIP(r.value), '203.0.113.9')
    assert.equal(nat.toString(), 'NAT-PMP(192.168.1.1)')
    assert.equal(nat.gateway, GW)
    assert.equal(nat.spec, 'any')
    // later calls reuse the router found; the UPnP search was stopped
    assert.equal(await nat.addMapping('tcp', 0, 30303, 'x', 60), 30303)
    await clock.advance(5000)
    assert.equal(udp.openSockets, 0)
    assert.equal(clock.pendingTimers, 0)
  })
  it('any: NoRouterError naming both failures; a later call searches again', async () => {
    const clock = new SimulatedClock(0)
    const udp = new FakeUdpNetwork(clock)
    const nat = new AutoNat('any', fakeDeps(clock, udp), NAT_DEFAULTS)
    const r = await settle(clock, nat.externalIP(), 10)
    assert.ok(!r.ok && r.error instanceof NoRouterError && /upnp: .*pmp: /.test(r.error.message))
    assert.ok(clock.now() <= 2100, 'bounded by the SSDP window')
    pmpGateway(udp)
    const r2 = await settle(clock, nat.externalIP(), 10)
    assert.ok(r2.ok)
  })
  it('concurrent callers share one discovery', async () => {
    const clock = new SimulatedClock(0)
    const udp = new FakeUdpNetwork(clock)
    pmpGateway(udp)
    const nat = new AutoNat('pmp', fakeDeps(clock, udp), NAT_DEFAULTS)
    const r = await settle(clock, Promise.all([nat.discover(), nat.discover(), nat.externalIP()]), 10)
    assert.ok(r.ok && r.value[0] === r.value[1])
    assert.equal(
      udp.sent.filter((p) => p.data.length === 2).length,
      2,
      'one discovery probe + one externalIP',
    )
  })
  it('a caller can abort its wait; discovery is bounded by discoveryTimeoutMs', async () => {
    const clock = new SimulatedClock(0)
    const udp = new FakeUdpNetwork(clock)
    // a router whose UPnP never finishes: the discovery bound ends the search
    const http = new FakeHttp()
    const nat = new AutoNat(
      'upnp',
      fakeDeps(clock, udp, http),
      resolveNatOptions({ discoveryTimeoutMs: 1000 }),
    )
    const ac = new AbortController()
    const p = nat.discover({ signal: ac.signal })
    ac.abort()
    await assert.rejects(p, AbortError)
    const r = await settle(clock, nat.discover(), 10)
    assert.ok(!r.ok && r.error instanceof TimeoutError && r.error.timeoutMs === 1000)
    nat.close()
  })
})

describe('udpExchange', () => {
  it('aborts promptly and cleans up', async () => {
    const clock = new SimulatedClock(0)
    const udp = new FakeUdpNetwork(clock)
    const ac = new AbortController()
    const p = udpExchange(clock, udp.factory, {
      host: '10.0.0.1',
      port: 1,
      request: new Uint8Array(1),
      accept: () => undefined,
      initialRtoMs: 100,
      maxTries: 3,
      timeoutMs: 10_000,
      what: 'test',
      signal: ac.signal,
    })
    await clock.advance(150)
    ac.abort()
    await assert.rejects(p, AbortError)
    await clock.advance(0)
    assert.equal(udp.sent.length, 2)
    assert.equal(udp.openSockets, 0)
    assert.equal(clock.pendingTimers, 0)
  })
  it('fails at once when send fails, and when accept throws', async () => {
    const clock = new SimulatedClock(0)
    const udp = new FakeUdpNetwork(clock)
    const failing = async () => {
      const s = await udp.factory()
      return {
        ...s,
        send: async () =>
          Promise.reject(Object.assign(new Error('send ENETUNREACH'), { code: 'ENETUNREACH' })),
      }
    }
    const base = {
      host: '10.0.0.1',
      port: 1,
      request: new Uint8Array(1),
      initialRtoMs: 100,
      maxTries: 3,
      timeoutMs: 1000,
      what: 't',
    }
    await assert.rejects(udpExchange(clock, failing, { ...base, accept: () => undefined }), /ENETUNREACH/)
    udp.on('10.0.0.1', 1, () => [{ data: new Uint8Array(1) }])
    await assert.rejects(
      udpExchange(clock, udp.factory, {
        ...base,
        accept: () => {
          throw new RangeError('bad reply')
        },
      }),
      RangeError,
    )
  })
})

describe('probeNat', () => {
  it('none: disabled', async () => {
    const r = await probeNat('none')
    assert.equal(r.mechanism, 'none')
    assert.equal(r.mappingTest.ok, false)
  })
  it('extip: reports the IP, no mapping', async () => {
    const r = await probeNat('extip:1.2.3.4')
    assert.equal(r.mechanism, 'extip')
    assert.equal(r.externalIP, '1.2.3.4')
    assert.equal(r.error, undefined)
    assert.equal(r.mappingTest.ok, false)
    assert.match(r.mappingTest.error ?? '', /does not map ports/)
  })
  it('pmp on fakes: discovers, maps and deletes', async () => {
    const clock = new SimulatedClock(0)
    const udp = new FakeUdpNetwork(clock)
    pmpGateway(udp)
    const r = await settle(clock, probeNat('any', { deps: fakeDeps(clock, udp), intPort: 30303 }), 10)
    assert.ok(r.ok)
    assert.deepEqual(r.value, {
      spec: 'any',
      mechanism: 'pmp',
      description: 'NAT-PMP(192.168.1.1)',
      gateway: GW,
      externalIP: '203.0.113.9',
      error: undefined,
      mappingTest: { ok: true, protocol: 'tcp', intPort: 30303, extPort: 30303 },
    })
    const maps = udp.sent.filter((p) => p.data.length === 12)
    assert.equal(maps.length, 2, 'map then delete')
  })
  it('no router: reports the error', async () => {
    const clock = new SimulatedClock(0)
    const udp = new FakeUdpNetwork(clock)
    const r = await settle(clock, probeNat('pmp', { deps: fakeDeps(clock, udp), intPort: 30303 }), 10)
    assert.ok(r.ok)
    assert.match(r.value.error ?? '', /NoRouterError/)
    assert.equal(r.value.externalIP, undefined)
    assert.deepEqual(r.value.mappingTest, { ok: false, protocol: 'tcp', intPort: 30303, error: 'no router' })
  })
  it('throws DecodeError only for a bad spec', async () => {
    await assert.rejects(probeNat('bogus'), /unknown NAT mechanism/)
  })
})

import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import {
  discoverUpnp,
  NAT_DEFAULTS,
  NoRouterError,
  parseDeviceDescription,
  resolveNatOptions,
  UpnpNat,
  type UpnpService,
  UpnpSoapError,
  upnpFromLocation,
} from '../../../src/nat/index.js'
import {
  AbortError,
  DecodeError,
  formatIP,
  fromUtf8,
  SimulatedClock,
  TimeoutError,
  utf8,
} from '../../../src/util/index.js'
import { FakeHttp, FakeUdpNetwork, fakeDeps, settle } from './fakes.js'
import { DESC_V1, DESC_V2, SSDP_REPLY, soapFault, soapReply } from './fixtures.js'

const LOCATION = 'http://192.168.1.1:5000/rootDesc.xml'
const CONTROL = 'http://192.168.1.1:5000/ctl/IPConn'
const IP2: UpnpService = {
  serviceType: 'urn:schemas-upnp-org:service:WANIPConnection:2',
  kind: 'IP2',
  controlURL: CONTROL,
  igdVersion: 2,
}
const IP1: UpnpService = {
  ...IP2,
  serviceType: 'urn:schemas-upnp-org:service:WANIPConnection:1',
  kind: 'IP1',
  igdVersion: 1,
}

/** Parse the SOAP request body's arguments (name → value). */
function args(body: string | undefined): Record<string, string> {
  const out: Record<string, string> = {}
  for (const m of (body ?? '').matchAll(/<(New\w+)>([^<]*)<\/New\w+>/g)) out[m[1]!] = m[2]!
  return out
}

/** A UpnpNat on fakes; the rate limit is off unless `rateLimit` (it runs on the simulated clock). */
function setup(
  service: UpnpService = IP2,
  rateLimit = false,
): { clock: SimulatedClock; http: FakeHttp; nat: UpnpNat } {
  const clock = new SimulatedClock(0)
  const http = new FakeHttp()
  const options = rateLimit ? NAT_DEFAULTS : resolveNatOptions({ upnpRequestIntervalMs: 0 })
  const nat = new UpnpNat(service, fakeDeps(clock, new FakeUdpNetwork(clock), http), options)
  return { clock, http, nat }
}

describe('parseDeviceDescription', () => {
  it('finds WANIPConnection:2 in an IGD v2 description', () => {
    const d = parseDeviceDescription(DESC_V2, LOCATION)
    assert.equal(d.igdVersion, 2)
    assert.equal(d.deviceType, 'urn:schemas-upnp-org:device:InternetGatewayDevice:2')
    assert.deepEqual(d.services, [IP2])
  })
  it('orders IGD v1 services IP before PPP, resolves against URLBase, drops foreign hosts', () => {
    const d = parseDeviceDescription(DESC_V1, LOCATION)
    assert.equal(d.igdVersion, 1)
    assert.deepEqual(
      d.services.map((s) => [s.kind, s.controlURL]),
      [
        ['IP1', 'http://192.168.1.1:49000/upnp/control/WANIPConn1'],
        ['PPP1', 'http://192.168.1.1:49000/upnp/control/WANPPPConn1'],
      ],
    )
  })
  it('rejects descriptions without a device', () => {
    assert.throws(() => parseDeviceDescription('<root/>', LOCATION), DecodeError)
    assert.throws(() => parseDeviceDescription('<root', LOCATION), DecodeError)
  })
})

describe('UpnpNat', () => {
  it('reads the external IP', async () => {
    const { http, nat } = setup()
    http.on(CONTROL, () => ({
      status: 200,
      body: soapReply('GetExternalIPAddress', { NewExternalIPAddress: '203.0.113.7' }),
    }))
    assert.equal(formatIP(await nat.externalIP()), '203.0.113.7')
    assert.deepEqual(http.actions(), ['GetExternalIPAddress'])
    assert.equal(http.requests[0]?.headers?.['SOAPAction'], `"${IP2.serviceType}#GetExternalIPAddress"`)
    assert.equal(nat.toString(), 'UPnP IGDv2-IP2(192.168.1.1)')
    assert.equal(nat.gateway, '192.168.1.1')
  })
  it('rejects a bad external IP with DecodeError', async () => {
    const { http, nat } = setup()
    http.on(CONTROL, () => ({
      status: 200,
      body: soapReply('GetExternalIPAddress', { NewExternalIPAddress: 'nope' }),
    }))
    await assert.rejects(nat.externalIP(), DecodeError)
  })
  it('IGD v2: AddAnyPortMapping and the port the router reserved', async () => {
    const { http, nat } = setup()
    http.on(CONTROL, () => ({
      status: 200,
      body: soapReply('AddAnyPortMapping', { NewReservedPort: '30304' }),
    }))
    assert.equal(await nat.addMapping('tcp', 30303, 30303, 'ethereum p2p', 600), 30304)
    assert.deepEqual(http.actions(), ['AddAnyPortMapping'])
    assert.deepEqual(args(http.requests[0]?.body), {
      NewRemoteHost: '',
      NewExternalPort: '30303',
      NewProtocol: 'TCP',
      NewInternalPort: '30303',
      NewInternalClient: '192.168.1.2',
      NewEnabled: '1',
      NewPortMappingDescription: 'ethereum p2p',
      NewLeaseDuration: '600',
    })
  })
  it('IGD v2: falls back to AddPortMapping when AddAnyPortMapping is not implemented', async () => {
    const { http, nat } = setup()
    http.on(CONTROL, (req) =>
      req.headers?.['SOAPAction']?.includes('AddAnyPortMapping')
        ? { status: 500, body: soapFault(401, 'Invalid Action') }
        : { status: 200, body: soapReply('AddPortMapping') },
    )
    assert.equal(await nat.addMapping('udp', 0, 30303, 'disc', 60), 30303)
    assert.deepEqual(http.actions(), ['AddAnyPortMapping', 'AddPortMapping'])
    assert.equal(args(http.requests[1]?.body)['NewProtocol'], 'UDP')
  })
  it('IGD v1: a 718 conflict moves to a random port in [10000, 65535)', async () => {
    const { http, nat } = setup(IP1)
    let n = 0
    http.on(CONTROL, () =>
      n++ === 0
        ? { status: 500, body: soapFault(718, 'ConflictInMappingEntry') }
        : { status: 200, body: soapReply('AddPortMapping') },
    )
    const port = await nat.addMapping('tcp', 30303, 30303, 'x', 600)
    assert.notEqual(port, 30303)
    assert.ok(port >= 10000 && port < 65535)
    assert.deepEqual(http.actions(), ['AddPortMapping', 'AddPortMapping'])
    assert.equal(args(http.requests[1]?.body)['NewExternalPort'], String(port))
  })
  it('IGD v1: other errors retry the requested port 4 times, then 3 random ports, then fail', async () => {
    const { http, nat } = setup(IP1)
    http.on(CONTROL, () => ({ status: 500, body: soapFault(501, 'ActionFailed') }))
    await assert.rejects(
      nat.addMapping('tcp', 30303, 30303, 'x', 600),
      (e: unknown) => e instanceof UpnpSoapError && e.code === 501,
    )
    const ports = http.requests.map((r) => args(r.body)['NewExternalPort'])
    assert.deepEqual(ports.slice(0, 4), ['30303', '30303', '30303', '30303'])
    assert.equal(ports.length, 7)
  })
  it('retries with lease 0 when the router only supports permanent leases (725)', async () => {
    const { http, nat } = setup(IP1)
    http.on(CONTROL, (req) =>
      args(req.body)['NewLeaseDuration'] === '0'
        ? { status: 200, body: soapReply('AddPortMapping') }
        : { status: 500, body: soapFault(725, 'OnlyPermanentLeasesSupported') },
    )
    assert.equal(await nat.addMapping('tcp', 30303, 30303, 'x', 600), 30303)
    assert.deepEqual(
      http.requests.map((r) => args(r.body)['NewLeaseDuration']),
      ['600', '0'],
    )
  })
  it('deleteMapping sends DeletePortMapping and treats NoSuchEntryInArray (714) as done', async () => {
    const { http, nat } = setup()
    http.on(CONTROL, () => ({ status: 500, body: soapFault(714, 'NoSuchEntryInArray') }))
    await nat.deleteMapping('tcp', 30304, 30303)
    assert.deepEqual(args(http.requests[0]?.body), {
      NewRemoteHost: '',
      NewExternalPort: '30304',
      NewProtocol: 'TCP',
    })
    http.on(CONTROL, () => ({ status: 500, body: soapFault(606, 'Action not authorized') }))
    await assert.rejects(nat.deleteMapping('tcp', 30304, 30303), UpnpSoapError)
  })
  it('spaces requests by the rate limit (200 ms) on the injected clock', async () => {
    const { clock, http, nat } = setup(IP2, true)
    const at: number[] = []
    http.on(CONTROL, () => {
      at.push(clock.now())
      return { status: 200, body: soapReply('GetExternalIPAddress', { NewExternalIPAddress: '1.2.3.4' }) }
    })
    const all = Promise.all([nat.externalIP(), nat.externalIP(), nat.externalIP()])
    const r = await settle(clock, all, 10)
    assert.equal(r.ok, true)
    assert.deepEqual(at, [0, 200, 400])
  })
  it('times out a silent router (SOAP timeout) and honours abort', async () => {
    const { clock, http, nat } = setup()
    http.on(CONTROL, () => new Promise(() => {}))
    const r = await settle(clock, nat.externalIP(), 100)
    assert.equal(r.ok, false)
    assert.ok(!r.ok && r.error instanceof TimeoutError && r.error.timeoutMs === 3000)
    const ac = new AbortController()
    const p = nat.externalIP({ signal: ac.signal })
    ac.abort()
    await assert.rejects(p, AbortError)
  })
  it('argument errors reject', async () => {
    const { nat } = setup()
    await assert.rejects(nat.addMapping('sctp' as 'tcp', 1, 1, 'x', 1), TypeError)
    await assert.rejects(nat.addMapping('tcp', 70000, 1, 'x', 1), RangeError)
    await assert.rejects(nat.addMapping('tcp', 1, 0, 'x', 1), RangeError)
    await assert.rejects(nat.addMapping('tcp', 1, 1, 'x', -1), RangeError)
  })
})

describe('UPnP discovery', () => {
  function router(
    clock: SimulatedClock,
    opts: { location?: string; from?: string; desc?: string; natEnabled?: boolean } = {},
  ) {
    const udp = new FakeUdpNetwork(clock)
    const http = new FakeHttp()
    const location = opts.location ?? LOCATION
    udp.on('239.255.255.250', 1900, () => [
      {
        data: utf8(SSDP_REPLY.replace(LOCATION, location)),
        from: { address: opts.from ?? '192.168.1.1', port: 1900 },
        delayMs: 30,
      },
    ])
    http.on(location, () => ({ status: 200, body: opts.desc ?? DESC_V2, localAddress: '192.168.1.2' }))
    http.on(CONTROL, () => ({
      status: 200,
      body: soapReply('GetNATRSIPStatus', {
        NewRSIPAvailable: '0',
        NewNATEnabled: opts.natEnabled === false ? '0' : '1',
      }),
    }))
    return { udp, http, deps: fakeDeps(clock, udp, http) }
  }
  it('finds the router through SSDP, its description and GetNATRSIPStatus', async () => {
    const clock = new SimulatedClock(0)
    const { udp, http, deps } = router(clock)
    const r = await settle(clock, discoverUpnp(deps, NAT_DEFAULTS), 10)
    assert.ok(r.ok)
    assert.equal(r.value.toString(), 'UPnP IGDv2-IP2(192.168.1.1)')
    const searches = udp.sentTo('239.255.255.250:1900').map((p) => fromUtf8(p.data))
    assert.ok(searches.length >= 2)
    assert.ok(
      searches.some((s) => s.includes('InternetGatewayDevice:1')) &&
        searches.some((s) => s.includes('InternetGatewayDevice:2')),
    )
    assert.equal(http.requests.filter((q) => q.url === LOCATION).length, 1, 'one fetch per LOCATION')
    assert.equal(udp.openSockets, 0)
  })
  it('gives NoRouterError after the window when nobody answers', async () => {
    const clock = new SimulatedClock(0)
    const udp = new FakeUdpNetwork(clock)
    const r = await settle(clock, discoverUpnp(fakeDeps(clock, udp), NAT_DEFAULTS), 100)
    assert.ok(!r.ok && r.error instanceof NoRouterError)
    assert.equal(clock.now(), 2000)
    assert.equal(udp.openSockets, 0)
    assert.equal(clock.pendingTimers, 0)
  })
  it('skips routers with NAT disabled', async () => {
    const clock = new SimulatedClock(0)
    const { deps } = router(clock, { natEnabled: false })
    const r = await settle(clock, discoverUpnp(deps, NAT_DEFAULTS), 100)
    assert.ok(!r.ok && r.error instanceof NoRouterError && /NAT enabled/.test(r.error.message))
  })
  it('refuses a LOCATION on a public host announced by someone else', async () => {
    const clock = new SimulatedClock(0)
    const { http, deps } = router(clock, { location: 'http://8.8.8.8/desc.xml' })
    const r = await settle(clock, discoverUpnp(deps, NAT_DEFAULTS), 100)
    assert.ok(!r.ok && r.error instanceof NoRouterError && /refusing LOCATION/.test(r.error.message))
    assert.equal(http.requests.length, 0, 'nothing fetched')
  })
  it('refuses an oversized description and hostile replies without crashing', async () => {
    const clock = new SimulatedClock(0)
    const { deps } = router(clock, { desc: `<root>${'<device>'.repeat(10)}${'x'.repeat(300 * 1024)}</root>` })
    const r = await settle(clock, discoverUpnp(deps, NAT_DEFAULTS), 100)
    assert.ok(!r.ok && r.error instanceof NoRouterError && /exceeds/.test(r.error.message))
  })
  it('ignores junk datagrams during the window', async () => {
    const clock = new SimulatedClock(0)
    const udp = new FakeUdpNetwork(clock)
    udp.on('239.255.255.250', 1900, () => [
      { data: new Uint8Array(9000) },
      { data: utf8('HTTP/1.1 200 OK\r\n\r\n') },
      { data: utf8('garbage') },
    ])
    const r = await settle(clock, discoverUpnp(fakeDeps(clock, udp), NAT_DEFAULTS), 100)
    assert.ok(!r.ok && r.error instanceof NoRouterError)
  })
  it('upnpFromLocation uses the HTTP local address when no interface matches', async () => {
    const clock = new SimulatedClock(0)
    const { http } = router(clock)
    const udp = new FakeUdpNetwork(clock)
    const deps = fakeDeps(clock, udp, http, { interfaces: () => [] })
    const nat = await upnpFromLocation(
      LOCATION,
      '192.168.1.1',
      deps,
      resolveNatOptions({ upnpRequestIntervalMs: 0 }),
    )
    http.on(CONTROL, () => ({
      status: 200,
      body: soapReply('AddAnyPortMapping', { NewReservedPort: '30303' }),
    }))
    await nat.addMapping('tcp', 30303, 30303, 'x', 60)
    assert.equal(args(http.requests.at(-1)?.body)['NewInternalClient'], '192.168.1.2')
  })
})

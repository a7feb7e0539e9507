import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { NATLAB, type NatLab, natlabSkipReason, natlabUp } from '../../helpers/natlab.js'
import { probeIn, startIn } from './common.js'

const skip = natlabSkipReason()

describe('natlab: NAT-PMP and no router', { skip, timeout: 60_000 }, () => {
  let lab: NatLab
  before(async () => {
    lab = await natlabUp({ igd: 2 })
  })
  after(async () => {
    await lab?.down()
  })

  it('pmp: guesses the gateway, reads the external IP, maps and deletes', async () => {
    const r = await probeIn(lab.ns.lan, { spec: 'pmp', intPort: 33001 })
    assert.equal(r.mechanism, 'pmp')
    assert.equal(r.gateway, NATLAB.gateway)
    assert.equal(r.description, `NAT-PMP(${NATLAB.gateway})`)
    assert.equal(r.externalIP, NATLAB.externalIP)
    assert.deepEqual(r.mappingTest, { ok: true, protocol: 'tcp', intPort: 33001, extPort: 33001 })
    assert.ok(!(await lab.forwards()).some((f) => f.extPort === 33001), 'deleted')
  })

  it('pmp:<gateway>: the given gateway, UDP', async () => {
    const r = await probeIn(lab.ns.lan, {
      spec: `pmp:${NATLAB.gateway}`,
      protocol: 'udp',
      intPort: 33002,
      keepMapping: true,
      lifetimeSec: 30,
    })
    assert.equal(r.gateway, NATLAB.gateway)
    assert.equal(r.externalIP, NATLAB.externalIP)
    assert.equal(r.mappingTest.ok, true)
    const fw = await lab.forwards()
    assert.ok(fw.some((f) => f.proto === 'udp' && f.extPort === 33002 && f.to === `${NATLAB.lanIP}:33002`))
  })

  it('pmp: the router grants another port when lan2 holds ours', async () => {
    const holder = startIn(lab.ns.lan2, { op: 'hold', spec: 'pmp', intPort: 33003, lifetimeSec: 30 })
    try {
      const held = await holder.next<{ extPort: number }>((o) => o.event === 'mapped')
      assert.equal(held.extPort, 33003)
      const r = await probeIn(lab.ns.lan, { spec: 'pmp', intPort: 33003, keepMapping: true, lifetimeSec: 30 })
      assert.equal(r.mappingTest.ok, true)
      assert.notEqual(r.mappingTest.extPort, 33003)
      const fw = await lab.forwards()
      assert.ok(fw.some((f) => f.extPort === r.mappingTest.extPort && f.to === `${NATLAB.lanIP}:33003`))
    } finally {
      await holder.stop()
    }
  })

  it('a silent gateway: pmp:<nobody> times out, bounded', async () => {
    const t0 = Date.now()
    const r = await probeIn(lab.ns.lan, {
      spec: `pmp:${NATLAB.silentGateway}`,
      options: { pmpTimeoutMs: 1500 },
    })
    assert.equal(r.externalIP, undefined)
    assert.match(r.error ?? '', /TimeoutError/)
    assert.equal(r.mappingTest.ok, false)
    assert.ok(Date.now() - t0 < 15_000)
  })

  it('daemon stopped: upnp, pmp and any find no router', async () => {
    await lab.stopDaemon()
    const options = { ssdpWindowMs: 1000, pmpDiscoveryMs: 1000 }
    const [u, p, a] = await Promise.all([
      probeIn(lab.ns.lan, { spec: 'upnp', options }),
      probeIn(lab.ns.lan, { spec: 'pmp', options }),
      probeIn(lab.ns.lan, { spec: 'any', options }),
    ])
    for (const r of [u, p, a]) {
      assert.match(r.error ?? '', /NoRouterError/, JSON.stringify(r))
      assert.equal(r.externalIP, undefined)
      assert.equal(r.mappingTest.ok, false)
    }
    assert.equal(a.mechanism, 'none')
  })
})

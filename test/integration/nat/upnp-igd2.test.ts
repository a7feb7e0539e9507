import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { NATLAB, type NatLab, natlabSkipReason, natlabUp } from '../../helpers/natlab.js'
import { probeIn, startIn } from './common.js'

const skip = natlabSkipReason()

describe('natlab: UPnP IGD v2, any, STUN', { skip, timeout: 60_000 }, () => {
  let lab: NatLab
  before(async () => {
    lab = await natlabUp({ igd: 2 })
  })
  after(async () => {
    await lab?.down()
  })

  it('upnp: discovers IGDv2-IP2, reads the external IP, maps and deletes a TCP port', async () => {
    const r = await probeIn(lab.ns.lan, { spec: 'upnp', intPort: 31001 })
    assert.equal(r.mechanism, 'upnp')
    assert.match(r.description, /IGDv2-IP2/)
    assert.equal(r.gateway, NATLAB.gateway)
    assert.equal(r.externalIP, NATLAB.externalIP)
    assert.deepEqual(r.mappingTest, { ok: true, protocol: 'tcp', intPort: 31001, extPort: 31001 })
    const fw = await lab.forwards()
    assert.ok(!fw.some((f) => f.extPort === 31001), 'test mapping deleted')
  })

  it('upnp: maps UDP and leaves it in place when asked', async () => {
    const r = await probeIn(lab.ns.lan, {
      spec: 'upnp',
      protocol: 'udp',
      intPort: 31002,
      keepMapping: true,
      lifetimeSec: 30,
    })
    assert.equal(r.mappingTest.ok, true)
    const fw = await lab.forwards()
    assert.ok(fw.some((f) => f.proto === 'udp' && f.extPort === 31002 && f.to === `${NATLAB.lanIP}:31002`))
  })

  it('upnp: the router picks another port (AddAnyPortMapping) when lan2 holds ours', async () => {
    const holder = startIn(lab.ns.lan2, { op: 'hold', spec: 'upnp', intPort: 31003, lifetimeSec: 30 })
    try {
      const held = await holder.next<{ extPort: number }>((o) => o.event === 'mapped')
      assert.equal(held.extPort, 31003)
      const r = await probeIn(lab.ns.lan, {
        spec: 'upnp',
        intPort: 31003,
        keepMapping: true,
        lifetimeSec: 30,
      })
      assert.equal(r.mappingTest.ok, true)
      const ext = r.mappingTest.extPort!
      assert.notEqual(ext, 31003)
      const fw = await lab.forwards()
      assert.ok(
        fw.some((f) => f.extPort === 31003 && f.to === `${NATLAB.lan2IP}:31003`),
        'lan2 keeps its port',
      )
      assert.ok(
        fw.some((f) => f.extPort === ext && f.to === `${NATLAB.lanIP}:31003`),
        'ours on the other port',
      )
    } finally {
      await holder.stop()
    }
  })

  it('any: finds a router and reads the external IP', async () => {
    const r = await probeIn(lab.ns.lan, { spec: 'any', intPort: 31004 })
    assert.ok(r.mechanism === 'upnp' || r.mechanism === 'pmp', r.mechanism)
    assert.equal(r.externalIP, NATLAB.externalIP)
    assert.equal(r.mappingTest.ok, true)
  })

  it('stun:10.99.0.2:3478: external IP from the RFC 3489 server; no mapping', async () => {
    const r = await probeIn(lab.ns.lan, { spec: `stun:${NATLAB.stunServer}` })
    assert.equal(r.mechanism, 'stun')
    assert.equal(r.externalIP, NATLAB.externalIP)
    assert.equal(r.mappingTest.ok, false)
    assert.match(r.mappingTest.error ?? '', /does not map/)
  })
})

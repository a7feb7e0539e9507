import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { NATLAB, type NatLab, natlabSkipReason, natlabUp } from '../../helpers/natlab.js'
import { probeIn, startIn } from './common.js'

const skip = natlabSkipReason()

describe('natlab: UPnP IGD v1', { skip, timeout: 60_000 }, () => {
  let lab: NatLab
  before(async () => {
    lab = await natlabUp({ igd: 1 })
  })
  after(async () => {
    await lab?.down()
  })

  it('upnp: uses WANIPConnection:1 and maps the requested port', async () => {
    const r = await probeIn(lab.ns.lan, { spec: 'upnp', intPort: 32001 })
    assert.equal(r.mechanism, 'upnp')
    assert.match(r.description, /IGDv1-IP1/)
    assert.equal(r.externalIP, NATLAB.externalIP)
    assert.deepEqual(r.mappingTest, { ok: true, protocol: 'tcp', intPort: 32001, extPort: 32001 })
  })

  it('upnp: a conflict (718) moves the mapping to a random port', async () => {
    const holder = startIn(lab.ns.lan2, { op: 'hold', spec: 'upnp', intPort: 32002, lifetimeSec: 30 })
    try {
      await holder.next((o) => o.event === 'mapped')
      const r = await probeIn(lab.ns.lan, {
        spec: 'upnp',
        intPort: 32002,
        keepMapping: true,
        lifetimeSec: 30,
      })
      assert.equal(r.mappingTest.ok, true, r.mappingTest.error)
      const ext = r.mappingTest.extPort!
      assert.notEqual(ext, 32002)
      assert.ok(ext >= 10000 && ext < 65535, `random port ${ext}`)
      const fw = await lab.forwards()
      assert.ok(fw.some((f) => f.extPort === ext && f.to === `${NATLAB.lanIP}:32002`))
    } finally {
      await holder.stop()
    }
  })
})

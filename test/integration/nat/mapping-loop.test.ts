import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { NATLAB, type NatLab, natlabSkipReason, natlabUp } from '../../helpers/natlab.js'
import { connectFrom, pollUntil, startIn } from './common.js'

const skip = natlabSkipReason()

// Scaled-down timings: 2 s lifetimes refreshed every second.
const FAST = { lifetime: 2000, refresh: 1000, retryAfter: 1000, extIPInterval: 1000 }

describe('natlab: the port-mapping loop', { skip, timeout: 60_000 }, () => {
  let lab: NatLab
  before(async () => {
    lab = await natlabUp({ igd: 2 })
  })
  after(async () => {
    await lab?.down()
  })

  it('refresh keeps mappings alive past their lifetime; stop deletes them (UPnP TCP, NAT-PMP UDP)', async () => {
    const listener = startIn(lab.ns.lan, { op: 'listen', port: 34001 })
    const tcp = startIn(lab.ns.lan, { op: 'loop', spec: 'upnp', protocol: 'tcp', intPort: 34001, ...FAST })
    const udp = startIn(lab.ns.lan, { op: 'loop', spec: 'pmp', protocol: 'udp', intPort: 34002, ...FAST })
    try {
      await listener.next((o) => o.event === 'listening')
      const m1 = await tcp.next((o) => o.event === 'mapped')
      const m2 = await udp.next((o) => o.event === 'mapped')
      assert.deepEqual(m1, { event: 'mapped', ip: NATLAB.externalIP, extPort: 34001 })
      assert.deepEqual(m2, { event: 'mapped', ip: NATLAB.externalIP, extPort: 34002 })
      // For more than two lifetimes, both forwards must stay in place.
      const both = async (): Promise<boolean> => {
        const fw = await lab.forwards()
        return (
          fw.some((f) => f.proto === 'tcp' && f.extPort === 34001) &&
          fw.some((f) => f.proto === 'udp' && f.extPort === 34002)
        )
      }
      const lost = await pollUntil(async () => !(await both()), 4500, 250)
      assert.equal(lost, false, 'a mapping expired although refreshed')
      // Real traffic from the internet side reaches the LAN listener through the mapping.
      const c = await connectFrom(lab.ns.wan, NATLAB.externalIP, 34001)
      assert.deepEqual(c, { ok: true, data: 'hello from lan\n' })
      await tcp.stop()
      await udp.stop()
      const fw = await lab.forwards()
      assert.ok(!fw.some((f) => f.extPort === 34001 || f.extPort === 34002), 'deleted on stop')
      const c2 = await connectFrom(lab.ns.wan, NATLAB.externalIP, 34001)
      assert.equal(c2.ok, false)
    } finally {
      tcp.kill()
      udp.kill()
      await listener.stop()
    }
  })

  it('without refresh a mapping expires with its lifetime (UPnP and NAT-PMP)', async () => {
    const a = startIn(lab.ns.lan, {
      op: 'hold',
      spec: 'upnp',
      protocol: 'tcp',
      intPort: 34011,
      lifetimeSec: 2,
    })
    const b = startIn(lab.ns.lan, {
      op: 'hold',
      spec: 'pmp',
      protocol: 'udp',
      intPort: 34012,
      lifetimeSec: 2,
    })
    try {
      await a.next((o) => o.event === 'mapped')
      await b.next((o) => o.event === 'mapped')
      const fw = await lab.forwards()
      assert.ok(fw.some((f) => f.extPort === 34011) && fw.some((f) => f.extPort === 34012), 'mapped')
      const gone = await pollUntil(
        async () => {
          const now = await lab.forwards()
          return !now.some((f) => f.extPort === 34011 || f.extPort === 34012)
        },
        8000,
        250,
      )
      assert.equal(gone, true, 'mappings did not expire')
    } finally {
      await a.stop()
      await b.stop()
    }
  })

  it('keeps the alternative port the router chose across refreshes', async () => {
    const holder = startIn(lab.ns.lan2, { op: 'hold', spec: 'upnp', intPort: 34021, lifetimeSec: 30 })
    const loop = startIn(lab.ns.lan, { op: 'loop', spec: 'upnp', intPort: 34021, ...FAST })
    try {
      await holder.next((o) => o.event === 'mapped')
      const m = await loop.next<{ extPort: number }>((o) => o.event === 'mapped')
      assert.notEqual(m.extPort, 34021)
      // Over a few refreshes exactly one forward points at us, always on that port.
      const stable = await pollUntil(
        async () => {
          const ours = (await lab.forwards()).filter((f) => f.to === `${NATLAB.lanIP}:34021`)
          return !(ours.length === 1 && ours[0]!.extPort === m.extPort)
        },
        3000,
        250,
      )
      assert.equal(stable, false, 'the alternative port changed or was duplicated')
      await loop.stop()
      assert.ok(!(await lab.forwards()).some((f) => f.to === `${NATLAB.lanIP}:34021`), 'deleted on stop')
    } finally {
      loop.kill()
      await holder.stop()
    }
  })
})

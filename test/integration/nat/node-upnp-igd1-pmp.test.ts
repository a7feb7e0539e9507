import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { NATLAB, type NatLab, type NsProcess, natlabSkipReason, natlabUp } from '../../helpers/natlab.js'
import type { NsNode } from '../../helpers/natlab-cli.js'
import { startIn } from './common.js'
import { pingFromWan, startMappedNode, stopAndCheckUnmapped } from './node-e2e.js'

const skip = natlabSkipReason()

// `devp2p node` behind an IGD v1 router (no AddAnyPortMapping: a taken port moves to a random
// one) and through NAT-PMP, reached from the WAN namespace through the mappings.
describe('natlab e2e: devp2p node --nat upnp (IGD v1), pmp', { skip, timeout: 60_000 }, () => {
  let lab: NatLab
  const nodes: NsNode[] = []
  const holders: NsProcess[] = []
  before(async () => {
    lab = await natlabUp({ igd: 1, lifetimeSec: 90 })
  })
  after(async () => {
    for (const n of nodes) n.proc.kill()
    for (const h of holders) h.kill()
    await Promise.all([...nodes.map((n) => n.proc.exited), ...holders.map((h) => h.exited)])
    await lab?.down()
  })

  it('upnp (IGD v1): lan2 holds 30303, so the ENR carries the other ports the router gave; reachable there', async () => {
    // lan2 takes external port 30303 for TCP and UDP first.
    for (const protocol of ['tcp', 'udp'] as const) {
      const h = startIn(lab.ns.lan2, { op: 'hold', spec: 'upnp', protocol, intPort: 30303, lifetimeSec: 60 })
      holders.push(h)
    }
    for (const h of holders)
      assert.equal((await h.next<{ extPort: number }>((o) => o.event === 'mapped')).extPort, 30303)

    const name = 'natlab-upnp-igd1'
    const { node, record, enr, fw } = await startMappedNode(lab, {
      port: 30303,
      httpPort: 8545,
      nat: 'upnp',
      name,
    })
    nodes.push(node)
    assert.notEqual(fw.tcp.extPort, 30303, 'TCP moved off the held port')
    assert.notEqual(fw.udp.extPort, 30303, 'UDP moved off the held port')
    assert.match(node.proc.stderr(), /NAT mapped alternative port/)
    await pingFromWan(lab, node, enr, record, name)
    await stopAndCheckUnmapped(lab, node, 30303)
    // lan2's mappings are not ours to delete.
    const fw2 = await lab.forwards()
    for (const proto of ['tcp', 'udp'])
      assert.ok(
        fw2.some((f) => f.proto === proto && f.extPort === 30303 && f.to === `${NATLAB.lan2IP}:30303`),
      )
    for (const h of holders) await h.stop()
  })

  it('pmp: the ENR carries 10.99.0.1 and the NAT-PMP ports; discv4 and RLPx reach it from the WAN; stop unmaps', async () => {
    const name = 'natlab-pmp'
    const { node, record, enr, fw } = await startMappedNode(lab, {
      port: 30313,
      httpPort: 8546,
      nat: 'pmp',
      name,
    })
    nodes.push(node)
    assert.equal(fw.tcp.extPort, 30313)
    assert.equal(fw.udp.extPort, 30313)
    assert.match(node.proc.stderr(), /interface=NAT-PMP/)
    await pingFromWan(lab, node, enr, record, name)
    await stopAndCheckUnmapped(lab, node, 30313)
  })
})

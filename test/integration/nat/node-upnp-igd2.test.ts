import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { parseNode } from '../../../src/enode/index.js'
import { NATLAB, type NatLab, natlabSkipReason, natlabUp } from '../../helpers/natlab.js'
import { type NsNode, startNodeInNs } from '../../helpers/natlab-cli.js'
import { pingFromWan, startMappedNode, stopAndCheckUnmapped } from './node-e2e.js'

const skip = natlabSkipReason()

// `devp2p node` in the LAN namespace behind miniupnpd (IGD v2), reached from the WAN namespace.
describe('natlab e2e: devp2p node --nat upnp (IGD v2), extip, stun', { skip, timeout: 60_000 }, () => {
  let lab: NatLab
  const nodes: NsNode[] = []
  before(async () => {
    lab = await natlabUp({ igd: 2, lifetimeSec: 90 })
  })
  after(async () => {
    for (const n of nodes) n.proc.kill()
    await Promise.all(nodes.map((n) => n.proc.exited))
    await lab?.down()
  })

  it('upnp: the ENR carries 10.99.0.1 and the mapped ports; discv4 and RLPx reach it from the WAN; stop unmaps', async () => {
    const name = 'natlab-upnp-igd2'
    const { node, record, enr, fw } = await startMappedNode(lab, {
      port: 30303,
      httpPort: 8545,
      nat: 'upnp',
      name,
    })
    nodes.push(node)
    assert.equal(fw.tcp.extPort, 30303)
    assert.equal(fw.udp.extPort, 30303)
    assert.match(node.proc.stderr(), /NAT: mapped TCP port/)
    await pingFromWan(lab, node, enr, record, name)
    await stopAndCheckUnmapped(lab, node, 30303)
  })

  it('any: finds the router, maps, and is reachable from the WAN the same way', async () => {
    const name = 'natlab-any'
    const { node, record, enr } = await startMappedNode(lab, {
      port: 30306,
      httpPort: 8548,
      nat: 'any',
      name,
    })
    nodes.push(node)
    await pingFromWan(lab, node, enr, record, name)
    await stopAndCheckUnmapped(lab, node, 30306)
  })

  it('extip:10.99.0.1: the ENR has the static IP and the local ports, no mapping is made', async () => {
    const node = await startNodeInNs(lab.ns.lan, {
      port: 30304,
      httpPort: 8546,
      nat: `extip:${NATLAB.externalIP}`,
    })
    nodes.push(node)
    // Set during start-up, before anything is printed.
    const first = parseNode(node.started.enr)
    assert.equal(first.ip, NATLAB.externalIP)
    const { info, node: rec } = await node.waitRecord((n) => n.ip === NATLAB.externalIP)
    assert.equal(rec.tcp, 30304)
    assert.equal(rec.udp, 30304)
    assert.match(info.enode, /@10\.99\.0\.1:30304$/)
    assert.match(node.proc.stderr(), /NAT: static external IP .*ip=10\.99\.0\.1/)
    const fw = await lab.forwards()
    assert.deepEqual(
      fw.filter((f) => f.to.startsWith(`${NATLAB.lanIP}:`)),
      [],
      'extip maps nothing',
    )
    assert.equal(await node.proc.stop(), 0)
  })

  it(`stun:${NATLAB.stunServer}: the ENR gets the external IP from STUN, ports stay local, no mapping`, async () => {
    const node = await startNodeInNs(lab.ns.lan, {
      port: 30305,
      httpPort: 8547,
      nat: `stun:${NATLAB.stunServer}`,
    })
    nodes.push(node)
    const { info, node: rec } = await node.waitRecord((n) => n.ip === NATLAB.externalIP)
    assert.equal(rec.tcp, 30305)
    assert.equal(rec.udp, 30305)
    assert.equal(info.ip, NATLAB.externalIP)
    const fw = await lab.forwards()
    assert.deepEqual(
      fw.filter((f) => f.to.startsWith(`${NATLAB.lanIP}:`)),
      [],
      'STUN maps nothing',
    )
    assert.equal(await node.proc.stop(), 0)
  })
})

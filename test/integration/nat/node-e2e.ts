/**
 * Shared steps of the end-to-end NAT tests that run the real `devp2p node` in the lab's LAN
 * namespace: wait until its record carries the router's external IP and the ports the router
 * forwards to it, then reach it from the WAN namespace through those mappings with a discv4 ping
 * and an RLPx handshake, and check the mappings go away when the node stops.
 */
import assert from 'node:assert/strict'
import type { Node } from '../../../src/enode/index.js'
import { NATLAB, type NatLab } from '../../helpers/natlab.js'
import { type NsNode, runCliInNs, startNodeInNs } from '../../helpers/natlab-cli.js'

/** The WAN host's address (the "internet" side). */
export const WAN_IP = '10.99.0.2'

/** A router forwarding rule (see {@link NatLab.forwards}). */
export type Forward = Awaited<ReturnType<NatLab['forwards']>>[number]

/** The router's TCP and UDP forwards to `to` (`ip:port`), once both exist (bounded). */
export async function forwardsTo(
  lab: NatLab,
  to: string,
  timeoutMs = 10_000,
): Promise<{ tcp: Forward; udp: Forward }> {
  const until = Date.now() + timeoutMs
  for (;;) {
    const fw = await lab.forwards()
    const tcp = fw.find((f) => f.proto === 'tcp' && f.to === to)
    const udp = fw.find((f) => f.proto === 'udp' && f.to === to)
    if (tcp && udp) return { tcp, udp }
    if (Date.now() > until) throw new Error(`router has no tcp+udp forwards to ${to}: ${JSON.stringify(fw)}`)
    await new Promise((r) => setTimeout(r, 200))
  }
}

/**
 * Start `devp2p node --nat <spec>` in the LAN namespace, wait until the router forwards a TCP and
 * a UDP port to it and its record (`admin_nodeInfo`) carries the external IP and exactly those
 * ports. Returns the node, its record and the forwards.
 */
export async function startMappedNode(
  lab: NatLab,
  o: { port: number; httpPort: number; nat: string; name: string },
): Promise<{ node: NsNode; record: Node; enr: string; fw: { tcp: Forward; udp: Forward } }> {
  const node = await startNodeInNs(lab.ns.lan, o)
  // Printed at once, before the mapping: the record still has the fallback address.
  assert.equal(node.started.tcp, o.port)
  const fw = await forwardsTo(lab, `${NATLAB.lanIP}:${o.port}`)
  const { info, node: record } = await node.waitRecord(
    (n) => n.ip === NATLAB.externalIP && n.tcp === fw.tcp.extPort && n.udp === fw.udp.extPort,
  )
  assert.equal(info.id, node.started.id)
  assert.equal(info.ip, NATLAB.externalIP)
  assert.deepEqual(info.ports, { discovery: o.port, listener: o.port }, 'bound ports stay local')
  return { node, record, enr: info.enr, fw }
}

/**
 * From the WAN namespace: `devp2p discv4 ping <enr>` and `devp2p rlpx ping <enr>` to the node's
 * external endpoint, both answered by the node in the LAN through the router's mappings.
 */
export async function pingFromWan(
  lab: NatLab,
  node: NsNode,
  enr: string,
  record: Node,
  name: string,
): Promise<void> {
  const [d4, rlpx] = await Promise.all([
    runCliInNs(
      lab.ns.wan,
      ['--json', 'discv4', 'ping', enr, '--addr', `${WAN_IP}:0`, '--timeout', '2s'],
      15_000,
    ),
    runCliInNs(lab.ns.wan, ['--json', 'rlpx', 'ping', enr, '--timeout', '5000'], 15_000),
  ])
  assert.equal(d4.code, 0, `discv4 ping failed: ${d4.stderr}`)
  const pong = d4.json as { id: string; addr: string; observed: { ip: string; port: number } | null }
  assert.equal(pong.id, node.started.id)
  assert.equal(pong.addr, `${NATLAB.externalIP}:${record.udp}`)
  // The router rewrites only the destination: the node sees the WAN host's own address.
  assert.equal(pong.observed?.ip, WAN_IP)

  assert.equal(rlpx.code, 0, `rlpx ping failed: ${rlpx.stderr}`)
  const hello = rlpx.json as { id: string; publicKey: string; name: string; version: number }
  assert.equal(hello.id, node.started.id)
  assert.equal(hello.name, name, 'the Hello is the node’s own')
  assert.equal(`enode://${hello.publicKey}`, node.started.enode.split('@')[0])
  assert.equal(hello.version, 5)
  // The node logged the inbound peer, coming from the WAN host through the NAT.
  await node.proc.waitStderr(new RegExp(`peer joined .*remote=${WAN_IP.replaceAll('.', '\\.')}:`), 5000)
}

/** Stop the node (SIGTERM) and check that the router's forwards to it are gone. */
export async function stopAndCheckUnmapped(lab: NatLab, node: NsNode, port: number): Promise<void> {
  const code = await node.proc.stop(15_000)
  assert.equal(code, 0, `node exit code; stderr:\n${node.proc.stderr().slice(-2000)}`)
  assert.match(node.proc.stderr(), /Deleting port mapping/)
  const left = (await lab.forwards()).filter((f) => f.to === `${NATLAB.lanIP}:${port}`)
  assert.deepEqual(left, [], 'the node deleted its mappings on stop')
}

import assert from 'node:assert/strict'
import { after, describe, it } from 'node:test'
import { Server } from '../../../src/p2p/server.js'
import { echoProtocol, nodeKey, until } from '../../helpers/p2p.js'

const servers: Server[] = []
after(async () => {
  await Promise.all(servers.map((s) => s.stop()))
})

describe('Server with discv4', () => {
  it('nodes find each other through a bootnode and connect over RLPx', async () => {
    const boot = await Server.start({
      privateKey: nodeKey(),
      listenAddr: '127.0.0.1:0',
      maxPeers: 0,
      protocols: [echoProtocol()],
    })
    servers.push(boot)
    const bootNode = boot.self()
    assert.ok(bootNode.udp > 0 && bootNode.ip === '127.0.0.1', bootNode.toEnodeUrl())
    const nodes: Server[] = []
    for (let i = 0; i < 4; i++) {
      const s = await Server.start({
        privateKey: nodeKey(),
        listenAddr: '127.0.0.1:0',
        bootnodes: [bootNode],
        maxPeers: 10,
        protocols: [echoProtocol()],
      })
      servers.push(s)
      nodes.push(s)
    }
    await until(() => nodes.every((s) => s.tableSize() >= 4), 20_000, 'tables filled')
    await until(() => nodes.every((s) => s.peerCount() >= 2), 30_000, 'peers connected')
    for (const s of nodes) {
      const info = s.nodeInfo()
      assert.equal(info.ports.listener, s.port)
      assert.equal(info.ports.discovery, s.discoveryPort)
      assert.ok(info.enr.startsWith('enr:'))
      for (const p of s.peersInfo()) assert.deepEqual(p.caps, ['test/1'])
    }
  })
})

/**
 * Interoperability with an independent implementation: @ethereumjs/devp2p's DPT on 127.0.0.1.
 * It bonds with us, finds nodes through us, and we through it. DPT does not implement EIP-868
 * (it reports "Invalid type: 5" for an ENRRequest), so our request times out and DPT keeps
 * working. Every wait is bounded; everything is closed in `after`.
 */
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { DPT } from '@ethereumjs/devp2p'
import { generatePrivateKey, publicKeyFromPrivate } from '../../../src/crypto/index.js'
import { Discv4, listenUdp } from '../../../src/discv4/index.js'
import { Node } from '../../../src/enode/index.js'
import { TimeoutError } from '../../../src/util/index.js'

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))

async function until(cond: () => boolean, ms: number, step: () => void = () => {}): Promise<boolean> {
  const end = Date.now() + ms
  while (Date.now() < end) {
    if (cond()) return true
    step()
    await sleep(100)
  }
  return cond()
}

async function freePort(): Promise<number> {
  const c = await listenUdp({ host: '127.0.0.1', port: 0 })
  const p = c.localAddress().port
  c.close()
  return p
}

describe('interop with @ethereumjs/devp2p DPT', { timeout: 60_000 }, () => {
  const ours: Discv4[] = []
  let dpt: DPT
  let dptNode: Node
  const dptErrors: string[] = []

  before(async () => {
    for (let i = 0; i < 2; i++)
      ours.push(
        await Discv4.start({
          privateKey: generatePrivateKey(),
          conn: await listenUdp({ host: '127.0.0.1', port: 0 }),
        }),
      )
    const key = generatePrivateKey()
    const port = await freePort()
    dpt = new DPT(key, {
      endpoint: { address: '127.0.0.1', udpPort: port, tcpPort: null },
      refreshInterval: 2000,
      timeout: 2000,
    })
    dpt.events.on('error', (e: Error) => dptErrors.push(e.message))
    const listening = new Promise((r) => dpt.events.once('listening', () => r(undefined)))
    dpt.bind(port, '127.0.0.1')
    await listening
    dptNode = Node.fromPublicKey(publicKeyFromPrivate(key), { ip: '127.0.0.1', udp: port })
  })
  after(() => {
    dpt?.destroy()
    for (const n of ours) n.close()
  })

  it('DPT bonds with us: its Ping gets our Pong, we ping it back and add it', async () => {
    const [a] = ours as [Discv4]
    const peer = await dpt.addPeer({ address: '127.0.0.1', udpPort: a.localAddress().port, tcpPort: null })
    assert.equal(Buffer.from(peer.id!).toString('hex'), Buffer.from(a.self().publicKey).toString('hex'))
    assert.ok(await until(() => a.tableNodes().some((n) => n.idHex === dptNode.idHex), 5000))
  })

  it('DPT finds nodes through us (its FindNeighbours gets our Neighbors)', async () => {
    const [a, b] = ours as [Discv4, Discv4]
    await b.ping(a.self()) // a learns b
    assert.ok(await until(() => a.tableNodes().some((n) => n.idHex === b.self().idHex), 3000))
    const bHex = Buffer.from(b.self().publicKey).toString('hex')
    const hasB = (): boolean => dpt.getPeers().some((p) => Buffer.from(p.id!).toString('hex') === bHex)
    assert.ok(await until(hasB, 15_000, () => void dpt.refresh()), 'DPT learned our second node from us')
  })

  it('we find nodes through DPT: FindNode and a lookup seeded only with DPT', async () => {
    const [a, b] = ours as [Discv4, Discv4]
    const found = await a.findNode(dptNode, publicKeyFromPrivate(generatePrivateKey()))
    assert.ok(found.some((n) => n.idHex === b.self().idHex))
    const c = await Discv4.start({
      privateKey: generatePrivateKey(),
      conn: await listenUdp({ host: '127.0.0.1', port: 0 }),
      bootnodes: [dptNode],
    })
    ours.push(c)
    const res = await c.lookup(c.self().publicKey)
    const ids = new Set(res.map((n) => n.idHex))
    assert.ok(ids.has(dptNode.idHex))
    assert.ok(ids.has(a.self().idHex) || ids.has(b.self().idHex), 'learned our nodes through DPT')
  })

  it('ENR request: DPT has no EIP-868, so it times out and DPT keeps answering', async () => {
    const [a] = ours as [Discv4]
    await assert.rejects(a.requestENR(dptNode), TimeoutError)
    assert.ok(dptErrors.some((m) => m.includes('Invalid type: 5')))
    const pong = await a.ping(dptNode)
    assert.equal(pong.seq, 0n, 'DPT sends no enr-seq')
  })
})

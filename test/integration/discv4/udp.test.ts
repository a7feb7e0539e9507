/** Real UDP sockets on 127.0.0.1: the listenUdp adapter, and our nodes talking over it. */
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { generatePrivateKey } from '../../../src/crypto/index.js'
import { Discv4, listenUdp, type PacketConn, type UdpAddress } from '../../../src/discv4/index.js'

function nextPacket(conn: PacketConn, ms = 2000): Promise<{ bytes: Uint8Array; from: UdpAddress }> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error('no datagram')), ms)
    conn.onPacket((bytes, from) => {
      clearTimeout(t)
      resolve({ bytes, from })
    })
  })
}

describe('listenUdp', () => {
  it('binds exactly the given address, exchanges datagrams, drops oversized ones, closes idempotently', async () => {
    const a = await listenUdp({ host: '127.0.0.1', port: 0 })
    const b = await listenUdp({ host: '127.0.0.1', port: 0 })
    try {
      assert.equal(a.localAddress().ip, '127.0.0.1')
      assert.ok(a.localAddress().port > 0)
      await assert.rejects(listenUdp({ host: '127.0.0.1', port: a.localAddress().port }))
      const got = nextPacket(b)
      a.send(new Uint8Array(1281), '127.0.0.1', b.localAddress().port) // over 1280: dropped
      a.send(Uint8Array.of(1, 2, 3), '127.0.0.1', b.localAddress().port)
      const { bytes, from } = await got
      assert.deepEqual([...bytes], [1, 2, 3])
      assert.deepEqual(from, a.localAddress())
      a.send(Uint8Array.of(1), '127.0.0.1', 0) // refused synchronously by Node: logged, not thrown
    } finally {
      a.close()
      a.close()
      b.close()
    }
    await assert.rejects(listenUdp({ host: 'localhost', port: 0 }), RangeError)
    await assert.rejects(listenUdp({ host: '127.0.0.1', port: 0, signal: AbortSignal.abort() }))
  })
})

describe('Discv4 over real UDP', () => {
  const nodes: Discv4[] = []
  before(async () => {
    for (let i = 0; i < 3; i++)
      nodes.push(
        await Discv4.start({
          privateKey: generatePrivateKey(),
          conn: await listenUdp({ host: '127.0.0.1', port: 0 }),
        }),
      )
  })
  after(() => {
    for (const n of nodes) n.close()
  })

  it('ping, requestENR, findNode and lookup between our own nodes', async () => {
    const [a, b, c] = nodes as [Discv4, Discv4, Discv4]
    const pong = await a.ping(b.self())
    assert.equal(pong.seq, b.self().seq)
    assert.deepEqual(pong.observed, a.localAddress())
    const rec = await a.requestENR(b.self())
    assert.equal(rec.idHex, b.self().idHex)
    assert.equal(rec.udp, b.localAddress().port)
    await c.ping(b.self()) // b learns c
    await new Promise((r) => setTimeout(r, 50))
    const found = await a.findNode(b.self(), c.self().publicKey)
    assert.ok(found.some((n) => n.idHex === c.self().idHex))
    const res = await a.lookup(c.self().publicKey)
    assert.equal(res[0]?.idHex, c.self().idHex)
  })
})

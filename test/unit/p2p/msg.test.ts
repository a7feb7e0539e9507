import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { BoundedQueue, expectMsg, msgPipe, send, UnexpectedMsgError } from '../../../src/p2p/msg.js'
import { PeerClosedError } from '../../../src/p2p/peer-error.js'
import { AbortError, flushMicrotasks } from '../../../src/util/index.js'

describe('BoundedQueue', () => {
  it('delivers in order and blocks pushers while full', async () => {
    const q = new BoundedQueue<number>(2)
    await q.push(1)
    await q.push(2)
    let third = false
    const p3 = q.push(3).then(() => (third = true))
    await flushMicrotasks()
    assert.equal(third, false, 'push waits while full')
    assert.equal(q.length, 2)
    assert.equal(await q.shift(), 1)
    await p3
    assert.equal(third, true)
    assert.equal(await q.shift(), 2)
    assert.equal(await q.shift(), 3)
    assert.equal(q.length, 0)
  })
  it('hands items straight to waiting takers, in call order', async () => {
    const q = new BoundedQueue<string>(1)
    const a = q.shift()
    const b = q.shift()
    await q.push('x')
    await q.push('y')
    assert.deepEqual(await Promise.all([a, b]), ['x', 'y'])
  })
  it('aborts a waiting shift and push without losing items', async () => {
    const q = new BoundedQueue<number>(1)
    const ac = new AbortController()
    const s = q.shift(ac.signal)
    ac.abort()
    await assert.rejects(s, AbortError)
    await q.push(1)
    const ac2 = new AbortController()
    const p = q.push(2, ac2.signal)
    ac2.abort()
    await assert.rejects(p, AbortError)
    assert.equal(await q.shift(), 1)
    assert.equal(q.length, 0, 'the aborted push left nothing behind')
  })
  it('close fails waiters and later calls', async () => {
    const q = new BoundedQueue<number>(1)
    const s = q.shift()
    const err = new Error('gone')
    q.close(err)
    await assert.rejects(s, /gone/)
    await assert.rejects(q.push(1), /gone/)
    await assert.rejects(q.shift(), /gone/)
  })
  it('rejects a zero capacity', () => {
    assert.throws(() => new BoundedQueue(0), RangeError)
  })
})

describe('msgPipe', () => {
  it('carries messages both ways; a write resolves when read', async () => {
    const [a, b] = msgPipe()
    let written = false
    const w = send(a, 5, [Uint8Array.of(1), Uint8Array.of(2)]).then(() => (written = true))
    await flushMicrotasks()
    assert.equal(written, false)
    const m = await expectMsg(b, 5, [Uint8Array.of(1), Uint8Array.of(2)])
    assert.equal(m.payload.length, 3)
    await w
    assert.equal(written, true)
    const w2 = b.writeMsg(7, Uint8Array.of(0xc0))
    await expectMsg(a, 7, Uint8Array.of(0xc0))
    await w2
  })
  it('many concurrent writers all get through in order', async () => {
    const [a, b] = msgPipe()
    const writes = Array.from({ length: 20 }, (_, i) => a.writeMsg(i, Uint8Array.of(i)))
    for (let i = 0; i < 20; i++) await expectMsg(b, i, Uint8Array.of(i))
    await Promise.all(writes)
  })
  it('expectMsg reports code and payload mismatches', async () => {
    const [a, b] = msgPipe()
    void a.writeMsg(1, Uint8Array.of(0x80))
    await assert.rejects(expectMsg(b, 2), UnexpectedMsgError)
    void a.writeMsg(1, Uint8Array.of(0x80))
    await assert.rejects(expectMsg(b, 1, Uint8Array.of(0x81, 0x05)), /payload mismatch/)
  })
  it('close unblocks both ends', async () => {
    const [a, b] = msgPipe()
    const r = b.readMsg()
    const w = a.writeMsg(1, Uint8Array.of(1))
    await r
    await w
    const r2 = a.readMsg()
    a.close()
    await assert.rejects(r2, PeerClosedError)
    await assert.rejects(a.writeMsg(1, Uint8Array.of(1)), PeerClosedError)
    const [c, d] = msgPipe()
    const pending = c.writeMsg(1, Uint8Array.of(1))
    d.close()
    await assert.rejects(pending, PeerClosedError)
  })
})

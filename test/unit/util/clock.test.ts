import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { AbortError, SimulatedClock, TimeoutError, withTimeout } from '../../../src/util/index.js'

describe('SimulatedClock', () => {
  it('fires timers in deadline order, ties in creation order', async () => {
    const c = new SimulatedClock(0)
    const seen: string[] = []
    c.setTimeout(() => seen.push('b'), 20)
    c.setTimeout(() => seen.push('a'), 10)
    c.setTimeout(() => seen.push('c'), 20)
    await c.advance(15)
    assert.deepEqual(seen, ['a'])
    assert.equal(c.now(), 15)
    await c.advance(5)
    assert.deepEqual(seen, ['a', 'b', 'c'])
    assert.equal(c.pendingTimers, 0)
  })
  it('runs intervals and fires timers created while advancing', async () => {
    const c = new SimulatedClock(0)
    let n = 0
    const iv = c.setInterval(() => n++, 10)
    c.setTimeout(() => c.setTimeout(() => (n += 100), 5), 12)
    await c.advance(35)
    assert.equal(n, 103)
    iv.cancel()
    assert.equal(c.pendingTimers, 0)
  })
  it('sleep resolves on advance and rejects on abort', async () => {
    const c = new SimulatedClock(0)
    let done = false
    const p = c.sleep(100).then(() => (done = true))
    await c.advance(99)
    assert.equal(done, false)
    await c.advance(1)
    await p
    assert.equal(done, true)
    const ac = new AbortController()
    const q = c.sleep(100, ac.signal)
    ac.abort()
    await assert.rejects(q, AbortError)
    assert.equal(c.pendingTimers, 0)
  })
  it('withTimeout rejects with TimeoutError and cleans up', async () => {
    const c = new SimulatedClock(0)
    const p = withTimeout(c, 50, 'test op', undefined, () => new Promise<void>(() => {}))
    await c.advance(50)
    await assert.rejects(p, (e: unknown) => e instanceof TimeoutError && e.timeoutMs === 50)
    assert.equal(c.pendingTimers, 0)
    const ok = await withTimeout(c, 50, 'fast', undefined, async () => 7)
    assert.equal(ok, 7)
    assert.equal(c.pendingTimers, 0)
  })
})

import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import {
  AbortError,
  SimulatedClock,
  systemClock,
  TimeoutError,
  TimerQueue,
  withTimeout,
} from '../../../src/util/index.js'

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

/** A TimerQueue on a hand-driven host: `advance(ms)` moves time and fires the host timer when due. */
function queueOnFakeHost() {
  let now = 0
  let armed: { fire: () => void; at: number } | undefined
  const errors: unknown[] = []
  const arms: number[] = []
  const q = new TimerQueue({
    now: () => now,
    arm(fire, ms) {
      arms.push(ms)
      armed = { fire, at: now + ms }
    },
    disarm() {
      armed = undefined
    },
    error(err) {
      errors.push(err)
    },
  })
  return {
    q,
    errors,
    arms,
    get armedAt() {
      return armed?.at
    },
    /** Move time by `ms`, firing the host timer at each time it is armed for (as Node would). */
    advance(ms: number): void {
      const end = now + ms
      while (armed !== undefined && armed.at <= end) {
        const a = armed
        armed = undefined
        now = Math.max(now, a.at)
        a.fire()
      }
      now = end
    },
  }
}

describe('TimerQueue (the system clock timers)', () => {
  it('fires in deadline order, ties in creation order, never early', () => {
    const h = queueOnFakeHost()
    const got: string[] = []
    h.q.add((x) => got.push(String(x)), 'b30', 30)
    h.q.add((x) => got.push(String(x)), 'a10', 10)
    h.q.add((x) => got.push(String(x)), 'c30', 30)
    h.q.add((x) => got.push(String(x)), 'd0', 0)
    assert.equal(h.q.size, 4)
    h.advance(9.5)
    assert.deepEqual(got, ['d0'])
    h.advance(0.5)
    assert.deepEqual(got, ['d0', 'a10'])
    h.advance(19.999)
    assert.deepEqual(got, ['d0', 'a10'])
    h.advance(0.001)
    assert.deepEqual(got, ['d0', 'a10', 'b30', 'c30'])
    assert.equal(h.q.size, 0)
    assert.equal(h.armedAt, undefined, 'nothing pending: the host timer is disarmed')
  })

  it('cancel removes a timer anywhere in the heap, and is idempotent', () => {
    const h = queueOnFakeHost()
    const got: number[] = []
    const timers = Array.from({ length: 50 }, (_, i) =>
      h.q.add((x) => got.push(x as number), i, (i * 37) % 50),
    )
    for (let i = 0; i < 50; i += 3) timers[i]!.cancel()
    timers[0]!.cancel()
    h.advance(100)
    const want = Array.from({ length: 50 }, (_, i) => i)
      .filter((i) => i % 3 !== 0)
      .sort((a, b) => ((a * 37) % 50) - ((b * 37) % 50) || a - b)
    assert.deepEqual(got, want)
    timers[1]!.cancel() // already fired: a no-op
    assert.equal(h.q.size, 0)
  })

  it('runs intervals every period until cancelled, also from inside their callback', () => {
    const h = queueOnFakeHost()
    let n = 0
    const t = h.q.add(
      () => {
        n++
        if (n === 3) t.cancel()
      },
      undefined,
      15,
      15,
    )
    h.advance(14)
    assert.equal(n, 0)
    h.advance(1)
    assert.equal(n, 1)
    h.advance(100)
    assert.equal(n, 3)
    assert.equal(h.q.size, 0)
  })

  it('a timer created by a callback waits for the next pass, even with a zero delay', () => {
    const h = queueOnFakeHost()
    const got: string[] = []
    h.q.add(
      () => {
        got.push('first')
        h.q.add(() => got.push('zero-delay child'), undefined, 0)
      },
      undefined,
      5,
    )
    h.q.add(() => got.push('second'), undefined, 5)
    h.advance(5)
    // Both due timers ran in the first pass; the child ran on the next host wake-up.
    assert.deepEqual(got, ['first', 'second', 'zero-delay child'])
  })

  it('re-arms the host timer only for an earlier deadline; a callback that throws is reported and the rest still run', () => {
    const h = queueOnFakeHost()
    h.q.add(() => {}, undefined, 1_000)
    h.q.add(() => {}, undefined, 2_000)
    assert.deepEqual(h.arms, [1_000])
    h.q.add(() => {}, undefined, 10)
    assert.deepEqual(h.arms, [1_000, 10])
    const got: string[] = []
    h.q.add(
      () => {
        throw new Error('boom')
      },
      undefined,
      20,
    )
    h.q.add(() => got.push('after the throw'), undefined, 20)
    h.advance(20)
    assert.equal(h.errors.length, 1)
    assert.match(String(h.errors[0]), /boom/)
    assert.deepEqual(got, ['after the throw'])
    assert.equal(h.armedAt, 1_000)
  })

  it('an early host wake-up (head cancelled) finds nothing due and re-arms for the next', () => {
    const h = queueOnFakeHost()
    const head = h.q.add(() => {}, undefined, 5)
    let fired = false
    h.q.add(
      () => {
        fired = true
      },
      undefined,
      50,
    )
    head.cancel()
    h.advance(5)
    assert.equal(fired, false)
    assert.equal(h.armedAt, 50)
    h.advance(45)
    assert.equal(fired, true)
  })

  it('the system clock passes its argument to the callback', async () => {
    const got = await new Promise<string>((resolve) => {
      systemClock.setTimeout((x: string) => resolve(x), 0, 'arg')
    })
    assert.equal(got, 'arg')
  })
})

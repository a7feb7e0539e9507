import assert from 'node:assert/strict'
import { getEventListeners } from 'node:events'
import { describe, it } from 'node:test'
import fc from 'fast-check'
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

/** How a promise has settled so far (read after {@link flushMicrotasks}). */
interface Settled<T> {
  state: 'pending' | 'resolved' | 'rejected'
  value?: T
  error?: unknown
}
function track<T>(p: Promise<T>): Settled<T> {
  const s: Settled<T> = { state: 'pending' }
  p.then(
    (value) => {
      s.state = 'resolved'
      s.value = value
    },
    (error: unknown) => {
      s.state = 'rejected'
      s.error = error
    },
  )
  return s
}
const abortListeners = (s: AbortSignal): number => getEventListeners(s, 'abort').length

describe('BoundedQueue: waiting takers (the first held inline, the rest behind it)', () => {
  it('serves several concurrent takers in call order, newcomers behind those already waiting', async () => {
    const q = new BoundedQueue<number>(1)
    const ac = new AbortController()
    const t = [q.shift(), q.shift(ac.signal), q.shift(), q.shift()].map(track)
    assert.equal(q.tryPush(1), true)
    assert.equal(q.tryPush(2), true)
    // Two served; two more arrive behind the two still waiting.
    t.push(track(q.shift(ac.signal)), track(q.shift()))
    for (let v = 3; v <= 6; v++) assert.equal(q.tryPush(v), true)
    await flushMicrotasks()
    assert.deepEqual(
      t.map((x) => x.value),
      [1, 2, 3, 4, 5, 6],
    )
    assert.equal(q.length, 0, 'every item went to a taker')
    assert.equal(q.tryPush(7), true)
    assert.equal(q.length, 1, 'no taker left behind: the next item is queued')
    assert.equal(abortListeners(ac.signal), 0)
  })

  for (const [where, i] of [
    ['first', 0],
    ['middle', 1],
    ['last', 3],
  ] as const) {
    it(`aborting the ${where} of four waiting takers removes exactly that one`, async () => {
      const q = new BoundedQueue<string>(4)
      const acs = [0, 1, 2, 3].map(() => new AbortController())
      const t = acs.map((ac) => track(q.shift(ac.signal)))
      acs[i]!.abort()
      await flushMicrotasks()
      assert.equal(t[i]!.state, 'rejected')
      assert.ok(t[i]!.error instanceof AbortError)
      assert.equal(abortListeners(acs[i]!.signal), 0)
      for (const v of ['a', 'b', 'c', 'd']) assert.equal(q.tryPush(v), true)
      await flushMicrotasks()
      const others = t.filter((_, j) => j !== i)
      assert.deepEqual(
        others.map((x) => x.value),
        ['a', 'b', 'c'],
        'the others are served in order',
      )
      assert.equal(q.length, 1, "the aborted taker's turn did not swallow an item")
      assert.equal(await q.shift(), 'd')
      for (const ac of acs) assert.equal(abortListeners(ac.signal), 0)
    })
  }

  it('when the first taker aborts, the next waiting one becomes first, and so on', async () => {
    const q = new BoundedQueue<number>(1)
    const a = new AbortController()
    const b = new AbortController()
    const ta = track(q.shift(a.signal))
    const tb = track(q.shift(b.signal))
    const tc = track(q.shift())
    a.abort()
    b.abort()
    const td = track(q.shift())
    assert.equal(q.tryPush(1), true)
    assert.equal(q.tryPush(2), true)
    await flushMicrotasks()
    assert.deepEqual([ta.state, tb.state], ['rejected', 'rejected'])
    assert.deepEqual([tc.value, td.value], [1, 2])
  })

  it('a signal shared by several takers fails all of them when it aborts', async () => {
    const q = new BoundedQueue<number>(1)
    const ac = new AbortController()
    const t = [q.shift(ac.signal), q.shift(), q.shift(ac.signal), q.shift(ac.signal)].map(track)
    assert.equal(abortListeners(ac.signal), 3)
    ac.abort()
    assert.equal(abortListeners(ac.signal), 0)
    assert.equal(q.tryPush(1), true)
    assert.equal(q.tryPush(2), true)
    await flushMicrotasks()
    assert.deepEqual(
      t.map((x) => x.state),
      ['rejected', 'resolved', 'rejected', 'rejected'],
    )
    assert.equal(t[1]!.value, 1)
    assert.equal(q.length, 1)
  })

  it('close fails the first taker, those behind it and the pushers, with the reason, in order', async () => {
    const q = new BoundedQueue<number>(1)
    const ac = new AbortController()
    const order: number[] = []
    const t = [q.shift(ac.signal), q.shift(), q.shift(ac.signal)].map((p, i) =>
      p.catch((e: unknown) => {
        order.push(i)
        throw e
      }),
    )
    const err = new Error('gone')
    q.close(err)
    for (const p of t) await assert.rejects(p, (e) => e === err)
    assert.deepEqual(order, [0, 1, 2])
    assert.equal(abortListeners(ac.signal), 0)
    await assert.rejects(q.shift(), (e) => e === err)

    const q2 = new BoundedQueue<number>(1)
    await q2.push(1)
    const pushes = [q2.push(2, ac.signal), q2.push(3)]
    q2.close(err)
    for (const p of pushes) await assert.rejects(p, (e) => e === err)
    assert.equal(abortListeners(ac.signal), 0)
    assert.equal(await q2.shift(), 1, 'queued items can still be taken')
    await assert.rejects(q2.shift(), (e) => e === err)
  })

  it('a taker leaves no abort listener behind once served, whichever place it waited in', async () => {
    const q = new BoundedQueue<number>(1)
    const signals = [0, 1, 2].map(() => new AbortController().signal)
    const t = signals.map((s) => q.shift(s))
    assert.deepEqual(signals.map(abortListeners), [1, 1, 1])
    assert.equal(q.tryPush(1), true)
    assert.deepEqual(signals.map(abortListeners), [0, 1, 1], 'the first, held inline')
    await q.push(2)
    assert.deepEqual(signals.map(abortListeners), [0, 0, 1], 'the one that moved up')
    await q.push(3)
    assert.deepEqual(signals.map(abortListeners), [0, 0, 0], 'the last')
    assert.deepEqual(await Promise.all(t), [1, 2, 3])
  })

  it('a pusher leaves no abort listener behind once its item is taken', async () => {
    const q = new BoundedQueue<number>(1)
    const ac = new AbortController()
    await q.push(1)
    const p2 = q.push(2, ac.signal)
    const p3 = q.push(3, ac.signal)
    assert.equal(abortListeners(ac.signal), 2)
    assert.equal(await q.shift(), 1)
    await p2
    assert.equal(abortListeners(ac.signal), 1)
    assert.equal(await q.shift(), 2)
    await p3
    assert.equal(abortListeners(ac.signal), 0)
    assert.equal(await q.shift(), 3)
  })

  it('aborting a waiting pusher in the middle keeps the others in order', async () => {
    const q = new BoundedQueue<number>(1)
    await q.push(1)
    const ac = new AbortController()
    const p = [track(q.push(2)), track(q.push(3, ac.signal)), track(q.push(4))]
    ac.abort()
    assert.deepEqual([await q.shift(), await q.shift(), await q.shift()], [1, 2, 4])
    await flushMicrotasks()
    assert.deepEqual(
      p.map((x) => x.state),
      ['resolved', 'rejected', 'resolved'],
    )
    assert.equal(q.length, 0)
  })

  it('a shift or push with an already aborted signal fails at once and takes or adds nothing', async () => {
    const q = new BoundedQueue<number>(1)
    const aborted = AbortSignal.abort()
    await assert.rejects(q.shift(aborted), AbortError)
    assert.equal(q.tryPush(1), true)
    assert.equal(q.length, 1, 'the item was queued, not handed to the failed shift')
    await assert.rejects(q.push(2, aborted), AbortError)
    assert.equal(await q.shift(), 1)
    assert.equal(q.length, 0, 'the failed push added nothing')
    assert.equal(await q.shift(aborted).catch(() => 'none'), 'none')
    await q.push(3)
    assert.equal(await q.shift(aborted), 3, 'a queued item is taken even when the signal has aborted')
  })

  it('close(undefined) closes too', async () => {
    const q = new BoundedQueue<number>(1)
    const s = track(q.shift())
    q.close(undefined)
    assert.equal(q.isClosed, true)
    await flushMicrotasks()
    assert.equal(s.state, 'rejected')
    assert.equal(s.error, undefined)
    assert.equal(q.tryPush(1), false)
    await assert.rejects(q.push(1), (e) => e === undefined)
  })

  it('matches a plain FIFO model under random shifts, pushes, aborts and a close', async () => {
    type Op =
      | { kind: 'shift'; signal: number }
      | { kind: 'push'; signal: number }
      | { kind: 'tryPush' }
      | { kind: 'abort'; signal: number }
    // signal: an index into a few AbortControllers (shared by several calls), or -1 for none.
    const sig = fc.integer({ min: -1, max: 2 })
    const op: fc.Arbitrary<Op> = fc.oneof(
      fc.record({ kind: fc.constant('shift' as const), signal: sig }),
      fc.record({ kind: fc.constant('push' as const), signal: sig }),
      fc.record({ kind: fc.constant('tryPush' as const) }),
      fc.record({ kind: fc.constant('abort' as const), signal: fc.integer({ min: 0, max: 2 }) }),
    )
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 3 }),
        fc.array(op, { maxLength: 40 }),
        fc.boolean(),
        async (capacity, ops, drop) => {
          const q = new BoundedQueue<number>(capacity)
          const acs = [0, 1, 2].map(() => new AbortController())
          const signalOf = (i: number): AbortSignal | undefined => (i < 0 ? undefined : acs[i]!.signal)
          // The model: what each call should come to.
          type Want = { state: 'pending' | 'resolved' | 'rejected'; value?: number; why?: 'abort' | 'closed' }
          interface Wait {
            want: Want
            signal: number
            item: number
          }
          const items: number[] = []
          let takers: Wait[] = []
          let pushers: Wait[] = []
          const got: Settled<unknown>[] = []
          const wants: Want[] = []
          const reason = new Error('closed')
          let next = 0
          const call = <T>(p: Promise<T>, want: Want): void => {
            got.push(track(p))
            wants.push(want)
          }
          const modelTryPush = (v: number): boolean => {
            const t = takers.shift()
            if (t) {
              t.want.state = 'resolved'
              t.want.value = v
              return true
            }
            if (items.length < capacity) {
              items.push(v)
              return true
            }
            return false
          }
          for (const o of ops) {
            if (o.kind === 'abort') {
              acs[o.signal]!.abort()
              for (const w of [...takers, ...pushers])
                if (w.signal === o.signal) Object.assign(w.want, { state: 'rejected', why: 'abort' })
              takers = takers.filter((w) => w.signal !== o.signal)
              pushers = pushers.filter((w) => w.signal !== o.signal)
            } else if (o.kind === 'tryPush') {
              const v = next++
              assert.equal(q.tryPush(v), modelTryPush(v))
            } else if (o.kind === 'push') {
              const v = next++
              const want: Want = { state: 'pending' }
              call(q.push(v, signalOf(o.signal)), want)
              if (modelTryPush(v)) want.state = 'resolved'
              else if (signalOf(o.signal)?.aborted) Object.assign(want, { state: 'rejected', why: 'abort' })
              else pushers.push({ want, signal: o.signal, item: v })
            } else {
              const want: Want = { state: 'pending' }
              call(q.shift(signalOf(o.signal)), want)
              if (items.length > 0) {
                Object.assign(want, { state: 'resolved', value: items.shift() })
                const p = pushers.shift()
                if (p) {
                  items.push(p.item)
                  p.want.state = 'resolved'
                }
              } else if (signalOf(o.signal)?.aborted) Object.assign(want, { state: 'rejected', why: 'abort' })
              else takers.push({ want, signal: o.signal, item: -1 })
            }
            assert.equal(q.length, items.length)
          }
          const check = async (): Promise<void> => {
            await flushMicrotasks()
            for (let i = 0; i < wants.length; i++) {
              const w = wants[i]!
              const g = got[i]!
              assert.equal(g.state, w.state, `call ${i}`)
              if (w.state === 'resolved' && w.value !== undefined) assert.equal(g.value, w.value, `call ${i}`)
              if (w.why === 'abort') assert.ok(g.error instanceof AbortError, `call ${i}`)
              if (w.why === 'closed') assert.equal(g.error, reason, `call ${i}`)
            }
          }
          await check()
          q.close(reason, drop)
          for (const w of [...takers, ...pushers]) Object.assign(w.want, { state: 'rejected', why: 'closed' })
          if (drop) items.length = 0
          await check()
          assert.equal(q.length, items.length)
          for (const ac of acs) assert.equal(abortListeners(ac.signal), 0, 'no abort listener left')
        },
      ),
      { numRuns: 300 },
    )
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

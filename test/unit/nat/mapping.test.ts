import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import {
  type Nat,
  type NatCallOptions,
  type NatProtocol,
  shouldMapPort,
  startPortMapping,
} from '../../../src/nat/index.js'
import { createMemoryLogger, formatIP, parseIP, SimulatedClock } from '../../../src/util/index.js'

const MIN = 60_000

/** A Nat whose answers the test scripts; it records every call with the simulated time. */
class MockNat implements Nat {
  readonly mechanism = 'upnp' as const
  readonly supportsMapping = true
  readonly spec = 'upnp'
  readonly gateway = '192.168.1.1'
  calls: { at: number; op: string; args: unknown[] }[] = []
  ip: Uint8Array | Error = parseIP('203.0.113.1')
  /** What addMapping does: a port to return, an error to throw, or 'hang' (until aborted). */
  add: (extPort: number) => number | Error | 'hang' = (p) => p
  constructor(private readonly clock: SimulatedClock) {}
  toString(): string {
    return 'MockNat'
  }
  async externalIP(): Promise<Uint8Array> {
    this.calls.push({ at: this.clock.now(), op: 'ip', args: [] })
    if (this.ip instanceof Error) throw this.ip
    return this.ip
  }
  addMapping(
    protocol: NatProtocol,
    extPort: number,
    intPort: number,
    name: string,
    lifetimeSec: number,
    opts?: NatCallOptions,
  ): Promise<number> {
    this.calls.push({
      at: this.clock.now(),
      op: 'add',
      args: [protocol, extPort, intPort, name, lifetimeSec],
    })
    const r = this.add(extPort)
    if (r === 'hang') {
      return new Promise((_, reject) =>
        opts?.signal?.addEventListener('abort', () => reject(opts.signal?.reason)),
      )
    }
    return r instanceof Error ? Promise.reject(r) : Promise.resolve(r)
  }
  async deleteMapping(protocol: NatProtocol, extPort: number, intPort: number): Promise<void> {
    this.calls.push({ at: this.clock.now(), op: 'delete', args: [protocol, extPort, intPort] })
  }
  ops(op?: string): { at: number; op: string; args: unknown[] }[] {
    return this.calls.filter((c) => op === undefined || c.op === op)
  }
}

function start(
  clock: SimulatedClock,
  nat: MockNat,
  extra: Partial<Parameters<typeof startPortMapping>[0]> = {},
) {
  const events: string[] = []
  const m = startPortMapping({
    nat,
    clock,
    protocol: 'tcp',
    intPort: 30303,
    name: 'ethereum p2p',
    onMapped: (ip, port) => events.push(`mapped ${ip ? formatIP(ip) : '-'}:${port}`),
    onUnmapped: () => events.push('unmapped'),
    onExternalIP: (ip) => events.push(`ip ${ip ? formatIP(ip) : '-'}`),
    ...extra,
  })
  return { m, events }
}

describe('startPortMapping', () => {
  it('maps at once with a 600 s lifetime, refreshes every 8 min, polls the IP every 2 min', async () => {
    const clock = new SimulatedClock(0)
    const nat = new MockNat(clock)
    const { m, events } = start(clock, nat)
    await clock.advance(0)
    assert.deepEqual(events, ['ip 203.0.113.1', 'mapped 203.0.113.1:30303'])
    assert.deepEqual(nat.ops('add')[0]?.args, ['tcp', 30303, 30303, 'ethereum p2p', 600])
    assert.deepEqual(m.state, { kind: 'mapped', extPort: 30303 })
    await clock.advance(20 * MIN)
    assert.deepEqual(
      nat.ops('add').map((c) => c.at / MIN),
      [0, 8, 16],
    )
    assert.deepEqual(
      nat.ops('ip').map((c) => c.at / MIN),
      [0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20],
    )
    assert.equal(events.length, 2, 'no repeated notifications while nothing changes')
    await m.stop()
    assert.deepEqual(nat.ops('delete')[0]?.args, ['tcp', 30303, 30303])
    assert.deepEqual(events.slice(2), ['unmapped'])
    assert.deepEqual(m.state, { kind: 'stopped' })
    assert.equal(clock.pendingTimers, 0)
  })
  it('retries 5 min after a failed first mapping', async () => {
    const clock = new SimulatedClock(0)
    const nat = new MockNat(clock)
    let n = 0
    nat.add = (p) => (n++ < 2 ? new Error('router busy') : p)
    const { m, events } = start(clock, nat)
    await clock.advance(0)
    assert.equal(m.state.kind, 'pending')
    await clock.advance(11 * MIN)
    assert.deepEqual(
      nat.ops('add').map((c) => c.at / MIN),
      [0, 5, 10],
    )
    assert.deepEqual(events, ['ip 203.0.113.1', 'mapped 203.0.113.1:30303'])
    await m.stop()
  })
  it('keeps the alternative port the router chose and asks for it on refresh', async () => {
    const clock = new SimulatedClock(0)
    const nat = new MockNat(clock)
    nat.add = (p) => (p === 30303 ? 31000 : p)
    const { m, events } = start(clock, nat)
    await clock.advance(17 * MIN)
    assert.deepEqual(
      nat.ops('add').map((c) => c.args[1]),
      [30303, 31000, 31000],
    )
    assert.deepEqual(events, ['ip 203.0.113.1', 'mapped 203.0.113.1:31000'])
    await m.stop()
    assert.deepEqual(nat.ops('delete')[0]?.args, ['tcp', 31000, 30303])
  })
  it('keeps the port through failed refreshes, gives up after 5 retries and starts over', async () => {
    const clock = new SimulatedClock(0)
    const nat = new MockNat(clock)
    const { m, events } = start(clock, nat)
    await clock.advance(0)
    nat.add = () => new Error('refresh failed')
    // refresh at 8, then retries at 13, 18, 23, 28, 33 → the 6th failure (at 33) gives up
    await clock.advance(32 * MIN)
    assert.equal(m.state.kind, 'mapped', 'still considered mapped during retries')
    assert.equal(nat.ops('delete').length, 0)
    await clock.advance(1 * MIN)
    assert.deepEqual(
      nat.ops('add').map((c) => c.at / MIN),
      [0, 8, 13, 18, 23, 28, 33],
    )
    assert.deepEqual(
      nat.ops('delete').map((c) => [c.at / MIN, c.args[1]]),
      [[33, 30303]],
    )
    assert.equal(m.state.kind, 'pending')
    assert.deepEqual(events.slice(-1), ['unmapped'])
    nat.add = (p) => p
    await clock.advance(5 * MIN)
    assert.deepEqual(m.state, { kind: 'mapped', extPort: 30303 })
    assert.deepEqual(events.slice(-1), ['mapped 203.0.113.1:30303'])
    await m.stop()
  })
  it('refreshes at once when the external IP changes and reports the new IP', async () => {
    const clock = new SimulatedClock(0)
    const nat = new MockNat(clock)
    const { m, events } = start(clock, nat)
    await clock.advance(3 * MIN)
    nat.ip = parseIP('198.51.100.7')
    await clock.advance(1 * MIN)
    assert.deepEqual(
      nat.ops('add').map((c) => c.at / MIN),
      [0, 4],
    )
    assert.deepEqual(events, [
      'ip 203.0.113.1',
      'mapped 203.0.113.1:30303',
      'ip 198.51.100.7',
      'mapped 198.51.100.7:30303',
    ])
    assert.equal(formatIP(m.externalIP!), '198.51.100.7')
    nat.ip = new Error('no answer')
    await clock.advance(2 * MIN)
    assert.deepEqual(events.slice(4), ['ip -', 'mapped -:30303'])
    // adds at 0, 4 (new IP) and 6 (IP now unknown); the errors at 8 and 10 change nothing
    await clock.advance(4 * MIN)
    assert.deepEqual(
      nat.ops('add').map((c) => c.at / MIN),
      [0, 4, 6],
      'repeated IP errors do not force refreshes',
    )
    await m.stop()
  })
  it('stop while an add is in flight aborts it and deletes the port it asked for', async () => {
    const clock = new SimulatedClock(0)
    const nat = new MockNat(clock)
    nat.add = () => 'hang'
    const { m, events } = start(clock, nat)
    await clock.advance(1000)
    await m.stop()
    assert.deepEqual(
      nat.ops('delete').map((c) => c.args),
      [['tcp', 30303, 30303]],
    )
    assert.deepEqual(events, ['ip 203.0.113.1'])
    assert.equal(clock.pendingTimers, 0)
    await m.stop()
  })
  it('bounds a hanging add with the operation timeout and retries later', async () => {
    const clock = new SimulatedClock(0)
    const nat = new MockNat(clock)
    nat.add = () => 'hang'
    const { m } = start(clock, nat, { operationTimeout: 10_000 })
    await clock.advance(5 * MIN + 10_000)
    assert.deepEqual(
      nat.ops('add').map((c) => c.at),
      [0, 10_000 + 5 * MIN],
    )
    assert.equal(m.state.kind, 'pending')
    await m.stop()
  })
  it('honours custom timings (seconds, scaled down) and survives throwing callbacks', async () => {
    const clock = new SimulatedClock(0)
    const nat = new MockNat(clock)
    const log = createMemoryLogger('warn')
    const { m } = start(clock, nat, {
      lifetime: 2000,
      refresh: 1000,
      retryAfter: 500,
      extIPInterval: 700,
      extPort: 40000,
      protocol: 'udp',
      logger: log,
      onMapped: () => {
        throw new Error('boom')
      },
    })
    await clock.advance(3000)
    assert.deepEqual(nat.ops('add')[0]?.args, ['udp', 40000, 30303, 'ethereum p2p', 2])
    assert.deepEqual(
      nat.ops('add').map((c) => c.at),
      [0, 1000, 2000, 3000],
    )
    assert.ok(log.records.some((r) => /onMapped callback threw/.test(r.msg)))
    await m.stop()
  })
  it('validates its arguments', () => {
    const clock = new SimulatedClock(0)
    const nat = new MockNat(clock)
    assert.throws(() => startPortMapping({ nat, clock, protocol: 'tcp', intPort: 0, name: 'x' }), RangeError)
    assert.throws(
      () => startPortMapping({ nat, clock, protocol: 'sctp' as 'tcp', intPort: 1, name: 'x' }),
      TypeError,
    )
    assert.throws(
      () => startPortMapping({ nat, clock, protocol: 'tcp', intPort: 1, name: 'x', refresh: 0 }),
      RangeError,
    )
  })
})

describe('shouldMapPort', () => {
  const table: [string, boolean][] = [
    ['0.0.0.0', true],
    ['::', true],
    ['203.0.113.5', true],
    ['2001:4860::1', true],
    ['127.0.0.1', false],
    ['::1', false],
    ['::ffff:127.0.0.1', false],
    ['192.168.1.2', true],
    ['10.0.0.1', true],
    ['fd00::1', true],
    ['not an ip', false],
  ]
  for (const [ip, want] of table) it(`${ip} → ${want}`, () => assert.equal(shouldMapPort(ip), want))
  it('accepts bytes', () => assert.equal(shouldMapPort(new Uint8Array(4)), true))
})

/**
 * The dial scheduler on the simulated clock: a hand-fed candidate iterator, a fake dial function
 * completed or failed by hand, and per round the set of dials that must have started.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import { Node } from '../../../src/enode/index.js'
import { Netlist } from '../../../src/netutil/index.js'
import {
  DIAL_DEFAULTS,
  type DialConfig,
  type DialDeps,
  type DialKind,
  type DialResult,
  DialScheduler,
  type PeerKind,
  resolveDialConfig,
} from '../../../src/p2p/dial.js'
import { DisconnectError, DiscReason } from '../../../src/p2p/peer-error.js'
import {
  flushMicrotasks,
  HandshakeError,
  SimulatedClock,
  seededRandom,
  TimeoutError,
} from '../../../src/util/index.js'

// ---- nodes ----

// BOUNDED: test-only, one entry per node the tests build.
const NAMES = new Map<string, string>()

function pubkey(i: number): Uint8Array {
  const k = new Uint8Array(64)
  new DataView(k.buffer).setUint32(60, i + 1)
  k[0] = 0x5a
  return k
}

/** Node `i`: a fixed key; by default IP 10.0.x.y and TCP port 30303. */
function node(i: number, ep: { ip?: string; tcp?: number; hostname?: string } | 'default' = 'default'): Node {
  const e = ep === 'default' ? { ip: `10.0.${(i >> 8) & 255}.${i & 255}`, tcp: 30303 } : ep
  const n = Node.fromPublicKey(pubkey(i), { ...e, udp: e.tcp ?? 0 })
  NAMES.set(n.idHex, `n${i}`)
  return n
}

const name = (n: Node): string => NAMES.get(n.idHex) ?? n.idHex.slice(0, 8)
const names = (ns: readonly Node[]): string[] => ns.map(name).sort()

const SELF = node(99_999)
const connRefused = (): Error => Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' })

// ---- fakes ----

/** An iterator the test feeds by hand; counts reads to check "one pending read". */
class FeedIterator implements AsyncIterableIterator<Node> {
  private readonly queue: Node[] = []
  private waiting: ((r: IteratorResult<Node>) => void) | undefined
  reads = 0
  pending = 0
  maxPending = 0
  closed = false

  push(...nodes: Node[]): void {
    for (const n of nodes) {
      const w = this.waiting
      if (w) {
        this.waiting = undefined
        w({ value: n, done: false })
      } else this.queue.push(n)
    }
  }
  get queued(): number {
    return this.queue.length
  }
  next(): Promise<IteratorResult<Node>> {
    this.reads++
    this.pending++
    this.maxPending = Math.max(this.maxPending, this.pending)
    const settle = (r: IteratorResult<Node>): IteratorResult<Node> => {
      this.pending--
      return r
    }
    if (this.closed) return Promise.resolve(settle({ value: undefined, done: true }))
    const n = this.queue.shift()
    if (n) return Promise.resolve(settle({ value: n, done: false }))
    return new Promise((resolve) => {
      this.waiting = (r) => resolve(settle(r))
    })
  }
  return(): Promise<IteratorResult<Node>> {
    this.closed = true
    const w = this.waiting
    this.waiting = undefined
    w?.({ value: undefined, done: true })
    return Promise.resolve({ value: undefined, done: true })
  }
  [Symbol.asyncIterator](): this {
    return this
  }
}

interface Call {
  readonly node: Node
  readonly kind: DialKind
  readonly signal: AbortSignal
  readonly at: number
  resolve(): void
  reject(err: unknown): void
}

/** The injected dial function: records calls; the test completes or fails each. */
class FakeDialer {
  sched!: DialScheduler
  readonly calls: Call[] = []
  // BOUNDED: test-only, one entry per dial in flight.
  readonly active = new Map<string, Call>()
  private fresh: Call[] = []
  /** Called before recording a dial (property checks). */
  onDial: ((node: Node, kind: DialKind) => void) | undefined
  ignoreAbort = false

  constructor(private readonly clock: SimulatedClock) {}

  readonly dial: DialDeps['dial'] = (node, { kind, signal }) => {
    this.onDial?.(node, kind)
    return new Promise<void>((resolve, reject) => {
      const call: Call = { node, kind, signal, at: this.clock.monotonic(), resolve, reject }
      this.calls.push(call)
      this.fresh.push(call)
      this.active.set(node.idHex, call)
      if (!this.ignoreAbort)
        signal.addEventListener(
          'abort',
          () => {
            this.active.delete(node.idHex)
            reject(signal.reason)
          },
          { once: true },
        )
    })
  }

  private take(n: Node): Call {
    const c = this.active.get(n.idHex)
    assert.ok(c, `no dial in flight to ${name(n)}`)
    this.active.delete(n.idHex)
    return c
  }
  /** The dial sets up a peer: the server reports it, then the dial resolves. */
  succeed(n: Node): void {
    const c = this.take(n)
    this.sched.peerAdded({ id: n.id, kind: c.kind })
    c.resolve()
  }
  fail(n: Node, err: unknown = connRefused()): void {
    this.take(n).reject(err)
  }
  /** Dials started since the last call. */
  started(): Call[] {
    const f = this.fresh
    this.fresh = []
    return f
  }
}

interface Harness {
  readonly clock: SimulatedClock
  readonly dialer: FakeDialer
  readonly sched: DialScheduler
  readonly results: DialResult[]
  readonly it: FeedIterator
  settle(): Promise<void>
  advance(ms: number): Promise<void>
}

function setup(
  config: Partial<DialConfig> = {},
  deps: Partial<DialDeps> = {},
  opts: { iterator?: boolean; start?: boolean } = {},
): Harness {
  const clock = new SimulatedClock()
  const dialer = new FakeDialer(clock)
  const results: DialResult[] = []
  const sched = new DialScheduler(config, {
    clock,
    random: seededRandom(1),
    selfId: SELF.id,
    dial: dialer.dial,
    onDialResult: (r) => results.push(r),
    ...deps,
  })
  dialer.sched = sched
  const it = new FeedIterator()
  if (opts.iterator !== false) sched.addIterator(it)
  if (opts.start !== false) sched.start()
  const settle = (): Promise<void> => flushMicrotasks(300)
  return {
    clock,
    dialer,
    sched,
    results,
    it,
    settle,
    advance: async (ms) => {
      await clock.advance(ms)
      await settle()
    },
  }
}

/** One round of a table: actions in this order, then the dials that must have started. */
interface Round {
  /** Milliseconds to advance the clock first. */
  readonly wait?: number
  readonly feed?: readonly Node[]
  readonly addStatic?: readonly Node[]
  readonly succeed?: readonly Node[]
  readonly fail?: readonly Node[]
  readonly addPeer?: readonly { readonly node: Node; readonly kind: PeerKind }[]
  readonly removePeer?: readonly Node[]
  /** Names of the dials started in this round. */
  readonly want: readonly Node[]
  /** Kinds of those dials, when checked. */
  readonly kinds?: readonly DialKind[]
}

async function runRounds(h: Harness, rounds: readonly Round[]): Promise<void> {
  await h.settle()
  for (const [i, r] of rounds.entries()) {
    if (r.wait !== undefined) await h.advance(r.wait)
    for (const n of r.addStatic ?? []) h.sched.addStatic(n)
    if (r.feed) h.it.push(...r.feed)
    for (const n of r.succeed ?? []) h.dialer.succeed(n)
    for (const n of r.fail ?? []) h.dialer.fail(n)
    for (const p of r.addPeer ?? []) h.sched.peerAdded({ id: p.node.id, kind: p.kind })
    for (const n of r.removePeer ?? []) h.sched.peerRemoved(n.id)
    await h.settle()
    const started = h.dialer.started()
    assert.deepEqual(started.map((c) => name(c.node)).sort(), names(r.want), `round ${i}: dials started`)
    if (r.kinds) assert.deepEqual(started.map((c) => c.kind).sort(), [...r.kinds].sort(), `round ${i}: kinds`)
  }
}

const N = Array.from({ length: 40 }, (_, i) => node(i + 1))
const n = (i: number): Node => N[i - 1]!

// ---- tests ----

describe('resolveDialConfig', () => {
  it("defaults are geth's and the result is frozen", () => {
    const c = resolveDialConfig()
    assert.equal(c.maxActiveDials, 50)
    assert.equal(c.historyExpirationMs, 35_000)
    assert.equal(c.initialResolveDelayMs, 60_000)
    assert.equal(c.maxResolveDelayMs, 3_600_000)
    assert.equal(c.dialTimeoutMs, 15_000)
    assert.equal(c.bootnodeFallback, true)
    assert.equal(c.bootnodeFallbackDelayMs, 20_000)
    assert.equal(c.netRestrict, undefined)
    assert.ok(Object.isFrozen(c))
    assert.ok(Object.isFrozen(DIAL_DEFAULTS))
  })
  it('undefined fields take the default; bad numbers are refused', () => {
    assert.equal(resolveDialConfig({ maxDialPeers: undefined }).maxDialPeers, DIAL_DEFAULTS.maxDialPeers)
    assert.equal(resolveDialConfig({ maxDialPeers: 0 }).maxDialPeers, 0)
    assert.throws(() => resolveDialConfig({ maxDialPeers: -1 }), RangeError)
    assert.throws(() => resolveDialConfig({ maxActiveDials: 1.5 }), RangeError)
    assert.throws(() => resolveDialConfig({ maxHistory: 0 }), RangeError)
    assert.throws(() => resolveDialConfig({ initialResolveDelayMs: 10, maxResolveDelayMs: 5 }), RangeError)
  })
})

describe('DialScheduler: slots', () => {
  it('free slots = min(2 x room, maxActiveDials) - dials in flight', async () => {
    const h = setup({ maxDialPeers: 4, maxActiveDials: 50 })
    await runRounds(h, [
      { feed: N.slice(0, 12), want: [n(1), n(2), n(3), n(4), n(5), n(6), n(7), n(8)] },
      // 2 dialed peers: min(2 x 2, 50) - 6 in flight < 0
      { succeed: [n(1), n(2)], want: [] },
      // 3 in flight: 4 - 3 = 1
      { fail: [n(3), n(4), n(5)], want: [n(9)] },
      // 3 dialed peers, 3 in flight: 2 - 3 < 0
      { succeed: [n(6)], want: [] },
      { fail: [n(7), n(8), n(9)], want: [n(10), n(11)] },
      // a dialed peer leaves: room 2, 2 in flight... 4 - 2 = 2, one candidate left
      { removePeer: [n(1)], want: [n(12)] },
      // inbound peers take no dial room
      { addPeer: [{ node: n(30), kind: 'inbound' }], feed: [n(13)], want: [n(13)] },
    ])
    assert.equal(h.sched.stats.dialedPeers, 2)
    assert.equal(h.sched.stats.peers, 3)
    await h.sched.stop()
  })

  it('maxActiveDials caps the dials in flight', async () => {
    const h = setup({ maxDialPeers: 10, maxActiveDials: 3 })
    await runRounds(h, [
      { feed: N.slice(0, 10), want: [n(1), n(2), n(3)] },
      { fail: [n(2)], want: [n(4)] },
      { succeed: [n(1), n(3)], want: [n(5), n(6)] },
    ])
    assert.equal(h.sched.stats.dialing, 3)
    await h.sched.stop()
  })

  it('maxDialPeers 0 never dials and never reads', async () => {
    const h = setup({ maxDialPeers: 0 })
    h.sched.addStatic(n(1))
    h.it.push(n(2))
    await h.advance(60_000)
    assert.equal(h.dialer.calls.length, 0)
    assert.equal(h.it.reads, 0)
    await h.sched.stop()
  })

  it('keeps one read pending per iterator, and none without a free slot', async () => {
    const h = setup({ maxDialPeers: 1 })
    await h.settle()
    assert.equal(h.it.reads, 1)
    assert.equal(h.it.pending, 1)
    await runRounds(h, [
      { feed: [n(1)], want: [n(1)] },
      { feed: [n(2), n(3)], want: [n(2)] },
    ])
    // two dials in flight fill both slots: n3 stays in the iterator
    assert.equal(h.it.queued, 1)
    assert.equal(h.it.pending, 0)
    await runRounds(h, [{ fail: [n(1)], want: [n(3)] }])
    assert.equal(h.it.maxPending, 1)
    await h.sched.stop()
  })

  it('several iterators are mixed fairly and a silent one blocks nothing', async () => {
    const h = setup({ maxDialPeers: 3 }, {}, { iterator: false })
    const a = new FeedIterator()
    const b = new FeedIterator()
    const silent = new FeedIterator()
    a.push(...N.slice(0, 10))
    b.push(...N.slice(10, 20))
    h.sched.addIterator(silent)
    h.sched.addIterator(a)
    h.sched.addIterator(b)
    await h.settle()
    const started = h.dialer.started().map((c) => c.node)
    assert.equal(started.length, 6)
    assert.equal(started.filter((x) => N.indexOf(x) < 10).length, 3)
    assert.equal(started.filter((x) => N.indexOf(x) >= 10).length, 3)
    for (const x of [a, b, silent]) assert.ok(x.maxPending <= 1)
    assert.equal(h.sched.stats.iterators, 3)
    await h.sched.stop()
    assert.ok(a.closed && b.closed && silent.closed)
  })

  it('an iterator that ends or throws is dropped; a removed one is closed', async () => {
    const h = setup({ maxDialPeers: 10 }, {}, { iterator: false })
    async function* two(): AsyncGenerator<Node> {
      yield n(1)
      yield n(2)
    }
    async function* broken(): AsyncGenerator<Node> {
      yield n(3)
      throw new Error('source broke')
    }
    h.sched.addIterator(two())
    h.sched.addIterator(() => broken())
    const kept = new FeedIterator()
    const remove = h.sched.addIterator(kept)
    await h.settle()
    assert.deepEqual(names(h.dialer.started().map((c) => c.node)), names([n(1), n(2), n(3)]))
    assert.equal(h.sched.stats.iterators, 1)
    remove()
    assert.ok(kept.closed)
    assert.equal(h.sched.stats.iterators, 0)
    await h.sched.stop()
  })

  it('refuses more than maxIterators iterators', async () => {
    const h = setup({ maxIterators: 2 }, {}, { iterator: false })
    h.sched.addIterator(new FeedIterator())
    h.sched.addIterator(new FeedIterator())
    assert.throws(() => h.sched.addIterator(new FeedIterator()), RangeError)
    await h.sched.stop()
  })

  it('an iterator of unusable nodes yields to the event loop after a burst', async () => {
    const h = setup({ maxDialPeers: 1 })
    h.it.push(...Array.from({ length: 200 }, () => SELF))
    await h.settle()
    // the burst is cut by a zero-delay timer
    assert.ok(h.it.queued > 0)
    assert.equal(h.clock.pendingTimers, 1)
    for (let i = 0; i < 10; i++) await h.advance(0)
    assert.equal(h.it.queued, 0)
    assert.equal(h.sched.stats.discarded['self'], 200)
    h.it.push(n(1))
    await h.advance(0)
    assert.deepEqual(names(h.dialer.started().map((c) => c.node)), ['n1'])
    await h.sched.stop()
    assert.equal(h.clock.pendingTimers, 0)
  })
})

describe('DialScheduler: checks', () => {
  const cases: {
    readonly what: string
    readonly reason: string
    readonly node: Node
    readonly config?: Partial<DialConfig>
    readonly before?: (h: Harness) => Promise<void> | void
  }[] = [
    { what: 'self', reason: 'self', node: SELF },
    { what: 'an IP without TCP port', reason: 'no-tcp-port', node: node(201, { ip: '10.9.9.9', tcp: 0 }) },
    {
      what: 'a connected peer',
      reason: 'already-connected',
      node: n(1),
      before: (h) => h.sched.peerAdded({ id: n(1).id, kind: 'inbound' }),
    },
    {
      what: 'a pending inbound handshake',
      reason: 'pending-inbound',
      node: n(1),
      before: (h) => h.sched.inboundPending(n(1).id),
    },
    {
      what: 'an IP outside NetRestrict',
      reason: 'net-restrict',
      node: node(202, { ip: '192.168.1.1', tcp: 30303 }),
      config: { netRestrict: Netlist.parse('10.0.0.0/8') },
    },
    {
      what: 'a node being dialed',
      reason: 'already-dialing',
      node: n(1),
      before: async (h) => {
        h.it.push(n(1))
        await h.settle()
        h.dialer.started()
      },
    },
    {
      what: 'a recently dialed node',
      reason: 'recently-dialed',
      node: n(1),
      before: async (h) => {
        h.it.push(n(1))
        await h.settle()
        h.dialer.started()
        h.dialer.fail(n(1))
        await h.settle()
      },
    },
  ]
  for (const c of cases)
    it(`drops ${c.what} (${c.reason})`, async () => {
      const h = setup(c.config ?? {})
      await c.before?.(h)
      h.it.push(c.node)
      await h.settle()
      assert.deepEqual(h.dialer.started(), [])
      assert.equal(h.sched.stats.discarded[c.reason], 1)
      await h.sched.stop()
    })

  it('a node inside NetRestrict is dialed; an ended inbound handshake frees the node', async () => {
    const h = setup({ netRestrict: Netlist.parse('10.0.0.0/8') })
    h.sched.inboundPending(n(2).id)
    await runRounds(h, [
      { feed: [n(1), n(2)], want: [n(1)] },
      { feed: [n(2)], want: [] },
    ])
    h.sched.inboundPendingDone(n(2).id)
    await runRounds(h, [{ feed: [n(2)], want: [n(2)] }])
    await h.sched.stop()
  })

  it('never dials a node twice at once, static or dynamic', async () => {
    const h = setup({ maxDialPeers: 5 })
    await runRounds(h, [
      { addStatic: [n(1)], want: [n(1)], kinds: ['static'] },
      { feed: [n(1), n(2), n(2)], want: [n(2)], kinds: ['dynamic'] },
      // a static node connected inbound is not dialed; once gone it is (not in the history)
      { addPeer: [{ node: n(3), kind: 'inbound' }], want: [] },
      { addStatic: [n(3)], want: [] },
      { removePeer: [n(3)], want: [n(3)], kinds: ['static'] },
    ])
    assert.equal(h.sched.stats.discarded['already-dialing'], 2)
    await h.sched.stop()
  })
})

describe('DialScheduler: history', () => {
  it('a dialed node is not dialed again for 35 s', async () => {
    const h = setup()
    await runRounds(h, [
      { feed: [n(1)], want: [n(1)] },
      { fail: [n(1)], want: [] },
      { wait: 34_999, feed: [n(1)], want: [] },
      { wait: 1, feed: [n(1)], want: [n(1)] },
    ])
    assert.equal(h.sched.stats.discarded['recently-dialed'], 1)
    h.dialer.fail(n(1))
    await h.advance(35_000)
    assert.equal(h.sched.stats.history, 0)
    await h.sched.stop()
    assert.equal(h.clock.pendingTimers, 0)
  })

  it('the history is capped: the oldest entry goes first', async () => {
    const h = setup({ maxHistory: 3 })
    await runRounds(h, [
      { feed: [n(1), n(2), n(3), n(4)], want: [n(1), n(2), n(3), n(4)] },
      { fail: [n(1), n(2), n(3), n(4)], want: [] },
    ])
    assert.equal(h.sched.stats.history, 3)
    await runRounds(h, [{ feed: [n(2), n(1)], want: [n(1)] }])
    await h.sched.stop()
  })
})

describe('DialScheduler: static nodes', () => {
  it('static nodes go first, picked from the pool, then candidates', async () => {
    const h = setup({ maxDialPeers: 1 }, {}, { start: false })
    h.it.push(n(10), n(11))
    for (const i of [1, 2, 3]) h.sched.addStatic(n(i))
    h.sched.start()
    await h.settle()
    let started = h.dialer.started()
    assert.equal(started.length, 2)
    assert.ok(started.every((c) => c.kind === 'static'))
    assert.equal(h.it.reads, 0)
    h.dialer.fail(started[0]!.node)
    await h.settle()
    const third = h.dialer.started()
    assert.equal(third.length, 1)
    assert.equal(third[0]!.kind, 'static')
    assert.deepEqual(names([...started, ...third].map((c) => c.node)), ['n1', 'n2', 'n3'])
    assert.equal(h.sched.stats.staticPool, 0)
    // every static node is in the history: the free slots go to candidates
    h.dialer.fail(started[1]!.node)
    h.dialer.fail(third[0]!.node)
    await h.settle()
    started = h.dialer.started()
    assert.deepEqual(names(started.map((c) => c.node)), ['n10', 'n11'])
    assert.ok(started.every((c) => c.kind === 'dynamic'))
    await h.sched.stop()
  })

  it('a static peer is redialed after a disconnect only once its history entry expires', async () => {
    const h = setup()
    await runRounds(h, [
      { addStatic: [n(1)], want: [n(1)], kinds: ['static'] },
      { wait: 1_000, succeed: [n(1)], want: [] },
      { wait: 9_000, removePeer: [n(1)], want: [] },
      { wait: 24_999, want: [] },
      { wait: 1, want: [n(1)], kinds: ['static'] },
      // connected longer than 35 s: redialed at once
      { wait: 1_000, succeed: [n(1)], want: [] },
      { wait: 60_000, removePeer: [n(1)], want: [n(1)] },
    ])
    await h.sched.stop()
  })

  it('removeStatic stops redials; addStatic beyond the cap is refused', async () => {
    const h = setup({ maxStaticNodes: 2 })
    assert.equal(h.sched.addStatic(n(1)), true)
    assert.equal(h.sched.addStatic(n(2)), true)
    assert.equal(h.sched.addStatic(n(3)), false)
    assert.equal(h.sched.addStatic(n(2)), true)
    await runRounds(h, [{ want: [n(1), n(2)] }, { fail: [n(1), n(2)], want: [] }])
    h.sched.removeStatic(n(1))
    await runRounds(h, [{ wait: 35_000, want: [n(2)] }])
    assert.equal(h.sched.stats.staticNodes, 1)
    await h.sched.stop()
  })
})

describe('DialScheduler: resolution', () => {
  it('resolves a static node without IP with a 60 s backoff doubling up to 1 h', async () => {
    const resolves: number[] = []
    const clockRef: { c?: SimulatedClock } = {}
    const h = setup(
      {},
      {
        resolve: async () => {
          resolves.push(clockRef.c!.monotonic())
          return undefined
        },
      },
      { start: false },
    )
    clockRef.c = h.clock
    h.sched.addStatic(node(1, {}))
    h.sched.start()
    await h.advance(6 * 3_600_000)
    assert.equal(h.dialer.calls.length, 0)
    assert.equal(resolves[0], 0)
    // attempts come with the 35 s history; a resolution waits for the next one after its delay
    let delay = 60_000
    for (let i = 1; i < resolves.length; i++) {
      assert.equal(resolves[i]! - resolves[i - 1]!, Math.ceil(delay / 35_000) * 35_000, `gap ${i}`)
      delay = Math.min(delay * 2, 3_600_000)
    }
    assert.ok(resolves.length >= 9, 'reaches the 1 h cap')
    assert.ok((h.sched.stats.outcomes['resolve-throttled'] ?? 0) > 0)
    assert.equal(h.sched.stats.outcomes['resolve-failed'], resolves.length)
    await h.sched.stop()
    assert.equal(h.clock.pendingTimers, 0)
  })

  it('dials the address found by resolve; re-resolves after a failed connect (throttled)', async () => {
    const answers = [node(1, { ip: '10.1.0.1', tcp: 30303 }), node(1, { ip: '10.1.0.2', tcp: 30304 })]
    const resolves: number[] = []
    let clock: SimulatedClock | undefined
    const h = setup(
      {},
      {
        resolve: async (x, { signal }) => {
          assert.equal(signal.aborted, false)
          assert.equal(x.idHex, node(1, {}).idHex)
          resolves.push(clock!.monotonic())
          return answers.shift()
        },
      },
      { start: false },
    )
    clock = h.clock
    h.sched.addStatic(node(1, {}))
    h.sched.start()
    await h.settle()
    let c = h.dialer.started()
    assert.deepEqual(
      c.map((x) => [x.node.ip, x.node.tcp]),
      [['10.1.0.1', 30303]],
    )
    // a handshake failure means the address works: no resolve
    h.dialer.fail(c[0]!.node, new HandshakeError('enc', 'bad auth'))
    await h.settle()
    assert.deepEqual(resolves, [0])
    // at 35 s the stored address is dialed; a refused connect asks resolve, still throttled (60 s)
    await h.advance(35_000)
    c = h.dialer.started()
    assert.deepEqual(
      c.map((x) => x.node.ip),
      ['10.1.0.1'],
    )
    h.dialer.fail(c[0]!.node)
    await h.settle()
    assert.deepEqual(resolves, [0])
    assert.deepEqual(h.dialer.started(), [])
    // at 70 s: refused again, resolve allowed, the new address is dialed in the same task
    await h.advance(35_000)
    h.dialer.fail(h.dialer.started()[0]!.node)
    await h.settle()
    assert.deepEqual(resolves, [0, 70_000])
    c = h.dialer.started()
    assert.deepEqual(
      c.map((x) => [x.node.ip, x.node.tcp]),
      [['10.1.0.2', 30304]],
    )
    h.dialer.succeed(c[0]!.node)
    await h.settle()
    assert.equal(h.results.at(-1)!.outcome, 'success')
    assert.equal(h.results.at(-1)!.node.ip, '10.1.0.2')
    await h.sched.stop()
  })

  it('a resolved address outside NetRestrict is not dialed', async () => {
    const h = setup(
      { netRestrict: Netlist.parse('10.0.0.0/8') },
      { resolve: async () => node(1, { ip: '192.168.0.1', tcp: 30303 }) },
    )
    h.sched.addStatic(node(1, {}))
    await h.settle()
    assert.equal(h.dialer.calls.length, 0)
    assert.equal(h.results[0]!.outcome, 'net-restrict')
    await h.sched.stop()
  })

  it('without resolver, a static node without IP is never dialed', async () => {
    const h = setup()
    h.sched.addStatic(node(1, {}))
    await h.advance(100_000)
    assert.equal(h.dialer.calls.length, 0)
    assert.ok((h.sched.stats.outcomes['resolve-failed'] ?? 0) >= 3)
    await h.sched.stop()
  })

  it('looks up a static hostname, IPv4 first; falls back to resolve when DNS fails', async () => {
    const lookups: string[] = []
    let dnsAnswer: readonly string[] | Error = ['2001:db8::1', '10.3.3.3']
    const h = setup(
      {},
      {
        lookupHost: async (host) => {
          lookups.push(host)
          if (dnsAnswer instanceof Error) throw dnsAnswer
          return dnsAnswer
        },
        resolve: async (x) =>
          x.idHex === node(2, {}).idHex ? node(2, { ip: '10.4.4.4', tcp: 1 }) : undefined,
      },
    )
    h.sched.addStatic(node(1, { hostname: 'one.example', tcp: 30303 }))
    await h.settle()
    let c = h.dialer.started()
    assert.deepEqual(
      c.map((x) => [x.node.ip, x.node.hostname]),
      [['10.3.3.3', 'one.example']],
    )
    dnsAnswer = new Error('ENOTFOUND')
    h.sched.addStatic(node(2, { hostname: 'two.example', tcp: 30303 }))
    await h.settle()
    c = h.dialer.started()
    assert.deepEqual(
      c.map((x) => x.node.ip),
      ['10.4.4.4'],
    )
    assert.deepEqual(lookups, ['one.example', 'two.example'])
    await h.sched.stop()
  })
})

describe('DialScheduler: bootnode fallback', () => {
  const B = [node(301), node(302), node(303)]
  it('after 20 s without peers, dials one bootnode at a time until a peer exists', async () => {
    const h = setup({}, {}, { start: false })
    h.sched.setBootnodes(B)
    h.sched.start()
    await runRounds(h, [
      { wait: 19_999, want: [] },
      { wait: 1, want: [B[0]!], kinds: ['bootnode'] },
      { fail: [B[0]!], want: [B[1]!] },
      { fail: [B[1]!], want: [B[2]!] },
      // every bootnode is in the history (B0 since 20 s): the next comes when it expires
      { fail: [B[2]!], want: [] },
      { wait: 34_999, want: [] },
      { wait: 1, want: [B[0]!] },
      { succeed: [B[0]!], want: [] },
      { wait: 120_000, want: [] },
    ])
    assert.equal(h.sched.stats.dialedPeers, 1)
    // the peer leaves: 20 s later the fallback resumes, round robin
    await runRounds(h, [
      { removePeer: [B[0]!], want: [] },
      { wait: 19_999, want: [] },
      { wait: 1, want: [B[1]!] },
    ])
    await h.sched.stop()
    assert.equal(h.clock.pendingTimers, 0)
  })

  it('does not run while a peer is connected, nor when disabled', async () => {
    const h = setup({}, {}, { start: false })
    h.sched.setBootnodes(B)
    h.sched.peerAdded({ id: n(1).id, kind: 'inbound' })
    h.sched.start()
    await h.advance(60_000)
    assert.equal(h.dialer.calls.length, 0)
    await h.sched.stop()

    const off = setup({ bootnodeFallback: false }, {}, { start: false })
    off.sched.setBootnodes(B)
    off.sched.start()
    await off.settle()
    assert.equal(off.clock.pendingTimers, 0)
    await off.advance(120_000)
    assert.equal(off.dialer.calls.length, 0)
    await off.sched.stop()
  })
})

describe('DialScheduler: stop and timeouts', () => {
  it('stop() aborts dials, resolves and reads in flight and leaves no timer', async () => {
    let resolveSignal: AbortSignal | undefined
    const h = setup(
      { maxDialPeers: 3 },
      {
        resolve: (_x, { signal }) => {
          resolveSignal = signal
          return new Promise<Node | undefined>(() => {})
        },
      },
      { start: false },
    )
    h.sched.setBootnodes([node(300)])
    h.sched.start()
    await h.advance(20_000)
    h.sched.addStatic(n(1))
    h.sched.addStatic(node(2, {}))
    h.it.push(n(3))
    await h.settle()
    const calls = h.dialer.calls.slice()
    assert.deepEqual(calls.map((c) => c.kind).sort(), ['bootnode', 'dynamic', 'static'])
    assert.ok(resolveSignal && !resolveSignal.aborted)
    assert.equal(h.it.pending, 1)
    assert.ok(h.clock.pendingTimers > 0)
    await h.sched.stop()
    for (const c of calls) assert.equal(c.signal.aborted, true)
    assert.equal(resolveSignal.aborted, true)
    assert.equal(h.it.closed, true)
    assert.equal(h.clock.pendingTimers, 0)
    assert.equal(h.sched.stats.dialing, 0)
    assert.deepEqual(
      h.results.map((r) => r.outcome),
      ['aborted', 'aborted', 'aborted', 'aborted'],
    )
    // nothing happens afterwards
    h.sched.addStatic(n(5))
    h.sched.addIterator(new FeedIterator())
    await h.advance(100_000)
    assert.equal(h.dialer.calls.length, calls.length)
    await h.sched.stop()
  })

  it('stop() does not wait for a dial function that ignores its signal', async () => {
    const h = setup()
    h.dialer.ignoreAbort = true
    h.it.push(n(1))
    await h.settle()
    await h.sched.stop()
    assert.equal(h.results[0]!.outcome, 'aborted')
    assert.equal(h.clock.pendingTimers, 0)
  })

  it('the dial signal carries the 15 s deadline', async () => {
    const h = setup()
    h.it.push(n(1))
    await h.settle()
    const [c] = h.dialer.started()
    await h.advance(14_999)
    assert.equal(c!.signal.aborted, false)
    await h.advance(1)
    assert.equal(c!.signal.aborted, true)
    assert.ok(c!.signal.reason instanceof TimeoutError)
    assert.equal(h.results[0]!.outcome, 'timeout')
    assert.equal(h.results[0]!.durationMs, 15_000)
    await h.sched.stop()
  })

  it('reports each dial with its outcome label and duration', async () => {
    const h = setup()
    h.it.push(n(1), n(2), n(3))
    await h.settle()
    await h.advance(3_000)
    h.dialer.succeed(n(1))
    h.dialer.fail(n(2), new DisconnectError(DiscReason.TooManyPeers, 'remote'))
    h.dialer.fail(n(3), new HandshakeError('proto', 'bad hello'))
    await h.settle()
    assert.deepEqual(
      h.results.map((r) => [name(r.node), r.kind, r.outcome, r.durationMs]),
      [
        ['n1', 'dynamic', 'success', 3_000],
        ['n2', 'dynamic', 'remote-TooManyPeers', 3_000],
        ['n3', 'dynamic', 'handshake-proto', 3_000],
      ],
    )
    assert.deepEqual(h.sched.stats.outcomes, { success: 1, 'remote-TooManyPeers': 1, 'handshake-proto': 1 })
    await h.sched.stop()
  })
})

describe('DialScheduler: invariants (property)', () => {
  type Action =
    | { readonly t: 'feed'; readonly i: number }
    | { readonly t: 'static'; readonly i: number }
    | { readonly t: 'succeed'; readonly k: number }
    | { readonly t: 'fail'; readonly k: number }
    | { readonly t: 'drop'; readonly k: number }
    | { readonly t: 'inbound'; readonly i: number }
    | { readonly t: 'wait'; readonly ms: number }
  const action: fc.Arbitrary<Action> = fc.oneof(
    fc.record({ t: fc.constant('feed' as const), i: fc.integer({ min: 0, max: 12 }) }),
    fc.record({ t: fc.constant('static' as const), i: fc.integer({ min: 0, max: 12 }) }),
    fc.record({ t: fc.constant('succeed' as const), k: fc.nat() }),
    fc.record({ t: fc.constant('fail' as const), k: fc.nat() }),
    fc.record({ t: fc.constant('drop' as const), k: fc.nat() }),
    fc.record({ t: fc.constant('inbound' as const), i: fc.integer({ min: 0, max: 12 }) }),
    fc.record({ t: fc.constant('wait' as const), ms: fc.integer({ min: 0, max: 40_000 }) }),
  )

  it('slots, checks and the 35 s history hold under any sequence of events', async () => {
    let dialsSeen = 0
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 0, max: 4 }),
        fc.integer({ min: 1, max: 6 }),
        fc.array(action, { minLength: 10, maxLength: 80, size: 'max' }),
        async (maxDialPeers, maxActiveDials, actions) => {
          const pool = [SELF, ...N.slice(0, 12)]
          const h = setup({ maxDialPeers, maxActiveDials }, {}, { start: false })
          const lastDial = new Map<string, number>()
          const connected = new Set<string>()
          h.dialer.onDial = (x) => {
            const s = h.sched.stats
            assert.ok(s.dialing <= Math.min(2 * (maxDialPeers - s.dialedPeers), maxActiveDials), 'slots')
            assert.notEqual(x.idHex, SELF.idHex, 'self')
            assert.ok(!connected.has(x.idHex), 'connected')
            assert.ok(!h.dialer.active.has(x.idHex), 'double dial')
            const last = lastDial.get(x.idHex)
            assert.ok(last === undefined || h.clock.monotonic() - last >= 35_000, 'history')
            lastDial.set(x.idHex, h.clock.monotonic())
            dialsSeen++
          }
          h.sched.start()
          for (const a of actions) {
            const active = [...h.dialer.active.values()]
            const peers = [...connected]
            switch (a.t) {
              case 'feed':
                h.it.push(pool[a.i]!)
                break
              case 'static':
                h.sched.addStatic(pool[a.i]!)
                break
              case 'succeed': {
                const c = active[a.k % Math.max(1, active.length)]
                if (c) {
                  connected.add(c.node.idHex)
                  h.dialer.succeed(c.node)
                }
                break
              }
              case 'fail': {
                const c = active[a.k % Math.max(1, active.length)]
                if (c) h.dialer.fail(c.node)
                break
              }
              case 'drop': {
                const id = peers[a.k % Math.max(1, peers.length)]
                if (id) {
                  connected.delete(id)
                  h.sched.peerRemoved(pool.find((p) => p.idHex === id)!.id)
                }
                break
              }
              case 'inbound': {
                const p = pool[a.i]!
                if (p !== SELF && !connected.has(p.idHex) && !h.dialer.active.has(p.idHex)) {
                  connected.add(p.idHex)
                  h.sched.peerAdded({ id: p.id, kind: 'inbound' })
                }
                break
              }
              case 'wait':
                await h.clock.advance(a.ms)
                break
            }
            await h.settle()
            assert.ok(h.it.maxPending <= 1)
          }
          await h.sched.stop()
          assert.equal(h.clock.pendingTimers, 0)
        },
      ),
      { numRuns: 60 },
    )
    assert.ok(dialsSeen > 100, `the generated runs dial: ${dialsSeen}`)
  })
})

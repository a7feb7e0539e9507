/** The in-memory UDP network (a public test seam): delivery, addresses, loss, taps, limits. */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { createMemoryNetwork, type UdpAddress } from '../../../src/discv4/index.js'
import { SimulatedClock, seededRandom } from '../../../src/util/index.js'

describe('createMemoryNetwork', () => {
  it('delivers copies in send order on the clock, never synchronously, with the sender address', async () => {
    const clock = new SimulatedClock()
    const net = createMemoryNetwork({ clock })
    const a = net.listen('10.0.0.1', 1000)
    const b = net.listen('10.0.0.2', 2000)
    const got: [number, UdpAddress][] = []
    b.onPacket((bytes, from) => got.push([bytes[0]!, from]))
    const buf = Uint8Array.of(1)
    a.send(buf, '10.0.0.2', 2000)
    buf[0] = 9
    a.send(Uint8Array.of(2), '10.0.0.2', 2000)
    assert.equal(got.length, 0)
    await clock.advance(0)
    assert.deepEqual(got, [
      [1, { ip: '10.0.0.1', port: 1000 }],
      [2, { ip: '10.0.0.1', port: 1000 }],
    ])
    assert.deepEqual(net.stats(), { sent: 2, delivered: 2, dropped: 0 })
  })

  it('latency delays delivery; replies sent while delivering go out on the next turn', async () => {
    const clock = new SimulatedClock()
    const net = createMemoryNetwork({ clock, latencyMs: 5 })
    const a = net.listen('10.0.0.1', 1000)
    const b = net.listen('10.0.0.2', 2000)
    const log: string[] = []
    b.onPacket((_bytes, from) => {
      log.push(`b@${clock.monotonic()}`)
      b.send(Uint8Array.of(0), from.ip, from.port)
    })
    a.onPacket(() => log.push(`a@${clock.monotonic()}`))
    a.send(Uint8Array.of(0), '10.0.0.2', 2000)
    await clock.advance(4)
    assert.deepEqual(log, [])
    await clock.advance(20)
    assert.deepEqual(log, ['b@5', 'a@10'])
  })

  it('ports: 0 picks a free one, a bound address is refused, close frees it; bad input is a RangeError', () => {
    const net = createMemoryNetwork({ clock: new SimulatedClock() })
    const a = net.listen('10.0.0.1')
    const b = net.listen('10.0.0.1')
    assert.notEqual(a.localAddress().port, b.localAddress().port)
    assert.throws(() => net.listen('10.0.0.1', a.localAddress().port), RangeError)
    a.close()
    a.close()
    net.listen('10.0.0.1', a.localAddress().port).close()
    assert.throws(() => net.listen('nope'), RangeError)
    assert.throws(() => net.listen('10.0.0.1', 70000), RangeError)
    assert.throws(() => net.setLoss(2), RangeError)
  })

  it('drops datagrams to nobody, from closed endpoints, by loss and beyond the in-flight cap', async () => {
    const clock = new SimulatedClock()
    const net = createMemoryNetwork({ clock, loss: 0.5, random: seededRandom(1), maxInFlight: 1000 })
    const a = net.listen('10.0.0.1', 1)
    const b = net.listen('10.0.0.2', 2)
    let n = 0
    b.onPacket(() => n++)
    for (let i = 0; i < 2000; i++) a.send(Uint8Array.of(i & 255), '10.0.0.2', 2)
    await clock.advance(0)
    assert.ok(n > 700 && n <= 1000, `delivered ${n}`)
    net.setLoss(0)
    a.send(Uint8Array.of(0), '10.0.0.3', 3)
    a.close()
    a.send(Uint8Array.of(0), '10.0.0.2', 2)
    await clock.advance(0)
    const s = net.stats()
    assert.equal(s.sent, 2001)
    assert.equal(s.delivered + s.dropped, 2001)
  })

  it('taps see every datagram; IPv4-mapped addresses are canonical IPv4', async () => {
    const clock = new SimulatedClock()
    const net = createMemoryNetwork({ clock })
    const a = net.listen('::ffff:10.0.0.1', 1)
    assert.equal(a.localAddress().ip, '10.0.0.1')
    const b = net.listen('2001:db8::1', 2)
    let tapped = 0
    const untap = net.tap(() => tapped++)
    let got: UdpAddress | undefined
    b.onPacket((_x, from) => {
      got = from
    })
    a.send(Uint8Array.of(1), '2001:0db8:0:0::1', 2)
    untap()
    a.send(Uint8Array.of(1), '2001:db8::1', 2)
    await clock.advance(0)
    assert.equal(tapped, 1)
    assert.deepEqual(got, { ip: '10.0.0.1', port: 1 })
  })
})

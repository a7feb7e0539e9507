import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import {
  decodeStunMessage,
  encodeStunBindingRequest,
  NAT_DEFAULTS,
  parseHostPort,
  StunError,
  StunNat,
  stunErrorCode,
  stunMappedAddress,
} from '../../../src/nat/index.js'
import { formatEndpoint } from '../../../src/netutil/index.js'
import { DecodeError, formatIP, SimulatedClock, toHex } from '../../../src/util/index.js'
import { FakeUdpNetwork, fakeDeps, settle } from './fakes.js'

const hex = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s.replace(/\s/g, ''), 'hex'))
const TID = hex('b7e7a701bc34d686fa87dfae')

/** A response of `type` echoing the 16-byte id of `req`, with the given attributes. */
function response(req: Uint8Array, type: number, attrs: [number, Uint8Array][]): Uint8Array {
  const body = attrs.map(([t, v]) => {
    const pad = (4 - (v.length % 4)) % 4
    const b = new Uint8Array(4 + v.length + pad)
    new DataView(b.buffer).setUint16(0, t)
    new DataView(b.buffer).setUint16(2, v.length)
    b.set(v, 4)
    return b
  })
  const len = body.reduce((n, b) => n + b.length, 0)
  const out = new Uint8Array(20 + len)
  new DataView(out.buffer).setUint16(0, type)
  new DataView(out.buffer).setUint16(2, len)
  out.set(req.subarray(4, 20), 4)
  let o = 20
  for (const b of body) {
    out.set(b, o)
    o += b.length
  }
  return out
}

const xorV4 = (ip: number[], port: number): Uint8Array => {
  const cookie = [0x21, 0x12, 0xa4, 0x42]
  return Uint8Array.of(0, 1, (port >> 8) ^ 0x21, (port & 0xff) ^ 0x12, ...ip.map((b, i) => b ^ cookie[i]!))
}
const plainV4 = (ip: number[], port: number): Uint8Array => Uint8Array.of(0, 1, port >> 8, port & 0xff, ...ip)

describe('STUN codec', () => {
  it('encodes a binding request with the magic cookie', () => {
    assert.equal(toHex(encodeStunBindingRequest(TID)), `000100002112a442${toHex(TID)}`)
    assert.throws(() => encodeStunBindingRequest(new Uint8Array(16)), RangeError)
  })
  it('reads XOR-MAPPED-ADDRESS (RFC 5389)', () => {
    const req = encodeStunBindingRequest(TID)
    const msg = decodeStunMessage(response(req, 0x0101, [[0x0020, xorV4([10, 99, 0, 1], 38920)]]))
    assert.equal(msg.hasMagicCookie, true)
    assert.equal(formatEndpoint(stunMappedAddress(msg)!), '10.99.0.1:38920')
  })
  it('reads IPv6 XOR-MAPPED-ADDRESS (xored with cookie and transaction id)', () => {
    const req = encodeStunBindingRequest(TID)
    const ip = hex('20010db8000000000000000000000001')
    const key = req.subarray(4, 20)
    const v = Uint8Array.of(0, 2, 0x76 ^ 0x21, 0x5f ^ 0x12, ...ip.map((b, i) => b ^ key[i]!))
    const ep = stunMappedAddress(decodeStunMessage(response(req, 0x0101, [[0x0020, v]])))!
    assert.equal(formatIP(ep.ip), '2001:db8::1')
    assert.equal(ep.port, 30303)
  })
  it('falls back to MAPPED-ADDRESS (RFC 3489 servers, and a 3489-style 16-byte id)', () => {
    const req = encodeStunBindingRequest(TID)
    const msg = decodeStunMessage(
      response(req, 0x0101, [
        [0x0001, plainV4([1, 2, 3, 4], 5)],
        [0x8022, new Uint8Array(5)],
      ]),
    )
    assert.equal(formatEndpoint(stunMappedAddress(msg)!), '1.2.3.4:5')
    const old = hex('0001 0000 0102030405060708090a0b0c0d0e0f10')
    const m2 = decodeStunMessage(response(old, 0x0101, [[0x0001, plainV4([9, 9, 9, 9], 1)]]))
    assert.equal(m2.hasMagicCookie, false)
    assert.equal(formatEndpoint(stunMappedAddress(m2)!), '9.9.9.9:1')
  })
  it('reads ERROR-CODE and handles responses without an address', () => {
    const req = encodeStunBindingRequest(TID)
    const m = decodeStunMessage(
      response(req, 0x0111, [[0x0009, Uint8Array.of(0, 0, 4, 20, ...Buffer.from('Unknown'))]]),
    )
    assert.deepEqual(stunErrorCode(m), { code: 420, reason: 'Unknown' })
    assert.equal(stunMappedAddress(decodeStunMessage(response(req, 0x0101, []))), undefined)
    assert.equal(
      stunMappedAddress(decodeStunMessage(response(req, 0x0101, [[0x0001, Uint8Array.of(0, 3, 0, 0)]]))),
      undefined,
    )
  })
  it('rejects truncated, oversized, non-STUN and overrunning messages', () => {
    const req = encodeStunBindingRequest(TID)
    const good = response(req, 0x0101, [[0x0020, xorV4([1, 1, 1, 1], 1)]])
    assert.throws(() => decodeStunMessage(good.subarray(0, 19)), DecodeError)
    assert.throws(() => decodeStunMessage(good.subarray(0, good.length - 1)), /overruns the packet/)
    const bad = good.slice()
    bad[23] = 200 // attribute length beyond the message
    assert.throws(() => decodeStunMessage(bad), /overruns the message/)
    const notStun = good.slice()
    notStun[0] = 0xc0
    assert.throws(() => decodeStunMessage(notStun), /not a STUN message/)
    assert.throws(() => decodeStunMessage(new Uint8Array(3000)), /larger than/)
  })
  it('random bytes throw only DecodeError', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 120 }), (b) => {
        try {
          const m = decodeStunMessage(b)
          stunMappedAddress(m)
          stunErrorCode(m)
        } catch (e) {
          assert.ok(e instanceof DecodeError)
        }
      }),
      { numRuns: 5000 },
    )
  })
  it('parses host:port', () => {
    assert.deepEqual(parseHostPort('10.99.0.2:3478', 1), { host: '10.99.0.2', port: 3478 })
    assert.deepEqual(parseHostPort('stun.example.org', 3478), { host: 'stun.example.org', port: 3478 })
    assert.deepEqual(parseHostPort('[2001:db8::1]:19302', 1), { host: '2001:db8::1', port: 19302 })
    for (const bad of ['', 'a:b', 'a:0', 'a:70000', '::1', '[::1', '[nope]:1', 'a b:1', 'x:1:2']) {
      assert.throws(() => parseHostPort(bad, 1), DecodeError, bad)
    }
  })
})

describe('StunNat', () => {
  function server(udp: FakeUdpNetwork, host: string, reply: (req: Uint8Array) => Uint8Array[]) {
    udp.on(host, 3478, (d) => reply(d).map((data) => ({ data })))
  }
  it('asks the server and checks the transaction id', async () => {
    const clock = new SimulatedClock(0)
    const udp = new FakeUdpNetwork(clock)
    server(udp, '10.99.0.2', (req) => {
      const wrong = req.slice()
      wrong[19] = wrong[19]! ^ 1
      return [
        response(wrong, 0x0101, [[0x0020, xorV4([6, 6, 6, 6], 1)]]),
        new Uint8Array(7),
        response(req, 0x0101, [[0x0001, plainV4([10, 99, 0, 1], 1)]]),
      ]
    })
    const nat = new StunNat('10.99.0.2:3478', fakeDeps(clock, udp), NAT_DEFAULTS)
    assert.equal(formatIP(await nat.externalIP()), '10.99.0.1')
    assert.equal(nat.toString(), 'STUN(10.99.0.2:3478)')
    assert.equal(nat.spec, 'stun:10.99.0.2:3478')
    assert.equal(await nat.addMapping('tcp', 0, 30303, 'x', 60), 30303)
    await nat.deleteMapping('tcp', 30303, 30303)
    assert.equal(nat.supportsMapping, false)
  })
  it('surfaces an error response as StunError', async () => {
    const clock = new SimulatedClock(0)
    const udp = new FakeUdpNetwork(clock)
    server(udp, '10.99.0.2', (req) => [response(req, 0x0111, [[0x0009, Uint8Array.of(0, 0, 5, 0, 0x78)]])])
    const nat = new StunNat('10.99.0.2', fakeDeps(clock, udp), NAT_DEFAULTS)
    await assert.rejects(
      nat.externalIP(),
      (e: unknown) => e instanceof StunError && /error 500/.test(e.message),
    )
  })
  it('tries up to three random default servers, moving on after a timeout', async () => {
    const clock = new SimulatedClock(0)
    const udp = new FakeUdpNetwork(clock)
    const servers = ['a.example:3478', 'b.example:3478', 'c.example:3478', 'd.example:3478']
    // nobody answers
    const nat = new StunNat(undefined, fakeDeps(clock, udp), { ...NAT_DEFAULTS, stunServers: servers })
    assert.equal(nat.toString(), 'STUN')
    const r = await settle(clock, nat.externalIP(), 50)
    assert.ok(!r.ok && r.error instanceof StunError)
    const asked = new Set(udp.sent.map((p) => p.to))
    assert.equal(asked.size, 3)
    for (const a of asked) assert.ok(servers.includes(a))
    // retransmissions: 500 ms doubling within the 3 s bound per server
    const first = udp.sent.filter((p) => p.to === udp.sent[0]!.to).map((p) => p.at)
    assert.deepEqual(first, [0, 500, 1500])
  })
})

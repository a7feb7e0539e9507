/** discv4 wire codec: the EIP-8 vectors (and the EIP-868 conflict), round trips, limits, fuzzing. */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import { generatePrivateKey, keccak256, publicKeyFromPrivate, sign } from '../../../src/crypto/index.js'
import {
  chunkNeighbors,
  DEFAULT_EXPIRATION_MS,
  decodePacket,
  encodePacket,
  expirationFromNow,
  isExpired,
  MAX_NEIGHBORS,
  MAX_PACKET_SIZE,
  type Packet,
  packetExpired,
  type WireNode,
} from '../../../src/discv4/index.js'
import { ENR } from '../../../src/enr/index.js'
import { encode, type RlpValue } from '../../../src/rlp/index.js'
import {
  concatBytes,
  DecodeError,
  formatIP,
  fromHex,
  parseIP,
  seededRandom,
  toHex,
} from '../../../src/util/index.js'
import { loadVectors } from '../../helpers/vectors.js'

interface Ep {
  ip: string
  udp: number
  tcp: number
}
interface Case {
  name: string
  packet: string
  expected: {
    type: number
    version?: number
    from?: Ep
    to?: Ep
    expiration: number
    enr_seq?: number | null
    rest_rlp: string[]
    pre_eip868_rest_rlp?: string[]
    hash: string
    signature: string
    ping_hash?: string
    target?: string
    nodes?: (Ep & { id: string })[]
    signer_pubkey: string
    signer_node_id: string
  }
}
const V = loadVectors<{ cases: Case[]; signer_pubkey: string }>('discv4-eip8-packets.json')

const restHex = (rest: readonly RlpValue[] | undefined): string[] => (rest ?? []).map((r) => toHex(encode(r)))
const ep = (e: { ip: Uint8Array; udp: number; tcp: number }): Ep => ({
  ip: formatIP(e.ip),
  udp: e.udp,
  tcp: e.tcp,
})
const isDecodeError = (e: unknown): boolean => e instanceof DecodeError

describe('discv4-eip8-packets.json', () => {
  for (const c of V.cases) {
    it(c.name, () => {
      const d = decodePacket(fromHex(c.packet))
      const x = c.expected
      const p = d.packet
      assert.equal(toHex(d.hash), x.hash)
      assert.equal(toHex(d.senderKey), x.signer_pubkey)
      assert.equal(toHex(d.senderId), x.signer_node_id)
      assert.equal(fromHex(c.packet)[97], x.type)
      assert.ok('expiration' in p)
      assert.equal(p.expiration, x.expiration)
      switch (p.kind) {
        case 'ping':
          assert.equal(p.version, x.version)
          assert.deepEqual(ep(p.from), x.from)
          assert.deepEqual(ep(p.to), x.to)
          assert.equal(
            p.enrSeq,
            x.enr_seq === null || x.enr_seq === undefined ? undefined : BigInt(x.enr_seq),
          )
          assert.deepEqual(restHex(p.rest), x.rest_rlp)
          break
        case 'pong':
          assert.deepEqual(ep(p.to), x.to)
          assert.equal(toHex(p.replyTok), x.ping_hash)
          assert.equal(
            p.enrSeq,
            x.enr_seq === null || x.enr_seq === undefined ? undefined : BigInt(x.enr_seq),
          )
          assert.deepEqual(restHex(p.rest), x.rest_rlp)
          break
        case 'findnode':
          assert.equal(toHex(p.target), x.target)
          assert.deepEqual(restHex(p.rest), x.rest_rlp)
          break
        case 'neighbors':
          assert.deepEqual(
            p.nodes.map((n) => ({ ...ep(n), id: toHex(n.key) })),
            x.nodes,
          )
          assert.deepEqual(restHex(p.rest), x.rest_rlp)
          break
        default:
          assert.fail(`unexpected kind ${p.kind}`)
      }
    })
  }

  // EIP-868 vs EIP-8: these two packets carry a list where EIP-868 put the optional enr-seq.
  // Decision: lenient. A non-integer enr-seq is read as absent and kept in `rest`, so the
  // packets are accepted (geth's typed decoder rejects them and dropped the vectors).
  it('EIP-868 conflict: a list in the enr-seq position decodes as "no enr-seq", kept in rest', () => {
    for (const name of ['ping-v555', 'pong']) {
      const c = V.cases.find((x) => x.name === name)!
      const p = decodePacket(fromHex(c.packet)).packet
      assert.ok(p.kind === 'ping' || p.kind === 'pong')
      assert.equal(p.enrSeq, undefined)
      assert.deepEqual(restHex(p.rest), c.expected.pre_eip868_rest_rlp)
    }
  })

  it('a well-formed enr-seq is taken out of rest (ping-v4-extra: seq 1)', () => {
    const c = V.cases.find((x) => x.name === 'ping-v4-extra')!
    const p = decodePacket(fromHex(c.packet)).packet
    assert.equal(p.kind, 'ping')
    assert.equal(p.kind === 'ping' ? p.enrSeq : undefined, 1n)
  })

  it('a non-canonical enr-seq (leading zero) is treated as absent, not as an error', () => {
    const key = generatePrivateKey(seededRandom(3))
    const ping: Packet = {
      kind: 'ping',
      version: 4,
      from: { ip: parseIP('10.0.0.1'), udp: 30303, tcp: 30303 },
      to: { ip: parseIP('10.0.0.2'), udp: 30303, tcp: 0 },
      expiration: 2_000_000_000,
      rest: [Uint8Array.of(0, 1)],
    }
    const p = decodePacket(encodePacket(key, ping).bytes).packet
    assert.equal(p.kind === 'ping' ? p.enrSeq : 'x', undefined)
    assert.deepEqual(restHex(p.rest), ['820001'])
  })
})

const rnd = seededRandom(42)
const KEY = generatePrivateKey(rnd)
const PUB = publicKeyFromPrivate(KEY)

const ipArb = fc.oneof(
  fc.uint8Array({ minLength: 4, maxLength: 4 }),
  fc.uint8Array({ minLength: 16, maxLength: 16 }),
)
const portArb = fc.integer({ min: 0, max: 65535 })
const expArb = fc.integer({ min: 0, max: 2 ** 40 })
const endpointArb = fc.record({ ip: ipArb, udp: portArb, tcp: portArb })
const seqArb = fc.option(fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }), { nil: undefined })
const keyArb = fc.uint8Array({ minLength: 64, maxLength: 64 })
const nodeArb: fc.Arbitrary<WireNode> = fc.record({ ip: ipArb, udp: portArb, tcp: portArb, key: keyArb })
const restArb = fc.array(fc.uint8Array({ minLength: 1, maxLength: 8 }), { maxLength: 2 })

const packetArb: fc.Arbitrary<Packet> = fc.oneof(
  fc.record({
    kind: fc.constant('ping' as const),
    version: fc.integer({ min: 0, max: 1000 }),
    from: endpointArb,
    to: endpointArb,
    expiration: expArb,
    enrSeq: seqArb,
  }),
  fc.record({
    kind: fc.constant('pong' as const),
    to: endpointArb,
    replyTok: fc.uint8Array({ minLength: 32, maxLength: 32 }),
    expiration: expArb,
    enrSeq: seqArb,
  }),
  fc.record({ kind: fc.constant('findnode' as const), target: keyArb, expiration: expArb, rest: restArb }),
  fc.record({
    kind: fc.constant('neighbors' as const),
    nodes: fc.array(nodeArb, { maxLength: MAX_NEIGHBORS }),
    expiration: expArb,
  }),
  fc.record({ kind: fc.constant('enrRequest' as const), expiration: expArb, rest: restArb }),
)

/** Plain JSON of a packet (bytes as hex, bigints as text, empty `rest` and absent seq dropped). */
function normalise(p: Packet): string {
  const { rest, ...fields } = p as Packet & { rest?: readonly RlpValue[] }
  const out: Record<string, unknown> = { ...fields }
  if (out.enrSeq === undefined) delete out.enrSeq
  if (rest !== undefined && rest.length > 0) out.rest = rest.map((r) => toHex(encode(r)))
  return JSON.stringify(out, (_k, v: unknown) =>
    v instanceof Uint8Array ? toHex(v) : typeof v === 'bigint' ? `${v}n` : v,
  )
}

describe('round trips', () => {
  it('encode → decode gives the same packet, hash and signer (property)', () => {
    fc.assert(
      fc.property(packetArb, (p) => {
        const { bytes, hash } = encodePacket(KEY, p)
        assert.ok(bytes.length <= MAX_PACKET_SIZE)
        const d = decodePacket(bytes)
        assert.deepEqual(d.hash, hash)
        assert.deepEqual(d.senderKey, PUB)
        assert.equal(normalise(d.packet), normalise(p))
      }),
      { numRuns: 150 },
    )
  })

  it('ENRRequest / ENRResponse (EIP-868) round trip with the record intact', () => {
    const rec = new ENR().setIp('203.0.113.9').setUdp(30303).setTcp(30303).sign(KEY)
    const req = encodePacket(KEY, { kind: 'enrRequest', expiration: 1234 })
    const resp = encodePacket(KEY, { kind: 'enrResponse', replyTok: req.hash, record: rec })
    const d = decodePacket(resp.bytes).packet
    assert.equal(d.kind, 'enrResponse')
    if (d.kind !== 'enrResponse') return
    assert.deepEqual(d.replyTok, req.hash)
    assert.deepEqual(d.record.encode(), rec.encode())
    assert.ok(d.record.verify())
    assert.equal(packetExpired(d, Number.MAX_SAFE_INTEGER), false, 'ENRResponse never expires')
  })

  it('extra list elements and trailing bytes are ignored (EIP-8)', () => {
    const { bytes } = encodePacket(KEY, { kind: 'enrRequest', expiration: 99, rest: [Uint8Array.of(7)] })
    // Trailing bytes after the list break the hash, so re-hash and re-sign by hand.
    const body = concatBytes(bytes.subarray(97), Uint8Array.of(1, 2, 3))
    const sig = sign(keccak256(body), KEY)
    const hash = keccak256(concatBytes(sig, body))
    const d = decodePacket(concatBytes(hash, sig, body)).packet
    assert.equal(d.kind, 'enrRequest')
    assert.deepEqual(restHex(d.rest), ['07'])
  })
})

describe('limits', () => {
  const v6node = (i: number): WireNode => ({
    ip: parseIP(`2001:db8::${i + 1}`),
    udp: 65535,
    tcp: 65535,
    key: new Uint8Array(64).fill(0xff),
  })

  it('12 IPv6 nodes fit into one Neighbors packet; 16 do not (RangeError)', () => {
    const twelve = Array.from({ length: MAX_NEIGHBORS }, (_, i) => v6node(i))
    const ok = encodePacket(KEY, { kind: 'neighbors', nodes: twelve, expiration: 2 ** 32 - 1 })
    assert.ok(ok.bytes.length <= MAX_PACKET_SIZE)
    const sixteen = Array.from({ length: 16 }, (_, i) => v6node(i))
    assert.throws(() => encodePacket(KEY, { kind: 'neighbors', nodes: sixteen, expiration: 1 }), RangeError)
  })

  it('chunkNeighbors splits 16 into 12 + 4', () => {
    const chunks = chunkNeighbors(Array.from({ length: 16 }, (_, i) => i))
    assert.deepEqual(
      chunks.map((c) => c.length),
      [12, 4],
    )
    assert.deepEqual(chunkNeighbors([]), [])
  })

  it('packets above 1280 bytes and at or below the head size are rejected', () => {
    const { bytes } = encodePacket(KEY, { kind: 'enrRequest', expiration: 1 })
    assert.throws(() => decodePacket(bytes.subarray(0, 98)), isDecodeError)
    assert.throws(() => decodePacket(new Uint8Array(MAX_PACKET_SIZE + 1)), isDecodeError)
  })

  it('bad hash, unknown type and bad signature are DecodeErrors', () => {
    const { bytes } = encodePacket(KEY, { kind: 'enrRequest', expiration: 1 })
    const badHash = bytes.slice()
    badHash[0] = badHash[0]! ^ 1
    assert.throws(() => decodePacket(badHash), /bad hash/)
    // unknown type 66 with a valid hash and signature
    const body = concatBytes(Uint8Array.of(66), encode([1]))
    const sig = sign(keccak256(body), KEY)
    const pkt = concatBytes(keccak256(concatBytes(sig, body)), sig, body)
    assert.throws(() => decodePacket(pkt), /unknown packet type 66/)
    // recovery id 4 with a valid hash
    const sig2 = sig.slice()
    sig2[64] = 4
    const pkt2 = concatBytes(keccak256(concatBytes(sig2, body)), sig2, body)
    assert.throws(() => decodePacket(pkt2), isDecodeError)
  })
})

describe('expiration', () => {
  it('expirationFromNow is absolute Unix seconds 20 s ahead; isExpired compares with now', () => {
    const now = 1_700_000_000_000
    assert.equal(expirationFromNow(now), 1_700_000_020)
    assert.equal(DEFAULT_EXPIRATION_MS, 20_000)
    assert.equal(isExpired(1_700_000_020, now), false)
    assert.equal(isExpired(1_699_999_999, now), true)
    assert.equal(isExpired(1_700_000_000, now), false)
    assert.equal(packetExpired({ kind: 'enrRequest', expiration: 1_699_999_000 }, now), true)
  })
})

describe('fuzzing: the decoder throws only DecodeError', () => {
  const onlyDecodeError = (bytes: Uint8Array): void => {
    try {
      decodePacket(bytes)
    } catch (e) {
      if (!(e instanceof DecodeError)) throw e
    }
  }

  it('random bytes', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 1400 }), onlyDecodeError), { numRuns: 300 })
  })

  it('random bodies behind a valid hash and signature (reaches the body decoder)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 8 }), fc.uint8Array({ maxLength: 300 }), (type, body) => {
        const tb = concatBytes(Uint8Array.of(type), body)
        const sig = sign(keccak256(tb), KEY)
        onlyDecodeError(concatBytes(keccak256(concatBytes(sig, tb)), sig, tb))
      }),
      { numRuns: 200 },
    )
  })

  it('random RLP structures as bodies of every type', () => {
    const rlpArb = fc.letrec((tie) => ({
      item: fc.oneof(
        { depthSize: 'small' },
        fc.uint8Array({ maxLength: 70 }),
        fc.array(tie('item'), { maxLength: 5 }),
      ),
    })).item as fc.Arbitrary<RlpValue>
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 6 }), rlpArb, (type, v) => {
        const tb = concatBytes(Uint8Array.of(type), encode(v))
        if (tb.length + 97 > MAX_PACKET_SIZE) return
        const sig = sign(keccak256(tb), KEY)
        onlyDecodeError(concatBytes(keccak256(concatBytes(sig, tb)), sig, tb))
      }),
      { numRuns: 300 },
    )
  })

  it('mutations of the vector packets', () => {
    const packets = V.cases.map((c) => fromHex(c.packet))
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: packets.length - 1 }),
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 4 }),
        fc.nat(),
        (i, edits, cut) => {
          const b = packets[i]!.slice()
          for (const [pos, val] of edits) b[pos % b.length] = val
          onlyDecodeError(b)
          onlyDecodeError(b.subarray(0, cut % (b.length + 1)))
        },
      ),
      { numRuns: 300 },
    )
  })
})

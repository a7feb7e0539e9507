/** ENR (EIP-778): vectors from EIP-778 and go-ethereum, structure and size rules, properties. */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import {
  generatePrivateKey,
  getSecp256k1Backend,
  keccak256,
  publicKeyFromPrivate,
  setSecp256k1Backend,
} from '../../../src/crypto/index.js'
import { base64UrlDecode, base64UrlEncode, ENR, ENR_MAX_SIZE, parseEnr } from '../../../src/enr/index.js'
import { decode, encode, encodeRawList } from '../../../src/rlp/index.js'
import { DecodeError, DevP2PError, fromHex, seededRandom, toHex } from '../../../src/util/index.js'
import { loadVectors } from '../../helpers/vectors.js'

interface ValidRecord {
  name: string
  text: string
  rlp: string
  private_key?: string
  expected: {
    seq: number
    signature: string
    pairs: [string, string][]
    fields: { id: string; ip?: string; secp256k1: string; udp?: number }
    node_id: string
    public_key: string
    size: number
  }
}
interface EnrVectors {
  valid_records: ValidRecord[]
  invalid_records: { name: string; text: string; rlp?: string }[]
  rlp_structure_cases: { cases: { input: string; expected_error: string | null }[] }
  size_cases: { rlp: string; size: number }[]
}
const V = loadVectors<EnrVectors>('enr.json')
const isEnrError = (e: unknown): boolean => e instanceof DecodeError && e.what === 'enr'

describe('enr vectors: valid records', () => {
  for (const v of V.valid_records) {
    it(`${v.name}: decodes, verifies and re-encodes`, () => {
      const r = ENR.fromText(v.text)
      const x = v.expected
      assert.equal(r.seq, BigInt(x.seq))
      assert.equal(toHex(r.signature!), x.signature)
      assert.deepEqual(
        r.entries().map((e) => [Buffer.from(e.key).toString('latin1'), toHex(decode(e.value) as Uint8Array)]),
        x.pairs,
      )
      assert.deepEqual(
        r.keys(),
        x.pairs.map((p) => p[0]),
      )
      assert.equal(r.id, x.fields.id)
      assert.equal(toHex(r.secp256k1!), x.fields.secp256k1)
      assert.equal(r.ip, x.fields.ip)
      assert.equal(r.udp, x.fields.udp)
      assert.equal(r.tcp, undefined)
      assert.equal(toHex(r.publicKey!), x.public_key)
      assert.equal(toHex(r.nodeId!), x.node_id)
      assert.equal(r.size, x.size)
      assert.equal(r.verify(), true)
      assert.equal(toHex(r.encode()), v.rlp)
      assert.equal(r.toText(), v.text)
      assert.equal(toHex(ENR.decode(fromHex(v.rlp)).encode()), v.rlp)
      assert.equal(parseEnr(v.text).toText(), v.text)
    })
    if (v.private_key !== undefined) {
      const key = fromHex(v.private_key)
      it(`${v.name}: signing the same content reproduces the record`, () => {
        const r = new ENR().setSeq(BigInt(v.expected.seq))
        if (v.expected.fields.ip !== undefined) r.setIp(v.expected.fields.ip)
        if (v.expected.fields.udp !== undefined) r.setUdp(v.expected.fields.udp)
        r.sign(key)
        assert.equal(r.verify(), true)
        assert.equal(toHex(r.nodeId!), v.expected.node_id)
        assert.equal(toHex(r.encode()), v.rlp)
        assert.equal(r.toText(), v.text)
      })
    }
  }
})

describe('enr vectors: invalid records', () => {
  for (const v of V.invalid_records) {
    it(`${v.name}: rejected with DecodeError`, () => {
      assert.throws(() => ENR.fromText(v.text), isEnrError)
      if (v.rlp !== undefined) assert.throws(() => ENR.decode(fromHex(v.rlp!)), isEnrError)
    })
  }
  it('the bad-signature record is structurally valid but does not verify', () => {
    const bad = V.invalid_records.find((v) => v.name === 'geth-urlv4-bad-signature')!
    const r = ENR.fromText(bad.text, { verify: false })
    assert.equal(r.seq, 99n)
    assert.equal(r.verify(), false)
  })
  for (const c of V.rlp_structure_cases.cases) {
    it(`structure ${c.input}: ${c.expected_error ?? 'decodes'}`, () => {
      const run = (): ENR => ENR.decode(fromHex(c.input), { verify: false })
      if (c.expected_error === null) {
        const r = run()
        assert.equal(r.verify(), false)
        assert.throws(() => ENR.decode(fromHex(c.input)), isEnrError)
      } else assert.throws(run, isEnrError)
    })
  }
  it('size cases (geth TestSize): empty record 3 bytes, one k/v pair 5 bytes', () => {
    const sizes = V.size_cases.map((c) => c.size)
    const r = new ENR()
    assert.equal(r.size, sizes[0])
    assert.equal(ENR.decode(fromHex(V.size_cases[0]!.rlp), { verify: false }).size, sizes[0])
    r.set('k', 'v')
    assert.equal(r.size, sizes[1])
  })
})

function rawRecord(sig: Uint8Array, seq: Uint8Array, kv: Uint8Array[]): Uint8Array {
  return encodeRawList([encode(sig), seq, ...kv])
}

describe('enr structure rules', () => {
  const key = generatePrivateKey(seededRandom(1))
  it('rejects unsorted and duplicate keys', () => {
    const unsorted = rawRecord(new Uint8Array(64), encode(1), [
      encode('udp'),
      encode(1),
      encode('ip'),
      encode(1),
    ])
    assert.throws(() => ENR.decode(unsorted, { verify: false }), /not sorted/)
    const dup = rawRecord(new Uint8Array(64), encode(1), [encode('ip'), encode(1), encode('ip'), encode(2)])
    assert.throws(() => ENR.decode(dup, { verify: false }), /duplicate key/)
  })
  it('rejects a non-canonical or over-64-bit seq, a list as key or signature, trailing bytes', () => {
    const sig = new Uint8Array(64)
    assert.throws(() => ENR.decode(rawRecord(sig, fromHex('820001'), []), { verify: false }), isEnrError)
    assert.throws(() => ENR.decode(rawRecord(sig, fromHex('00'), []), { verify: false }), isEnrError)
    assert.throws(() => ENR.decode(rawRecord(sig, encode(2n ** 64n), []), { verify: false }), isEnrError)
    assert.doesNotThrow(() => ENR.decode(rawRecord(sig, encode(2n ** 64n - 1n), []), { verify: false }))
    assert.throws(() => ENR.decode(encodeRawList([encode([]), encode(1)]), { verify: false }), isEnrError)
    assert.throws(
      () => ENR.decode(rawRecord(sig, encode(1), [encode([]), encode(1)]), { verify: false }),
      isEnrError,
    )
    assert.throws(() => ENR.decode(fromHex('c2808000'), { verify: false }), isEnrError)
    assert.throws(() => ENR.decode(fromHex('80'), { verify: false }), isEnrError)
  })
  it('rejects records over 300 bytes when decoding and signing', () => {
    const r = new ENR().set('big', new Uint8Array(150))
    r.sign(key)
    const ok = r.encode()
    assert.ok(ok.length <= ENR_MAX_SIZE)
    const before = r.toText()
    r.set('big', new Uint8Array(250))
    assert.throws(() => r.sign(key), RangeError)
    assert.equal(r.signed, false)
    assert.equal(r.get('big') instanceof Uint8Array && (r.get('big') as Uint8Array).length, 250)
    assert.equal(ENR.fromText(before).verify(), true)
    const tooBig = encodeRawList([
      encode(new Uint8Array(64)),
      encode(1),
      encode('x'),
      encode(new Uint8Array(240)),
    ])
    assert.ok(tooBig.length > ENR_MAX_SIZE)
    assert.throws(() => ENR.decode(tooBig, { verify: false }), /bigger than 300/)
    assert.throws(() => ENR.fromText(`enr:${base64UrlEncode(tooBig)}`), /bigger than 300/)
  })
  it('fills exactly 300 bytes', () => {
    const r = new ENR()
    r.sign(key)
    const base = r.size
    // value of n bytes (n >= 56) costs n + 2 bytes; key "x" 1 byte; the list header grows 2 -> 3.
    r.set('x', new Uint8Array(ENR_MAX_SIZE - base - 1 - 2 - 1))
    r.sign(key)
    assert.equal(r.encode().length, ENR_MAX_SIZE)
    assert.equal(ENR.decode(r.encode()).verify(), true)
  })
  it('rejects unknown identity schemes and missing keys on verification', () => {
    const r = new ENR().set('id', 'v5')
    assert.throws(() => r.set('secp256k1', new Uint8Array(33)), RangeError)
    const other = encodeRawList([encode(new Uint8Array(64)), encode(1), encode('id'), encode('v5')])
    assert.throws(() => ENR.decode(other), /identity scheme/)
    assert.equal(ENR.decode(other, { verify: false }).id, 'v5')
    assert.equal(r.verify(), false)
  })
  it('rejects a high-S signature (libsecp256k1 / geth rule)', () => {
    const r = new ENR().setIp('10.0.0.1').sign(key)
    const sig = r.signature!
    const n = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n
    const s = BigInt(`0x${toHex(sig.subarray(32))}`)
    const highS = fromHex((n - s).toString(16).padStart(64, '0'))
    const forged = new Uint8Array(64)
    forged.set(sig.subarray(0, 32))
    forged.set(highS, 32)
    const content = decode(r.encode()) as Uint8Array[]
    const bytes = encodeRawList([encode(forged), ...content.slice(1).map((x) => encode(x))])
    assert.throws(() => ENR.decode(bytes), /invalid signature/)
  })
})

describe('enr record API', () => {
  const key = generatePrivateKey(seededRandom(2))
  it('typed entries and node id', () => {
    const r = new ENR()
      .setIp('192.168.1.2')
      .setIp('2001:db8::1')
      .setTcp(30303)
      .setUdp(30301)
      .setTcp6(1)
      .setUdp6(2)
    r.set('eth', [[fromHex('deadbeef'), 0]])
    r.sign(key)
    assert.equal(r.ip, '192.168.1.2')
    assert.equal(r.ip6, '2001:db8::1')
    assert.deepEqual([r.tcp, r.udp, r.tcp6, r.udp6], [30303, 30301, 1, 2])
    assert.deepEqual(r.keys(), ['eth', 'id', 'ip', 'ip6', 'secp256k1', 'tcp', 'tcp6', 'udp', 'udp6'])
    assert.deepEqual(r.get('eth'), [[fromHex('deadbeef'), new Uint8Array(0)]])
    assert.deepEqual(r.nodeId, keccak256(publicKeyFromPrivate(key)))
    assert.deepEqual(r.publicKey, publicKeyFromPrivate(key))
    const back = ENR.decode(r.encode())
    assert.deepEqual(back.entries(), r.entries())
    assert.equal(back.toText(), r.toText())
  })
  it('a port of 256 or more takes 2 bytes; port 0 is the empty string', () => {
    const r = new ENR().setTcp(256).setUdp(0)
    assert.deepEqual(r.getRaw('tcp'), fromHex('820100'))
    assert.deepEqual(r.getRaw('udp'), fromHex('80'))
  })
  it('maps IPv4-mapped IPv6 text to the ip entry', () => {
    const r = new ENR().setIp('::ffff:1.2.3.4')
    assert.equal(r.ip, '1.2.3.4')
    assert.equal(r.has('ip6'), false)
  })
  it('checks well-known values', () => {
    const r = new ENR()
    assert.throws(() => r.setTcp(65536), RangeError)
    assert.throws(() => r.set('udp', 70000), RangeError)
    assert.throws(() => r.set('ip', new Uint8Array(5)), RangeError)
    assert.throws(() => r.set('ip6', new Uint8Array(4)), RangeError)
    assert.throws(() => r.setIp('1.2.3'), RangeError)
    assert.throws(() => r.set('id', []), RangeError)
    assert.throws(() => r.setRaw('foo', fromHex('8100')), RangeError)
    assert.throws(() => r.setSeq(-1n), RangeError)
    assert.throws(() => r.setSeq(2n ** 64n), RangeError)
  })
  it('typed getters read malformed entries as undefined', () => {
    const bad = encodeRawList([
      encode(new Uint8Array(64)),
      encode(1),
      encode('ip'),
      encode(new Uint8Array(5)),
      encode('tcp'),
      encode(new Uint8Array(3)),
      encode('udp'),
      encode(fromHex('0001')),
    ])
    const r = ENR.decode(bad, { verify: false })
    assert.equal(r.ip, undefined)
    assert.equal(r.tcp, undefined)
    assert.equal(r.udp, undefined)
    assert.deepEqual(r.getRaw('udp'), fromHex('820001'))
  })
  it('the first change to a signed record bumps seq once and drops the signature', () => {
    const r = new ENR().setSeq(5n).setUdp(1).sign(key)
    assert.equal(r.seq, 5n)
    r.setUdp(1) // same value: no change
    assert.equal(r.signed, true)
    r.setUdp(2)
    assert.equal(r.seq, 6n)
    assert.equal(r.signed, false)
    assert.throws(() => r.encode(), DevP2PError)
    assert.throws(() => r.toText(), DevP2PError)
    r.setTcp(3)
    assert.equal(r.delete('tcp'), true)
    assert.equal(r.delete('tcp'), false)
    assert.equal(r.seq, 6n)
    r.sign(key)
    assert.equal(r.seq, 6n)
    assert.equal(ENR.decode(r.encode()).verify(), true)
    // Re-signing an unchanged record keeps seq; signing with another key changes content: bump.
    r.sign(key)
    assert.equal(r.seq, 6n)
    r.sign(generatePrivateKey(seededRandom(3)))
    assert.equal(r.seq, 7n)
    assert.equal(r.verify(), true)
  })
  it('clone is independent', () => {
    const a = new ENR().setUdp(1).sign(key)
    const b = a.clone()
    b.setUdp(2)
    assert.equal(a.udp, 1)
    assert.equal(a.verify(), true)
    assert.equal(b.udp, 2)
  })
})

describe('enr text and base64url', () => {
  it('rejects a missing prefix, padding, bad characters and impossible lengths', () => {
    assert.throws(() => ENR.fromText('-IS4QHCY'), /missing 'enr:' prefix/)
    assert.throws(() => base64UrlDecode('AA=='), /padding not allowed/)
    assert.throws(() => base64UrlDecode('AA+A'), /illegal base64 data at input byte 2/)
    assert.throws(() => base64UrlDecode('x'), /illegal base64 data at input byte 0/)
    assert.throws(() => base64UrlDecode('AAAAA'), DecodeError)
    assert.deepEqual(base64UrlDecode(''), new Uint8Array(0))
  })
  it('base64url round trip', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 100 }), (b) => {
        const t = base64UrlEncode(b)
        assert.ok(!t.includes('='))
        assert.deepEqual(base64UrlDecode(t), b)
      }),
    )
  })
})

describe('enr properties', () => {
  const keys = [1, 2, 3].map((s) => generatePrivateKey(seededRandom(100 + s)))
  const arbKey = fc
    .stringMatching(/^[a-z]{1,6}$/)
    .filter(
      (k) => !['id', 'secp256k1', 'ip', 'ip6', 'tcp', 'udp', 'tcp6', 'udp6', 'quic', 'quic6'].includes(k),
    )
  it('sign / encode / decode / text round trip of random records', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...keys),
        fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }),
        fc.option(fc.uint8Array({ minLength: 4, maxLength: 4 })),
        fc.option(fc.uint8Array({ minLength: 16, maxLength: 16 })),
        fc.option(fc.integer({ min: 0, max: 65535 })),
        fc.dictionary(arbKey, fc.uint8Array({ maxLength: 20 }), { maxKeys: 4 }),
        (key, seq, ip, ip6, port, extra) => {
          const r = new ENR().setSeq(seq)
          if (ip !== null) r.setIp(ip)
          if (ip6 !== null && !ip6.subarray(0, 12).every((x, i) => x === (i < 10 ? 0 : 0xff))) r.setIp(ip6)
          if (port !== null) r.setTcp(port).setUdp(port)
          for (const [k, v] of Object.entries(extra)) r.set(k, v)
          r.sign(key)
          const back = ENR.fromText(r.toText())
          assert.equal(back.seq, seq)
          assert.deepEqual(back.entries(), r.entries())
          assert.deepEqual(back.encode(), r.encode())
          assert.equal(back.verify(), true)
        },
      ),
      { numRuns: 100 },
    )
  })
  it('random bytes and text never throw anything but DecodeError', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 320 }), (b) => {
        try {
          ENR.decode(b)
        } catch (e) {
          assert.ok(isEnrError(e), String(e))
        }
        try {
          ENR.fromText(`enr:${base64UrlEncode(b)}`, { verify: false })
        } catch (e) {
          assert.ok(isEnrError(e), String(e))
        }
      }),
      { numRuns: 1000 },
    )
    fc.assert(
      fc.property(fc.string({ maxLength: 60 }), (s) => {
        for (const t of [s, `enr:${s}`]) {
          try {
            ENR.fromText(t)
          } catch (e) {
            assert.ok(isEnrError(e), String(e))
          }
        }
      }),
      { numRuns: 1000 },
    )
  })
  it('flipping any byte of a signed record makes it fail to decode or verify', () => {
    const r = new ENR()
      .setIp('10.1.2.3')
      .setUdp(30303)
      .set('eth', [[fromHex('01020304'), 0]])
      .sign(keys[0]!)
    const enc = r.encode()
    fc.assert(
      fc.property(fc.nat({ max: enc.length - 1 }), fc.integer({ min: 1, max: 255 }), (at, x) => {
        const b = enc.slice()
        b[at]! ^= x
        assert.throws(() => ENR.decode(b), isEnrError)
      }),
      { numRuns: 500 },
    )
  })
})

describe('enr vectors on the noble secp256k1 backend', () => {
  it('decodes, verifies and re-signs every valid record identically', () => {
    const before = getSecp256k1Backend()
    setSecp256k1Backend('noble')
    try {
      for (const v of V.valid_records) {
        const r = ENR.fromText(v.text)
        assert.equal(toHex(r.nodeId!), v.expected.node_id)
        if (v.private_key === undefined) continue
        const again = new ENR().setSeq(BigInt(v.expected.seq))
        if (v.expected.fields.ip !== undefined) again.setIp(v.expected.fields.ip)
        if (v.expected.fields.udp !== undefined) again.setUdp(v.expected.fields.udp)
        assert.equal(again.sign(fromHex(v.private_key)).toText(), v.text)
      }
      const bad = V.invalid_records.find((v) => v.name === 'geth-urlv4-bad-signature')!
      assert.throws(() => ENR.fromText(bad.text), isEnrError)
    } finally {
      setSecp256k1Backend(before)
    }
  })
})

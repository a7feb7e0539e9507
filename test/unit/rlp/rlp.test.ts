/** RLP: ethereum/tests vectors, geth's canonical-integer cases, strictness and property tests. */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import {
  decode,
  decodeBigUint,
  decodeUint,
  decodeWithRest,
  encode,
  encodeUint,
  expectBytes,
  expectList,
  isList,
  itemLength,
  type RlpValue,
} from '../../../src/rlp/index.js'
import { DecodeError, fromHex, toHex } from '../../../src/util/index.js'
import { loadVectors } from '../../helpers/vectors.js'

type VecIn = string | number | VecIn[]
interface RlpVectors {
  valid: { name: string; in: VecIn; out: string }[]
  invalid: { name: string; out: string }[]
  random_valid: { name: string; out: string }[]
  geth_uint_decoding: { cases: { input: string; expected_value?: number; expected_error?: string }[] }
}
const V = loadVectors<RlpVectors>('rlp.json')

/** Vector input as an RlpValue: strings are latin1 byte strings, "#n" a big integer. */
function toValue(x: VecIn): RlpValue {
  if (Array.isArray(x)) return x.map(toValue)
  if (typeof x === 'number') return encodeUint(x)
  if (x.startsWith('#')) return encodeUint(BigInt(x.slice(1)))
  return Uint8Array.from(Buffer.from(x, 'latin1'))
}
const hex = (s: string): Uint8Array => fromHex(s.toLowerCase())
const byteLen = (n: number): number => (n < 256 ? 1 : n < 65536 ? 2 : n < 2 ** 24 ? 3 : 4)
const bigEndian = (n: number): number[] =>
  Array.from({ length: byteLen(n) }, (_, i) => (n >>> (8 * (byteLen(n) - 1 - i))) & 0xff)
const isDecodeError = (e: unknown): boolean => e instanceof DecodeError && e.what === 'rlp'

describe('rlp vectors', () => {
  for (const v of V.valid) {
    it(`valid ${v.name}: encode and decode`, () => {
      const value = toValue(v.in)
      assert.equal(toHex(encode(value)), toHex(hex(v.out)))
      assert.deepEqual(decode(hex(v.out)), value)
      // Numbers and bigints encode directly too.
      if (typeof v.in === 'number') assert.deepEqual(encode(v.in), hex(v.out))
      if (typeof v.in === 'string' && v.in.startsWith('#'))
        assert.deepEqual(encode(BigInt(v.in.slice(1))), hex(v.out))
    })
  }
  for (const v of V.invalid) {
    it(`invalid ${v.name}: rejected with DecodeError`, () => {
      assert.throws(() => decode(hex(v.out)), isDecodeError)
    })
  }
  for (const v of V.random_valid) {
    it(`random valid ${v.name}: decodes and re-encodes`, () => {
      assert.deepEqual(encode(decode(hex(v.out))), hex(v.out))
    })
  }
  for (const c of V.geth_uint_decoding.cases) {
    it(`geth uint32 ${c.input}: ${c.expected_error ?? c.expected_value}`, () => {
      const read = (): number => decodeUint(decode(hex(c.input)), 'uint32', { maxBytes: 4 })
      if (c.expected_error !== undefined) assert.throws(read, (e: unknown) => e instanceof DecodeError)
      else assert.equal(read(), c.expected_value)
    })
  }
})

describe('rlp strictness', () => {
  it('rejects empty input and trailing bytes, decodeWithRest returns them', () => {
    assert.throws(() => decode(new Uint8Array(0)), isDecodeError)
    assert.throws(() => decode(hex('c0c0')), isDecodeError)
    assert.throws(() => decode(hex('8000')), isDecodeError)
    const { value, rest } = decodeWithRest(hex('c2010299aa'))
    assert.deepEqual(value, [hex('01'), hex('02')])
    assert.deepEqual(rest, hex('99aa'))
    assert.throws(() => decodeWithRest(hex('c3010299')), isDecodeError)
  })
  it('rejects non-canonical items nested inside lists', () => {
    assert.throws(() => decode(hex('c28100')), isDecodeError)
    assert.throws(() => decode(hex('c3b80100')), isDecodeError)
    assert.throws(() => decode(hex('c2c201')), isDecodeError)
  })
  it('bounds nesting depth without recursion', () => {
    // deep(n) is n + 1 nested lists.
    const deep = (n: number): Uint8Array => {
      let b: Uint8Array = hex('c0')
      for (let i = 0; i < n; i++) b = encode([b.length ? decode(b) : []])
      return b
    }
    assert.doesNotThrow(() => decode(deep(63)))
    assert.throws(() => decode(deep(64)), isDecodeError)
    assert.doesNotThrow(() => decode(deep(64), { maxDepth: 65 }))
    // A huge nesting (300 000 levels, long-form headers) is refused by the depth limit.
    const levels: number[][] = []
    let inner = 0
    for (let i = 0; i < 300_000; i++) {
      const h = inner < 56 ? [0xc0 + inner] : [0xf7 + byteLen(inner), ...bigEndian(inner)]
      levels.push(h)
      inner += h.length
    }
    const buf = new Uint8Array(inner)
    let off = 0
    for (let i = levels.length - 1; i >= 0; i--) {
      buf.set(levels[i]!, off)
      off += levels[i]!.length
    }
    assert.throws(
      () => decode(buf),
      (e: unknown) => isDecodeError(e) && /nested deeper/.test((e as Error).message),
    )
    // With a raised limit the same input decodes: the walk itself never recurses.
    assert.doesNotThrow(() => decode(buf, { maxDepth: 1_000_000 }))
  })
  it('itemLength reads the header only', () => {
    assert.equal(itemLength(hex('c2010299')), 3)
    assert.equal(itemLength(hex('05')), 1)
    assert.throws(() => itemLength(hex('c5')), isDecodeError)
  })
  it('encode refuses values with no encoding', () => {
    assert.throws(() => encode(-1), RangeError)
    assert.throws(() => encode(1.5), RangeError)
    assert.throws(() => encode(2 ** 53), RangeError)
    assert.throws(() => encode(-1n), RangeError)
    assert.deepEqual(encode('0x12'), hex('8430783132'))
    assert.deepEqual(encode(2n ** 64n), hex('89010000000000000000'))
  })
  it('decoded values are copies, not views of the input', () => {
    const input = hex('c3820102')
    const v = decode(input) as Uint8Array[]
    input[2] = 0xff
    assert.deepEqual(v[0], hex('0102'))
  })
})

describe('rlp helpers', () => {
  it('expectList returns a typed head and the extra elements', () => {
    const v = decode(hex('c4010203c0'))
    const { items, rest } = expectList(v, 2, 'test')
    assert.deepEqual(items, [hex('01'), hex('02')])
    assert.deepEqual(rest, [hex('03'), []])
    assert.throws(
      () => expectList(v, 5, 'test'),
      (e: unknown) => e instanceof DecodeError && e.what === 'test',
    )
    assert.throws(() => expectList(hex('01'), 0, 'test'), DecodeError)
    assert.equal(isList(v), true)
  })
  it('expectBytes checks kind and bounds', () => {
    assert.deepEqual(expectBytes(hex('0102'), 'b', { len: 2 }), hex('0102'))
    assert.throws(() => expectBytes(hex('0102'), 'b', { len: 3 }), DecodeError)
    assert.throws(() => expectBytes(hex('0102'), 'b', { maxLen: 1 }), DecodeError)
    assert.throws(() => expectBytes(hex('0102'), 'b', { minLen: 3 }), DecodeError)
    assert.throws(() => expectBytes([], 'b'), DecodeError)
  })
  it('decodeUint / decodeBigUint enforce canonical form and range', () => {
    assert.equal(decodeUint(new Uint8Array(0), 'u'), 0)
    assert.equal(decodeUint(hex('ffff'), 'port', { maxBytes: 2 }), 65535)
    assert.throws(() => decodeUint(hex('010000'), 'port', { maxBytes: 2 }), DecodeError)
    assert.throws(() => decodeUint(hex('0001'), 'u'), DecodeError)
    assert.throws(() => decodeUint([], 'u'), DecodeError)
    assert.throws(() => decodeUint(hex('01'), 'u', { maxBytes: 7 }), RangeError)
    assert.equal(decodeBigUint(hex('ffffffffffffffff'), 'seq', { maxBytes: 8 }), 2n ** 64n - 1n)
    assert.throws(() => decodeBigUint(hex('010000000000000000'), 'seq', { maxBytes: 8 }), DecodeError)
    assert.throws(() => decodeBigUint(hex('00'), 'seq'), DecodeError)
  })
  it('encodeUint is minimal big-endian', () => {
    assert.deepEqual(encodeUint(0), new Uint8Array(0))
    assert.deepEqual(encodeUint(256), hex('0100'))
    assert.deepEqual(encodeUint(2n ** 64n - 1n), hex('ffffffffffffffff'))
    assert.throws(() => encodeUint(-1), RangeError)
  })
})

const arbValue: fc.Arbitrary<RlpValue> = fc.letrec<{ v: RlpValue }>((tie) => ({
  v: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.uint8Array({ maxLength: 80 }),
    fc.array(tie('v'), { maxLength: 6 }),
  ),
})).v

describe('rlp properties', () => {
  it('decode(encode(v)) = v for random nested values', () => {
    fc.assert(
      fc.property(arbValue, (v) => {
        const enc = encode(v)
        assert.deepEqual(decode(enc), v)
        assert.equal(itemLength(enc), enc.length)
      }),
      { numRuns: 500 },
    )
  })
  it('integers round-trip through encodeUint/decodeBigUint', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: 0n, max: 2n ** 256n - 1n }), (n) => {
        assert.equal(decodeBigUint(decode(encode(n)), 'n'), n)
      }),
    )
  })
  it('random bytes either decode to a value that re-encodes identically or throw DecodeError', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (b) => {
        let v: RlpValue
        try {
          v = decode(b)
        } catch (e) {
          assert.ok(isDecodeError(e), String(e))
          return
        }
        assert.deepEqual(encode(v), b)
      }),
      { numRuns: 2000 },
    )
  })
  it('mutated valid encodings never throw anything but DecodeError', () => {
    fc.assert(
      fc.property(arbValue, fc.nat(), fc.integer({ min: 0, max: 255 }), (v, at, byte) => {
        const enc = encode(v).slice()
        enc[at % enc.length] = byte
        try {
          const d = decode(enc)
          assert.deepEqual(encode(d), enc)
        } catch (e) {
          assert.ok(isDecodeError(e), String(e))
        }
      }),
      { numRuns: 1000 },
    )
  })
})

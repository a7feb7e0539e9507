import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import {
  checkSnappyLength,
  defaultSnappy,
  jsSnappy,
  MAX_UNCOMPRESSED_SIZE,
  nativeSnappy,
  type SnappyCodec,
  snappyCompress,
  snappyDeclaredLength,
  snappyDecompress,
  snappyLoadError,
} from '../../../src/rlpx/snappy.js'
import { concatBytes, DecodeError, fromHex, toHex } from '../../../src/util/index.js'

/** Little-endian base-128 varint. */
function varint(n: number): Uint8Array {
  const out: number[] = []
  do {
    let b = n % 128
    n = Math.floor(n / 128)
    if (n > 0) b |= 0x80
    out.push(b)
  } while (n > 0)
  return Uint8Array.from(out)
}

const native = nativeSnappy()
const codecs: SnappyCodec[] = [jsSnappy(), ...(native ? [native] : [])]

describe('rlpx snappy: backends', () => {
  it('loads the native backend by default (with copyOutputData), JS as fallback', () => {
    assert.equal(snappyLoadError(), undefined)
    assert.equal(native?.backend, 'native')
    assert.equal(defaultSnappy().backend, process.env.DEVP2P_SNAPPY === 'js' ? 'js' : 'native')
    assert.equal(jsSnappy().backend, 'js')
  })
})

for (const codec of codecs) {
  describe(`rlpx snappy (${codec.backend})`, () => {
    it('compresses a Ping payload as EIP-706 expects (01 00 c0)', () => {
      assert.equal(toHex(snappyCompress(Uint8Array.of(0xc0), codec)), '0100c0')
      assert.equal(toHex(snappyDecompress(fromHex('0100c0'), undefined, codec)), 'c0')
      assert.equal(snappyDecompress(fromHex('00'), undefined, codec).length, 0)
    })
    it('returns plain Uint8Arrays, never Buffers', () => {
      const c = snappyCompress(new Uint8Array(100), codec)
      assert.equal(Object.getPrototypeOf(c), Uint8Array.prototype)
      assert.equal(Object.getPrototypeOf(snappyDecompress(c, undefined, codec)), Uint8Array.prototype)
    })
    it('round-trips random and repetitive data (property), across backends', () => {
      fc.assert(
        fc.property(
          fc.oneof(
            fc.uint8Array({ maxLength: 3000 }),
            fc
              .tuple(fc.uint8Array({ minLength: 1, maxLength: 20 }), fc.integer({ min: 1, max: 500 }))
              .map(([p, n]) => concatBytes(...Array.from({ length: n }, () => p))),
          ),
          (data) => {
            const c = snappyCompress(data, codec)
            for (const other of codecs) assert.deepEqual(snappyDecompress(c, undefined, other), data)
          },
        ),
        { numRuns: 100 },
      )
    })
    it('accepts the best real compression ratios (4 MiB of zeros)', () => {
      const data = new Uint8Array(4 * 1024 * 1024)
      const c = snappyCompress(data, codec)
      assert.equal(checkSnappyLength(c), data.length)
      assert.equal(snappyDecompress(c, undefined, codec).length, data.length)
    })
    it('rejects a declared length above 2^24 - 1 before decompressing', () => {
      const hostile = concatBytes(varint(MAX_UNCOMPRESSED_SIZE + 1), new Uint8Array(1_000_000))
      assert.throws(() => snappyDecompress(hostile, undefined, codec), /exceeds the limit/)
      // A custom lower limit.
      const ok = snappyCompress(new Uint8Array(1000), codec)
      assert.throws(() => snappyDecompress(ok, 999, codec), DecodeError)
      assert.equal(snappyDecompress(ok, 1000, codec).length, 1000)
    })
    it('rejects a 7-byte message claiming 16 MiB without allocating it', () => {
      // @ethereumjs/devp2p allocates whatever such a message claims; we refuse it from the header.
      const hostile = concatBytes(varint(MAX_UNCOMPRESSED_SIZE), Uint8Array.of(0, 0, 0))
      assert.equal(hostile.length, 7)
      assert.throws(() => snappyDecompress(hostile, undefined, codec), /impossible/)
      const before = process.memoryUsage().arrayBuffers
      for (let i = 0; i < 200; i++)
        assert.throws(() => snappyDecompress(hostile, undefined, codec), DecodeError)
      assert.ok(process.memoryUsage().arrayBuffers - before < 64 * 1024 * 1024)
    })
    it('rejects malformed length headers', () => {
      for (const bad of ['', '80', 'ffffffff', '8080808080', 'ffffffff7f', 'ffffffff1f00']) {
        assert.throws(() => snappyDecompress(fromHex(bad), undefined, codec), DecodeError, bad)
      }
      assert.throws(() => snappyDeclaredLength(fromHex('808080808001')), /longer than 5/)
    })
    it('rejects output that does not match the declared length', () => {
      // declares 10 bytes, carries a 3-byte literal
      assert.throws(() => snappyDecompress(fromHex('0a08616263'), undefined, codec), DecodeError)
      // declares 2, carries a 3-byte literal
      assert.throws(() => snappyDecompress(fromHex('0208616263'), undefined, codec), DecodeError)
      // copy from before the start of the output
      assert.throws(() => snappyDecompress(fromHex('0a0061' + '0e0a00'), undefined, codec), DecodeError)
    })
    it('random bytes only ever produce DecodeErrors (property)', () => {
      fc.assert(
        fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
          try {
            snappyDecompress(bytes, undefined, codec)
            return true
          } catch (e) {
            return e instanceof DecodeError
          }
        }),
        { numRuns: 500 },
      )
    })
    it('refuses to compress more than 2^24 - 1 bytes', () => {
      assert.throws(() => snappyCompress(new Uint8Array(MAX_UNCOMPRESSED_SIZE + 1), codec), RangeError)
    })
  })
}

describe('rlpx snappy: strict JS decoder', () => {
  it('agrees with the native decoder on valid and mutated blocks (differential property)', (t) => {
    if (!native) {
      t.skip('native snappy not loaded')
      return
    }
    fc.assert(
      fc.property(
        fc
          .tuple(fc.uint8Array({ minLength: 1, maxLength: 30 }), fc.integer({ min: 1, max: 100 }))
          .map(([p, n]) => concatBytes(...Array.from({ length: n }, () => p))),
        fc.option(fc.tuple(fc.nat(), fc.integer({ min: 1, max: 255 }))),
        fc.option(fc.nat()),
        (data, flip, cut) => {
          let block = native.compress(data)
          if (flip !== null) {
            block = block.slice()
            const i = flip[0] % block.length
            block[i] = block[i]! ^ flip[1]
          }
          if (cut !== null) block = block.subarray(0, cut % (block.length + 1))
          const run = (c: SnappyCodec): string => {
            try {
              return toHex(snappyDecompress(block, undefined, c))
            } catch (e) {
              assert.ok(e instanceof DecodeError)
              return 'error'
            }
          }
          assert.equal(run(jsSnappy()), run(native))
        },
      ),
      { numRuns: 1000 },
    )
  })
})

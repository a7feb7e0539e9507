/**
 * Keccak-256 (the original Keccak with pad byte 0x01, as used by Ethereum; not NIST SHA3-256).
 *
 * - {@link keccak256}, one-shot hashing, runs on hash-wasm's WebAssembly implementation.
 * - {@link KeccakState}, the running hash of the RLPx frame MAC (a 16-byte update and a digest of
 *   the still-open state several times per frame), runs on a small WebAssembly sponge built
 *   here: a Keccak-f[1600] permutation assembled at load time by {@link buildSpongeWasm} from the
 *   specification's step mappings, with 64-bit lanes in WebAssembly locals (a quarter faster
 *   than hash-wasm's on bulk input). Each state keeps, in JS memory, its 200-byte sponge (a
 *   partial block is XORed into it as it comes) and its last digest (232 bytes); an update that
 *   completes a block, or a digest, copies the sponge into the one shared WebAssembly memory,
 *   absorbs whole blocks there and copies it back. Reading the running digest costs one permutation (none when nothing was
 *   absorbed since the last one) and a few hundred bytes of copying, where hash-wasm's hasher
 *   needed its state saved and restored through its API each time. Everything here is
 *   synchronous, so sharing the WebAssembly memory is safe within one thread.
 */
import { createKeccak, type IHasher } from 'hash-wasm'
import { assertBytes } from '../util/assert.js'

const oneShot: IHasher = await createKeccak(256)

/**
 * Keccak-256 of the concatenation of `parts` (32 bytes). Hashing the parts directly is cheaper
 * than concatenating them first.
 */
export function keccak256(...parts: Uint8Array[]): Uint8Array {
  for (let i = 0; i < parts.length; i++) assertBytes(`keccak256 part ${i}`, parts[i])
  oneShot.init()
  for (const p of parts) oneShot.update(p)
  return oneShot.digest('binary')
}

// ---------------------------------------------------------------------------------------------
// The WebAssembly sponge

/** Keccak-256's rate: bytes absorbed per permutation (1088 bits). */
const RATE = 136
/** Size of the sponge state: 25 lanes of 64 bits. */
const STATE_SIZE = 200
/** Where the round constants live in the WebAssembly memory (24 × 8 bytes). */
const RC_OFFSET = 256
/** Where the blocks to absorb are written. */
const DATA_OFFSET = 512
/** Where a {@link KeccakState} keeps its last digest, after its sponge. */
const DIGEST_AT = STATE_SIZE
/** Blocks absorbed per call (the data area fills the 64 KiB page). */
const CHUNK_BLOCKS = Math.floor((65536 - DATA_OFFSET) / RATE)

/** The 24 round constants of Keccak-f[1600] (iota), from the specification's LFSR. */
function keccakRoundConstants(): bigint[] {
  const out: bigint[] = []
  let r = 1
  for (let i = 0; i < 24; i++) {
    let c = 0n
    for (let j = 0; j < 7; j++) {
      r = ((r << 1) ^ ((r >> 7) * 0x71)) & 0xff
      if (r & 2) c |= 1n << BigInt((1 << j) - 1)
    }
    out.push(c)
  }
  return out
}

/** The rotation offsets of rho, `[x][y]`, from the specification's walk over (x, y). */
function keccakRotations(): number[][] {
  const r = Array.from({ length: 5 }, () => new Array<number>(5).fill(0))
  for (let t = 0, x = 1, y = 0; t < 24; t++) {
    r[x]![y] = (((t + 1) * (t + 2)) / 2) % 64
    ;[x, y] = [y, (2 * x + 3 * y) % 5]
  }
  return r
}

function uleb(n: number): number[] {
  const out: number[] = []
  do {
    let b = n & 0x7f
    n >>>= 7
    if (n !== 0) b |= 0x80
    out.push(b)
  } while (n !== 0)
  return out
}

function sleb(n: number): number[] {
  const out: number[] = []
  for (;;) {
    const b = n & 0x7f
    n >>= 7
    if ((n === 0 && (b & 0x40) === 0) || (n === -1 && (b & 0x40) !== 0)) {
      out.push(b)
      return out
    }
    out.push(b | 0x80)
  }
}

function section(id: number, body: number[]): number[] {
  return [id, ...uleb(body.length), ...body]
}

function vec(items: number[][]): number[] {
  return [...uleb(items.length), ...items.flat()]
}

function name(s: string): number[] {
  return vec([...s].map((c) => [c.charCodeAt(0)]))
}

// Opcodes used.
const OP = {
  block: 0x02,
  loop: 0x03,
  br: 0x0c,
  brIf: 0x0d,
  end: 0x0b,
  localGet: 0x20,
  localSet: 0x21,
  localTee: 0x22,
  i64Load: 0x29,
  i64Store: 0x37,
  i32Const: 0x41,
  i64Const: 0x42,
  i32Eqz: 0x45,
  i32LtU: 0x49,
  i32Add: 0x6a,
  i32Sub: 0x6b,
  i64And: 0x83,
  i64Xor: 0x85,
  i64Rotl: 0x89,
} as const
const VOID = 0x40
const I32 = 0x7f
const I64 = 0x7e

/**
 * The bytes of a WebAssembly module exporting `memory` (one 64 KiB page) and
 * `absorb(blocks: i32)`: for each of `blocks` 136-byte blocks at {@link DATA_OFFSET}, XOR it into
 * the sponge state at offset 0 (25 little-endian 64-bit lanes) and apply Keccak-f[1600]. The
 * permutation is the specification's theta, rho, pi, chi and iota on lanes held in locals, 24
 * rounds in a loop reading the round constants from {@link RC_OFFSET}.
 */
function buildSpongeWasm(): Uint8Array {
  // Locals: 0 = blocks (param), 1 = data pointer, 2 = round offset, then i64 lanes.
  const P = 1
  const R = 2
  const A = 3 // a[0..24]: the state
  const B = A + 25 // b[0..24]: after rho and pi
  const C = B + 25 // c[0..4]: column parities
  const D = C + 5 // d[0..4]: theta's mix
  const get = (i: number): number[] => [OP.localGet, ...uleb(i)]
  const set = (i: number): number[] => [OP.localSet, ...uleb(i)]
  const memOp = (op: number, offset: number): number[] => [op, 3, ...uleb(offset)]
  const rot = keccakRotations()
  const code: number[] = []
  const emit = (...bytes: number[][]): void => {
    for (const b of bytes) code.push(...b)
  }
  // Load the state.
  for (let i = 0; i < 25; i++) emit([OP.i32Const, 0], memOp(OP.i64Load, 8 * i), set(A + i))
  emit([OP.i32Const, ...sleb(DATA_OFFSET)], set(P))
  emit([OP.block, VOID], [OP.loop, VOID])
  // while (blocks !== 0)
  emit(get(0), [OP.i32Eqz], [OP.brIf, 1])
  // Absorb one block: the rate is the first 17 lanes.
  for (let i = 0; i < RATE / 8; i++)
    emit(get(A + i), get(P), memOp(OP.i64Load, 8 * i), [OP.i64Xor], set(A + i))
  // 24 rounds.
  emit([OP.i32Const, 0], set(R), [OP.loop, VOID])
  // theta
  for (let x = 0; x < 5; x++) {
    emit(get(A + x))
    for (let y = 1; y < 5; y++) emit(get(A + x + 5 * y), [OP.i64Xor])
    emit(set(C + x))
  }
  // theta's mix d[x] = c[x - 1] ^ rot(c[x + 1], 1), applied to a[x, y] on the way into rho and pi
  for (let x = 0; x < 5; x++)
    emit(
      get(C + ((x + 4) % 5)),
      get(C + ((x + 1) % 5)),
      [OP.i64Const, 1],
      [OP.i64Rotl],
      [OP.i64Xor],
      set(D + x),
    )
  // rho and pi: b[y, 2x + 3y] = rot(a[x, y] ^ d[x], r[x][y])
  for (let x = 0; x < 5; x++)
    for (let y = 0; y < 5; y++) {
      const n = rot[x]![y]!
      emit(get(A + x + 5 * y), get(D + x), [OP.i64Xor])
      if (n !== 0) emit([OP.i64Const, ...sleb(n)], [OP.i64Rotl])
      emit(set(B + y + 5 * ((2 * x + 3 * y) % 5)))
    }
  // chi: a[x, y] = b[x, y] ^ (~b[x + 1, y] & b[x + 2, y])
  for (let y = 0; y < 5; y++)
    for (let x = 0; x < 5; x++)
      emit(
        get(B + x + 5 * y),
        get(B + ((x + 1) % 5) + 5 * y),
        [OP.i64Const, ...sleb(-1)],
        [OP.i64Xor],
        get(B + ((x + 2) % 5) + 5 * y),
        [OP.i64And],
        [OP.i64Xor],
        set(A + x + 5 * y),
      )
  // iota
  emit(get(A), get(R), memOp(OP.i64Load, RC_OFFSET), [OP.i64Xor], set(A))
  // next round
  emit(get(R), [OP.i32Const, 8], [OP.i32Add], [OP.localTee, R], [OP.i32Const, ...sleb(192)], [OP.i32LtU])
  emit([OP.brIf, 0], [OP.end])
  // next block
  emit(get(P), [OP.i32Const, ...sleb(RATE)], [OP.i32Add], set(P))
  emit(get(0), [OP.i32Const, 1], [OP.i32Sub], set(0), [OP.br, 0], [OP.end], [OP.end])
  // Store the state.
  for (let i = 0; i < 25; i++) emit([OP.i32Const, 0], get(A + i), memOp(OP.i64Store, 8 * i))
  emit([OP.end])

  const locals = vec([
    [2, I32],
    [...uleb(25 + 25 + 5 + 5), I64],
  ])
  const body = [...locals, ...code]
  const rc = new Uint8Array(24 * 8)
  const view = new DataView(rc.buffer)
  for (const [i, c] of keccakRoundConstants().entries()) view.setBigUint64(8 * i, c, true)
  return Uint8Array.from([
    ...[0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00],
    ...section(1, vec([[0x60, ...vec([[I32]]), ...vec([])]])), // type 0: (i32) -> ()
    ...section(3, vec([[0]])), // function 0: type 0
    ...section(5, vec([[0x00, 1]])), // memory 0: 1 page, no maximum
    ...section(
      7,
      vec([
        [...name('absorb'), 0x00, 0],
        [...name('memory'), 0x02, 0],
      ]),
    ),
    ...section(10, vec([[...uleb(body.length), ...body]])),
    ...section(11, vec([[0x00, OP.i32Const, ...sleb(RC_OFFSET), OP.end, ...vec([...rc].map((b) => [b]))]])),
  ])
}

/** The part of the WebAssembly JS API used here (this project's type libraries do not declare it). */
declare const WebAssembly: {
  Module: new (bytes: Uint8Array) => object
  Instance: new (module: object) => { readonly exports: object }
}

const sponge = new WebAssembly.Instance(new WebAssembly.Module(buildSpongeWasm())).exports as {
  readonly memory: { readonly buffer: ArrayBuffer }
  readonly absorb: (blocks: number) => void
}
/** The WebAssembly memory (one page, never grown, so the view stays valid). */
const mem = new Uint8Array(sponge.memory.buffer, 0, 65536)
/** Fixed views of the sponge and of the digest in it (no view allocated per call). */
const MEM_STATE = mem.subarray(0, STATE_SIZE)
const MEM_DIGEST = mem.subarray(0, 32)

/** Bytes a {@link KeccakState} keeps: its sponge and its last digest. */
export const KECCAK_STATE_BYTES = DIGEST_AT + 32

/**
 * Two fresh states in one buffer (the two MACs of an RLPx connection): one allocation, and one
 * array buffer kept per connection instead of two.
 */
export function keccakStatePair(): [KeccakState, KeccakState] {
  const store = new Uint8Array(2 * KECCAK_STATE_BYTES)
  return [new KeccakState(store, 0), new KeccakState(store, KECCAK_STATE_BYTES)]
}

/**
 * An incremental Keccak-256 whose running digest can be read without ending it, as the RLPx
 * frame MAC needs: `update()` absorbs more bytes, `digest()` returns the hash of everything
 * absorbed so far and leaves the state open for further updates, and `clone()` forks it.
 *
 * Each instance holds 232 bytes (sponge and last digest); see the file header.
 */
export class KeccakState {
  /**
   * Bytes `#o`..`#o`+199 of `#s`: the sponge state, with the bytes of the partial block (`#pos`
   * of them) already XORed into its first lanes, as absorbing does; the next 32: the last digest,
   * while `#digested` (nothing absorbed since). `#s` may be shared with other states and data
   * (one array per connection holds both MAC states and more): no view of its own per state.
   */
  #s: Uint8Array
  #o: number
  #pos = 0
  #digested = false

  /**
   * A fresh state (the empty hash). `storage`, when given, is where it keeps its
   * {@link KECCAK_STATE_BYTES} bytes, from `offset` on (zeroed here): states that live together
   * can share one buffer (see {@link keccakStatePair}).
   */
  constructor(storage?: Uint8Array, offset = 0) {
    if (storage === undefined) {
      this.#s = new Uint8Array(KECCAK_STATE_BYTES)
      this.#o = 0
    } else {
      assertBytes('storage', storage)
      if (!Number.isInteger(offset) || offset < 0 || offset + KECCAK_STATE_BYTES > storage.length)
        throw new RangeError(
          `storage: ${KECCAK_STATE_BYTES} bytes at offset ${offset} do not fit in ${storage.length}`,
        )
      this.#s = storage.fill(0, offset, offset + KECCAK_STATE_BYTES)
      this.#o = offset
    }
  }

  /** The state's bytes as one view (a new view unless the storage is exactly the state). */
  #bytes(): Uint8Array {
    const s = this.#s
    const o = this.#o
    return o === 0 && s.length === KECCAK_STATE_BYTES ? s : s.subarray(o, o + KECCAK_STATE_BYTES)
  }

  /** Absorb `data`; returns `this` for chaining. */
  update(data: Uint8Array): this {
    assertBytes('data', data)
    const pos = this.#pos
    const n = data.length
    if (n === 0) return this
    this.#digested = false
    if (pos + n < RATE) {
      // Still within the partial block (the MAC's 16-byte updates, mostly): XOR it in.
      const s = this.#s
      const at = this.#o + pos
      for (let i = 0; i < n; i++) s[at + i]! ^= data[i]!
      this.#pos = pos + n
      return this
    }
    // The whole state: its digest bytes land in the unused gap before the round constants.
    const s = this.#bytes()
    mem.set(s, 0)
    let off = 0
    let blocks = 0
    if (pos > 0) {
      // Complete the partial block in the state; a zero block then only permutes it.
      off = RATE - pos
      for (let i = 0; i < off; i++) mem[pos + i]! ^= data[i]!
      mem.fill(0, DATA_OFFSET, DATA_OFFSET + RATE)
      blocks = 1
    }
    for (;;) {
      const take = Math.min(Math.floor((n - off) / RATE), CHUNK_BLOCKS - blocks)
      mem.set(data.subarray(off, off + take * RATE), DATA_OFFSET + blocks * RATE)
      off += take * RATE
      blocks += take
      sponge.absorb(blocks)
      blocks = 0
      if (n - off < RATE) break
    }
    // The tail starts the next partial block.
    for (let i = off; i < n; i++) mem[i - off]! ^= data[i]!
    s.set(MEM_STATE, 0)
    this.#pos = n - off
    return this
  }

  /** Keccak-256 of everything absorbed so far (32 bytes). The state stays open. */
  digest(): Uint8Array {
    const out = new Uint8Array(32)
    this.digestInto(out)
    return out
  }

  /**
   * {@link digest} into `out[0..32)`, allocating nothing (the RLPx MAC reads four digests a
   * frame). The state stays open.
   */
  digestInto(out: Uint8Array): void {
    if (out.length < 32) throw new RangeError(`digestInto: needs 32 bytes, got ${out.length}`)
    // The RLPx MAC reads the digest of an unchanged state twice per frame (the end of one frame's
    // MAC and the start of the next header's): the second time costs no permutation.
    if (this.#digested) {
      const s = this.#s
      const at = this.#o + DIGEST_AT
      for (let i = 0; i < 32; i++) out[i] = s[at + i]!
      return
    }
    const s = this.#bytes()
    const pos = this.#pos
    mem.set(s, 0)
    // The last block: the pending bytes are in the state already; absorb Keccak's padding
    // 0x01 ... 0x80 at their end.
    mem.fill(0, DATA_OFFSET, DATA_OFFSET + RATE)
    mem[DATA_OFFSET + pos] = 0x01
    mem[DATA_OFFSET + RATE - 1] = mem[DATA_OFFSET + RATE - 1]! | 0x80
    sponge.absorb(1)
    s.set(MEM_DIGEST, DIGEST_AT)
    out.set(MEM_DIGEST, 0)
    this.#digested = true
  }

  /**
   * An independent copy of this state; kept in `storage` from `offset` on when given (as the
   * constructor's).
   */
  clone(storage?: Uint8Array, offset = 0): KeccakState {
    const c = new KeccakState(storage, offset)
    c.#s.set(this.#bytes(), c.#o)
    c.#pos = this.#pos
    c.#digested = this.#digested
    return c
  }
}

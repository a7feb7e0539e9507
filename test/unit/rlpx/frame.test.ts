import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import { KeccakState, keccak256, publicKeyFromPrivate } from '../../../src/crypto/index.js'
import {
  decodeMsgCode,
  encodeMsgCode,
  FRAME_HEADER_SIZE,
  FrameCodec,
  FrameMacError,
  frameBodyLength,
  MAX_FRAME_SIZE,
  type MacState,
} from '../../../src/rlpx/frame.js'
import { deriveSecrets, type SessionSecrets } from '../../../src/rlpx/handshake.js'
import { concatBytes, DecodeError, fromHex, seededRandom, toHex } from '../../../src/util/index.js'
import { loadVectors } from '../../helpers/vectors.js'

interface FrameVectors {
  cases: {
    name: string
    inputs: {
      aes_secret: string
      mac_secret: string
      fake_mac_digest: string
      msg_code: number
      msg_data: string
    }
    expected: { frame: string; decoded_frame_content: string }
  }[]
}
interface LegacyVectors {
  cases: {
    name: string
    inputs: Record<string, string>
    expected: Record<string, string>
    derived_by_research: { frames: unknown }
  }[]
}

const h = fromHex

/** go-ethereum's fake MAC hash: ignores writes, digest is always 32 × 0x01. */
function fakeMac(digest: Uint8Array): MacState {
  return { update: () => undefined, digest: () => digest.slice() }
}

/** Both sides' secrets of the aleth legacy handshake (test_secrets_from_go). */
function alethSecrets(): { init: SessionSecrets; recv: SessionSecrets; c: LegacyVectors['cases'][number] } {
  const L = loadVectors<LegacyVectors>('rlpx-legacy-handshake.json')
  const c = L.cases.find((x) => x.name === 'test_secrets_from_go')!
  const i = c.inputs
  const common = {
    initiatorNonce: h(i.initiator_nonce!),
    recipientNonce: h(i.receiver_nonce!),
    authPacket: h(i.auth_ciphertext!),
    ackPacket: h(i.authresp_ciphertext!),
  }
  const init = deriveSecrets({
    ...common,
    initiator: true,
    ephemeralPrivateKey: h(i.initiator_ephemeral_private_key!),
    remoteEphemeralPublicKey: publicKeyFromPrivate(h(i.receiver_ephemeral_private_key!)),
    remotePublicKey: publicKeyFromPrivate(h(i.receiver_private_key!)),
  })
  const recv = deriveSecrets({
    ...common,
    initiator: false,
    ephemeralPrivateKey: h(i.receiver_ephemeral_private_key!),
    remoteEphemeralPublicKey: publicKeyFromPrivate(h(i.initiator_ephemeral_private_key!)),
    remotePublicKey: publicKeyFromPrivate(h(i.initiator_private_key!)),
  })
  return { init, recv, c }
}

/** Two codecs facing each other, from one set of session secrets with random keys. */
function codecPair(seed = 1): [FrameCodec, FrameCodec] {
  const r = seededRandom(seed)
  const aesSecret = r.bytes(32)
  const macSecret = r.bytes(32)
  const m1 = r.bytes(32)
  const m2 = r.bytes(32)
  const a = new FrameCodec({
    aesSecret,
    macSecret,
    egressMac: new KeccakState().update(m1),
    ingressMac: new KeccakState().update(m2),
  })
  const b = new FrameCodec({
    aesSecret,
    macSecret,
    egressMac: new KeccakState().update(m2),
    ingressMac: new KeccakState().update(m1),
  })
  return [a, b]
}

describe('rlpx frame: message code', () => {
  it('encodes codes as canonical RLP integers', () => {
    assert.equal(toHex(encodeMsgCode(0)), '80')
    assert.equal(toHex(encodeMsgCode(1)), '01')
    assert.equal(toHex(encodeMsgCode(0x7f)), '7f')
    assert.equal(toHex(encodeMsgCode(0x80)), '8180')
    assert.equal(toHex(encodeMsgCode(0x1234)), '821234')
    assert.throws(() => encodeMsgCode(-1), RangeError)
  })
  it('decodes strictly', () => {
    assert.deepEqual(decodeMsgCode(h('80aa')), { code: 0, length: 1 })
    assert.deepEqual(decodeMsgCode(h('10')), { code: 16, length: 1 })
    assert.deepEqual(decodeMsgCode(h('8180')), { code: 128, length: 2 })
    for (const bad of ['', '00', '8101', '820012', '82', 'c0', 'b8', `87${'01'.repeat(7)}`])
      assert.throws(() => decodeMsgCode(h(bad)), DecodeError, bad)
  })
  it('round-trips any safe code (property)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 2 ** 48 - 1 }), (n) => {
        const e = encodeMsgCode(n)
        const d = decodeMsgCode(e)
        return d.code === n && d.length === e.length
      }),
    )
  })
})

describe('rlpx frame: vectors', () => {
  it("go-ethereum's TestFrameReadWrite frame (fake MAC), both directions", () => {
    const v = loadVectors<FrameVectors>('rlpx-frame.json').cases[0]!
    const digest = h(v.inputs.fake_mac_digest)
    const secrets = {
      aesSecret: h(v.inputs.aes_secret),
      macSecret: h(v.inputs.mac_secret),
      egressMac: fakeMac(digest),
      ingressMac: fakeMac(digest),
    }
    assert.equal(toHex(secrets.aesSecret), toHex(keccak256()))
    const w = new FrameCodec(secrets)
    const frame = w.encodeFrame(v.inputs.msg_code, h(v.inputs.msg_data))
    assert.equal(toHex(frame), v.expected.frame)
    const r = new FrameCodec(secrets)
    const hdr = r.decodeHeader(h(v.expected.frame).subarray(0, FRAME_HEADER_SIZE))
    assert.deepEqual(hdr, { frameSize: 6, bodyLength: 32 })
    const m = r.decodeBody(h(v.expected.frame).subarray(FRAME_HEADER_SIZE))
    assert.equal(m.code, v.inputs.msg_code)
    assert.equal(toHex(m.payload), v.inputs.msg_data)
    assert.equal(toHex(concatBytes(encodeMsgCode(m.code), m.payload)), v.expected.decoded_frame_content)
  })
  it('the aleth Hello frames with real MACs: golden encoding and decoding both ways', () => {
    const { c } = alethSecrets()
    const frames = c.derived_by_research.frames as { frame: string; sender: string; frame_data: string }[]
    assert.equal(frames.length, 2)
    for (const f of frames) {
      const wire = h(c.expected[f.frame]!)
      const data = h(f.frame_data)
      const code = decodeMsgCode(data)
      const payload = data.subarray(code.length)
      // Fresh secrets for each codec: MAC states advance with use.
      const fresh = alethSecrets()
      const [senderSecrets, receiverSecrets] =
        f.sender === 'initiator' ? [fresh.init, fresh.recv] : [fresh.recv, fresh.init]
      const enc = new FrameCodec(senderSecrets).encodeFrame(code.code, payload)
      assert.equal(toHex(enc), toHex(wire), `${f.frame}: golden bytes`)
      const dec = new FrameCodec(receiverSecrets).decodeFrame(wire)
      assert.equal(dec.code, 0)
      assert.equal(dec.payload.length, 79 - 1)
      assert.equal(toHex(dec.payload), toHex(payload))
      assert.equal(dec.consumed, wire.length)
    }
  })
  it('the aleth frames also decode with the initial MAC digests the vector gives', () => {
    const { init, c } = alethSecrets()
    assert.equal(toHex(init.egressMac.digest()), c.expected.initial_egress_MAC)
    assert.equal(toHex(init.ingressMac.digest()), c.expected.initial_ingress_MAC)
    const m = new FrameCodec(init).decodeFrame(h(c.expected.receiver_hello_packet!))
    assert.equal(m.code, 0)
  })
})

describe('rlpx frame: codec', () => {
  it('round-trips random messages between two codecs, in order (property)', () => {
    const [a, b] = codecPair(5)
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.integer({ min: 0, max: 0xffff }), fc.uint8Array({ maxLength: 300 })), {
          minLength: 1,
          maxLength: 8,
        }),
        (msgs) => {
          // a → b as one byte stream, b → a frame by frame
          const stream = concatBytes(...msgs.map(([code, p]) => a.encodeFrame(code, p)))
          let off = 0
          for (const [code, p] of msgs) {
            const m = b.decodeFrame(stream.subarray(off))
            off += m.consumed
            assert.equal(m.code, code)
            assert.deepEqual(m.payload, p)
          }
          assert.equal(off, stream.length)
          for (const [code, p] of msgs) {
            const f = b.encodeFrame(code, p)
            const hdr = a.decodeHeader(f.subarray(0, 32))
            assert.equal(hdr.bodyLength, f.length - 32)
            const m = a.decodeBody(f.subarray(32))
            assert.equal(m.code, code)
            assert.deepEqual(m.payload, p)
          }
        },
      ),
      { numRuns: 50 },
    )
  })
  it('releaseIfIdle drops the cipher contexts only after a period without frames; frames still round-trip after (property)', () => {
    const [a, b] = codecPair(6)
    assert.equal(a.holdsCiphers, false, 'no context before the first frame')
    fc.assert(
      fc.property(
        fc.array(
          fc.tuple(fc.uint8Array({ maxLength: 100 }), fc.constantFrom('none', 'a', 'b', 'both', 'between')),
          { minLength: 1, maxLength: 10 },
        ),
        (steps) => {
          for (const [p, when] of steps) {
            const f = a.encodeFrame(0x10, p)
            if (when === 'a' || when === 'both') {
              // Used since the last check: nothing released; an idle period later: released.
              assert.equal(a.releaseIfIdle(), true)
              assert.equal(a.releaseIfIdle(), false)
              assert.equal(a.holdsCiphers, false)
            }
            const h = b.decodeHeader(f.subarray(0, 32))
            if (when === 'between' || when === 'b' || when === 'both') {
              b.releaseIfIdle()
              b.releaseIfIdle()
              assert.equal(b.holdsCiphers, false)
            }
            const m = b.decodeBody(f.subarray(32, 32 + h.bodyLength))
            assert.equal(m.code, 0x10)
            assert.deepEqual(m.payload, p)
          }
        },
      ),
      { numRuns: 60 },
    )
  })
  it('computes padded body lengths', () => {
    assert.equal(frameBodyLength(1), 32)
    assert.equal(frameBodyLength(16), 32)
    assert.equal(frameBodyLength(17), 48)
    assert.equal(frameBodyLength(MAX_FRAME_SIZE), 0x1000000 + 16)
  })
  it('refuses to encode frames over 2^24 - 1 bytes, without touching its state', () => {
    const [a, b] = codecPair(2)
    assert.throws(() => a.encodeFrame(1, new Uint8Array(MAX_FRAME_SIZE)), RangeError)
    const ok = a.encodeFrame(0x10, new Uint8Array(MAX_FRAME_SIZE - 2))
    const m = b.decodeFrame(ok)
    assert.equal(m.payload.length, MAX_FRAME_SIZE - 2)
  })
  it('a bad header MAC is a FrameMacError and the reader stays failed', () => {
    const [a, b] = codecPair(3)
    const f = a.encodeFrame(2, Uint8Array.of(0xc0))
    const bad = f.slice()
    bad[20] = bad[20]! ^ 1
    assert.throws(
      () => b.decodeHeader(bad.subarray(0, 32)),
      (e: unknown) => e instanceof FrameMacError && e.part === 'header' && e instanceof DecodeError,
    )
    // never retried: even the right bytes now fail
    assert.throws(() => b.decodeHeader(f.subarray(0, 32)), FrameMacError)
  })
  it('a bad frame MAC or a flipped body byte is a FrameMacError', () => {
    for (const pos of [-1, 40]) {
      const [a, b] = codecPair(4)
      const f = a.encodeFrame(2, new Uint8Array(20))
      const bad = f.slice()
      const i = pos < 0 ? bad.length + pos : pos
      bad[i] = bad[i]! ^ 0x80
      b.decodeHeader(bad.subarray(0, 32))
      assert.throws(
        () => b.decodeBody(bad.subarray(32)),
        (e: unknown) => e instanceof FrameMacError && e.part === 'frame',
      )
    }
  })
  it('wrong-length inputs are DecodeErrors', () => {
    const [, b] = codecPair(6)
    assert.throws(() => b.decodeHeader(new Uint8Array(31)), DecodeError)
    const [c, d] = codecPair(6)
    const f = c.encodeFrame(1, new Uint8Array(3))
    d.decodeHeader(f.subarray(0, 32))
    assert.throws(() => d.decodeBody(f.subarray(32, f.length - 1)), DecodeError)
  })
  it('random and mutated bytes only ever produce DecodeErrors (property)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 1000 }),
        fc.uint8Array({ minLength: 0, maxLength: 200 }),
        fc.option(fc.tuple(fc.nat(), fc.integer({ min: 1, max: 255 }))),
        (seed, random, mutation) => {
          const [a, b] = codecPair(seed)
          let bytes: Uint8Array
          if (mutation === null) bytes = random
          else {
            bytes = a.encodeFrame(seed & 0xff, random)
            const i = mutation[0] % bytes.length
            bytes[i] = bytes[i]! ^ mutation[1]
          }
          try {
            b.decodeFrame(bytes)
          } catch (e) {
            return e instanceof DecodeError
          }
          return false // a random or mutated frame must never pass the MACs
        },
      ),
      { numRuns: 300 },
    )
  })
})

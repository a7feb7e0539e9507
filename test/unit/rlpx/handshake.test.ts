import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import { ECIES_OVERHEAD, eciesEncrypt, keccak256, publicKeyFromPrivate } from '../../../src/crypto/index.js'
import { encode } from '../../../src/rlp/index.js'
import {
  ACK_LEGACY_SIZE,
  AUTH_LEGACY_SIZE,
  decodeAck,
  decodeAuth,
  deriveSecrets,
  type HandshakeFormat,
  InitiatorHandshake,
  MAX_HANDSHAKE_SIZE,
  RecipientHandshake,
  readHandshakePacket,
} from '../../../src/rlpx/handshake.js'
import {
  concatBytes,
  DecodeError,
  fromHex,
  HandshakeError,
  seededRandom,
  toHex,
  utf8,
} from '../../../src/util/index.js'
import { loadVectors } from '../../helpers/vectors.js'

interface Eip8Vectors {
  keys: Record<'static_a' | 'static_b' | 'ephemeral_a' | 'ephemeral_b' | 'nonce_a' | 'nonce_b', string>
  derived_public_keys: Record<'static_a' | 'static_b' | 'ephemeral_a' | 'ephemeral_b', string>
  auth_packets: {
    name: string
    ciphertext: string
    expected: {
      signature: string
      initiator_pubkey: string
      initiator_nonce: string
      format: HandshakeFormat
      version: number
      rest_rlp?: unknown[]
      size_prefix?: number
    }
  }[]
  ack_packets: {
    name: string
    ciphertext: string
    expected: {
      recipient_ephemeral_pubkey: string
      recipient_nonce: string
      format: HandshakeFormat
      version: number
      rest_rlp?: unknown[]
    }
  }[]
  secrets: {
    auth: string
    ack: string
    aes_secret: string
    mac_secret: string
    ingress_mac_foo: string
    derived_by_research: { ephemeral_shared_secret: string; shared_secret: string }
  }
}

interface LegacyVectors {
  cases: {
    name: string
    inputs: Record<string, string>
    expected: Record<string, string>
  }[]
}

const V = loadVectors<Eip8Vectors>('rlpx-eip8-handshake.json')
const L = loadVectors<LegacyVectors>('rlpx-legacy-handshake.json')
const h = fromHex

/** A reader over a fixed byte string, recording how many bytes were asked for. */
function bytesReader(data: Uint8Array): { read: (n: number) => Promise<Uint8Array>; consumed: () => number } {
  let off = 0
  return {
    read: async (n) => {
      if (off + n > data.length) throw new Error(`EOF: wanted ${n} at ${off} of ${data.length}`)
      const out = data.subarray(off, off + n)
      off += n
      return out
    },
    consumed: () => off,
  }
}

/** Both sides over one in-process exchange; returns both secrets and the packets. */
function runPair(opts: { authFormat?: HandshakeFormat; seed?: number } = {}) {
  const rand = seededRandom(opts.seed ?? 1)
  const privA = h(V.keys.static_a)
  const privB = h(V.keys.static_b)
  const a = new InitiatorHandshake({
    privateKey: privA,
    remotePublicKey: publicKeyFromPrivate(privB),
    random: rand,
  })
  const b = new RecipientHandshake({ privateKey: privB, random: rand })
  const auth = a.makeAuth(opts.authFormat ?? 'eip8')
  const authMsg = b.readAuth(auth, opts.authFormat ?? 'eip8')
  const ack = b.makeAck()
  const { secrets: sa } = a.readAck(ack, authMsg.format)
  const sb = b.secrets()
  return { auth, ack, sa, sb, authMsg }
}

describe('rlpx handshake: EIP-8 vectors', () => {
  for (const p of V.auth_packets) {
    it(`decodes ${p.name} (${p.expected.format}) with B's key`, async () => {
      const packet = h(p.ciphertext)
      const m = decodeAuth(h(V.keys.static_b), packet, p.expected.format)
      assert.equal(toHex(m.signature), p.expected.signature)
      assert.equal(toHex(m.initiatorPublicKey), p.expected.initiator_pubkey)
      assert.equal(toHex(m.initiatorNonce), p.expected.initiator_nonce)
      assert.equal(m.version, p.expected.version)
      assert.equal(m.rest.length, p.expected.rest_rlp?.length ?? 0)
      if (p.expected.size_prefix !== undefined) assert.equal(packet.length, p.expected.size_prefix + 2)
      else assert.equal(packet.length, AUTH_LEGACY_SIZE)

      // The recipient recovers A's ephemeral key from the signature.
      const b = new RecipientHandshake({ privateKey: h(V.keys.static_b) })
      // Packet boundaries on a stream: format detected from the bytes.
      const r = bytesReader(concatBytes(packet, Uint8Array.of(1, 2, 3)))
      const got = await readHandshakePacket(r.read, AUTH_LEGACY_SIZE, (pk, f) => b.readAuth(pk, f))
      assert.equal(got.format, p.expected.format)
      assert.equal(r.consumed(), packet.length)
      assert.equal(toHex(b.remotePublicKey), V.derived_public_keys.static_a)
    })
  }
  it('keeps Auth3 extra list elements in rest', () => {
    const p = V.auth_packets.find((x) => x.name === 'Auth3')!
    const m = decodeAuth(h(V.keys.static_b), h(p.ciphertext), 'eip8')
    assert.deepEqual(m.rest, [Uint8Array.of(1), Uint8Array.of(2), [Uint8Array.of(4), Uint8Array.of(5)]])
  })
  for (const p of V.ack_packets) {
    it(`decodes ${p.name} (${p.expected.format}) with A's key`, async () => {
      const packet = h(p.ciphertext)
      const m = decodeAck(h(V.keys.static_a), packet, p.expected.format)
      assert.equal(toHex(m.recipientEphemeralPublicKey), p.expected.recipient_ephemeral_pubkey)
      assert.equal(toHex(m.recipientNonce), p.expected.recipient_nonce)
      assert.equal(m.version, p.expected.version)
      assert.equal(m.rest.length, p.expected.rest_rlp?.length ?? 0)
      const r = bytesReader(packet)
      const f = await readHandshakePacket(r.read, ACK_LEGACY_SIZE, (_pk, fmt) => fmt)
      assert.equal(f, p.expected.format)
      assert.equal(r.consumed(), packet.length)
    })
  }
  it('keeps Ack3 extra list elements in rest', () => {
    const p = V.ack_packets.find((x) => x.name === 'Ack3')!
    const m = decodeAck(h(V.keys.static_a), h(p.ciphertext), 'eip8')
    assert.deepEqual(m.rest, [Uint8Array.of(6), [Uint8Array.of(7), Uint8Array.of(8)], Uint8Array.of(0xfa)])
  })
  it("derives B's secrets and ingress MAC for (Auth2, Ack2)", () => {
    const s = V.secrets
    const auth = h(V.auth_packets.find((x) => x.name === s.auth)!.ciphertext)
    const ack = h(V.ack_packets.find((x) => x.name === s.ack)!.ciphertext)
    // The recipient side, driven by the class with B's fixed ephemeral key and nonce.
    const b = new RecipientHandshake({
      privateKey: h(V.keys.static_b),
      ephemeralPrivateKey: h(V.keys.ephemeral_b),
      nonce: h(V.keys.nonce_b),
    })
    b.readAuth(auth, 'eip8')
    // Feed the vector's ack as "sent" by deriving directly (our makeAck would pad differently).
    const secrets = deriveSecrets({
      initiator: false,
      ephemeralPrivateKey: h(V.keys.ephemeral_b),
      remoteEphemeralPublicKey: h(V.derived_public_keys.ephemeral_a),
      initiatorNonce: h(V.keys.nonce_a),
      recipientNonce: h(V.keys.nonce_b),
      authPacket: auth,
      ackPacket: ack,
      remotePublicKey: h(V.derived_public_keys.static_a),
    })
    assert.equal(toHex(secrets.ephemeralSharedSecret), s.derived_by_research.ephemeral_shared_secret)
    assert.equal(toHex(secrets.sharedSecret), s.derived_by_research.shared_secret)
    assert.equal(toHex(secrets.aesSecret), s.aes_secret)
    assert.equal(toHex(secrets.macSecret), s.mac_secret)
    assert.equal(toHex(secrets.ingressMac.update(utf8('foo')).digest()), s.ingress_mac_foo)

    // A's view of the same exchange agrees (egress of A = ingress of B).
    const a = new InitiatorHandshake({
      privateKey: h(V.keys.static_a),
      remotePublicKey: h(V.derived_public_keys.static_b),
      ephemeralPrivateKey: h(V.keys.ephemeral_a),
      nonce: h(V.keys.nonce_a),
    })
    a.makeAuth() // sets the internal auth packet; replace it with the vector's by deriving directly
    const sa = deriveSecrets({
      initiator: true,
      ephemeralPrivateKey: h(V.keys.ephemeral_a),
      remoteEphemeralPublicKey: h(V.derived_public_keys.ephemeral_b),
      initiatorNonce: h(V.keys.nonce_a),
      recipientNonce: h(V.keys.nonce_b),
      authPacket: auth,
      ackPacket: ack,
      remotePublicKey: h(V.derived_public_keys.static_b),
    })
    assert.equal(toHex(sa.aesSecret), s.aes_secret)
    assert.equal(toHex(sa.egressMac.update(utf8('foo')).digest()), s.ingress_mac_foo)
  })
  it('the recipient recovers the ephemeral key the vectors name', () => {
    const auth = h(V.auth_packets.find((x) => x.name === 'Auth2')!.ciphertext)
    const b = new RecipientHandshake({
      privateKey: h(V.keys.static_b),
      ephemeralPrivateKey: h(V.keys.ephemeral_b),
      nonce: h(V.keys.nonce_b),
    })
    b.readAuth(auth, 'eip8')
    b.makeAck()
    const s = b.secrets()
    // Same ephemeral shared secret as the vector: proves the recovered key is ephemeral_a.
    assert.equal(toHex(s.ephemeralSharedSecret), V.secrets.derived_by_research.ephemeral_shared_secret)
    assert.equal(toHex(s.aesSecret), V.secrets.aes_secret)
  })
})

describe('rlpx handshake: legacy (aleth) vectors', () => {
  const c = L.cases.find((x) => x.name === 'test_secrets_from_go')!
  const i = c.inputs
  it('decrypts the legacy auth and ack and re-derives every secret and initial MAC', async () => {
    const auth = h(i.auth_ciphertext!)
    const ack = h(i.authresp_ciphertext!)
    assert.equal(auth.length, AUTH_LEGACY_SIZE)
    assert.equal(ack.length, ACK_LEGACY_SIZE)

    const recv = new RecipientHandshake({
      privateKey: h(i.receiver_private_key!),
      ephemeralPrivateKey: h(i.receiver_ephemeral_private_key!),
      nonce: h(i.receiver_nonce!),
    })
    const r = bytesReader(auth)
    const m = await readHandshakePacket(r.read, AUTH_LEGACY_SIZE, (pk, f) => recv.readAuth(pk, f))
    assert.equal(m.format, 'legacy')
    assert.equal(toHex(m.initiatorNonce), i.initiator_nonce)
    // bytes [65:] of the plaintext are deterministic
    assert.equal(toHex(m.initiatorPublicKey), i.auth_plaintext!.slice(2 * 97, 2 * 161))

    const ackMsg = decodeAck(h(i.initiator_private_key!), ack, 'legacy')
    assert.equal(toHex(ackMsg.recipientNonce), i.receiver_nonce)

    const init = deriveSecrets({
      initiator: true,
      ephemeralPrivateKey: h(i.initiator_ephemeral_private_key!),
      remoteEphemeralPublicKey: ackMsg.recipientEphemeralPublicKey,
      initiatorNonce: h(i.initiator_nonce!),
      recipientNonce: h(i.receiver_nonce!),
      authPacket: auth,
      ackPacket: ack,
      remotePublicKey: m.initiatorPublicKey,
    })
    assert.equal(toHex(init.ephemeralSharedSecret), c.expected.ecdhe_shared_secret)
    assert.equal(toHex(keccak256(init.sharedSecret)), c.expected.token)
    assert.equal(toHex(init.aesSecret), c.expected.aes_secret)
    assert.equal(toHex(init.macSecret), c.expected.mac_secret)
    assert.equal(toHex(init.egressMac.digest()), c.expected.initial_egress_MAC)
    assert.equal(toHex(init.ingressMac.digest()), c.expected.initial_ingress_MAC)
  })
  it('re-creates the legacy auth plaintext (bytes 65..) and ack plaintext', () => {
    const a = new InitiatorHandshake({
      privateKey: h(i.initiator_private_key!),
      remotePublicKey: publicKeyFromPrivate(h(i.receiver_private_key!)),
      ephemeralPrivateKey: h(i.initiator_ephemeral_private_key!),
      nonce: h(i.initiator_nonce!),
    })
    const auth = a.makeAuth('legacy')
    assert.equal(auth.length, AUTH_LEGACY_SIZE)
    const m = decodeAuth(h(i.receiver_private_key!), auth, 'legacy')
    assert.equal(toHex(m.initiatorNonce), i.initiator_nonce)
    const b = new RecipientHandshake({
      privateKey: h(i.receiver_private_key!),
      ephemeralPrivateKey: h(i.receiver_ephemeral_private_key!),
      nonce: h(i.receiver_nonce!),
    })
    b.readAuth(auth, 'legacy')
    const ack = b.makeAck()
    assert.equal(ack.length, ACK_LEGACY_SIZE)
    const { ack: ackMsg, secrets } = a.readAck(ack, 'legacy')
    assert.equal(toHex(ackMsg.recipientEphemeralPublicKey), i.authresp_plaintext!.slice(0, 128))
    assert.equal(toHex(secrets.ephemeralSharedSecret), c.expected.ecdhe_shared_secret)
    assert.equal(toHex(secrets.aesSecret), c.expected.aes_secret)
  })
  it('matches test_secrets_cpp_vectors (empty auth/ack)', () => {
    const cpp = L.cases.find((x) => x.name === 'test_secrets_cpp_vectors')!
    const x = cpp.inputs
    for (const [k, s] of [
      ['initiator_static_key', 'initiator'],
      ['initiator_nonce', 'initiator-nonce'],
      ['receiver_ephemeral_key', 'remote-recv-random'],
    ] as const)
      assert.equal(toHex(keccak256(utf8(s))), x[k])
    const s = deriveSecrets({
      initiator: true,
      ephemeralPrivateKey: h(x.initiator_ephemeral_key!),
      remoteEphemeralPublicKey: publicKeyFromPrivate(h(x.receiver_ephemeral_key!)),
      initiatorNonce: h(x.initiator_nonce!),
      recipientNonce: h(x.receiver_nonce!),
      authPacket: new Uint8Array(0),
      ackPacket: new Uint8Array(0),
      remotePublicKey: publicKeyFromPrivate(h(x.receiver_static_key!)),
    })
    assert.equal(toHex(s.ephemeralSharedSecret), cpp.expected.ephemeral_shared_secret)
    assert.equal(toHex(s.sharedSecret), cpp.expected.shared_secret)
    assert.equal(toHex(keccak256(s.sharedSecret)), cpp.expected.token)
    assert.equal(toHex(s.aesSecret), cpp.expected.aes_secret)
    assert.equal(toHex(s.macSecret), cpp.expected.mac_secret)
    assert.equal(toHex(s.egressMac.digest().subarray(0, 16)), cpp.expected.initial_egress_mac_digest_first16)
    assert.equal(
      toHex(s.ingressMac.digest().subarray(0, 16)),
      cpp.expected.initial_ingress_mac_digest_first16,
    )
  })
})

describe('rlpx handshake: round trips', () => {
  for (const f of ['eip8', 'legacy'] as const) {
    it(`both sides derive the same secrets (${f} auth; ack answers in kind)`, () => {
      const { auth, ack, sa, sb, authMsg } = runPair({ authFormat: f })
      assert.equal(authMsg.format, f)
      if (f === 'legacy') {
        assert.equal(auth.length, AUTH_LEGACY_SIZE)
        assert.equal(ack.length, ACK_LEGACY_SIZE)
      } else {
        assert.equal(((auth[0]! << 8) | auth[1]!) + 2, auth.length)
        assert.equal(((ack[0]! << 8) | ack[1]!) + 2, ack.length)
      }
      assert.deepEqual(sa.aesSecret, sb.aesSecret)
      assert.deepEqual(sa.macSecret, sb.macSecret)
      assert.deepEqual(sa.egressMac.digest(), sb.ingressMac.digest())
      assert.deepEqual(sa.ingressMac.digest(), sb.egressMac.digest())
      assert.equal(toHex(sa.remotePublicKey), V.derived_public_keys.static_b)
      assert.equal(toHex(sb.remotePublicKey), V.derived_public_keys.static_a)
    })
  }
  it('the auth carries the public key of the bytes the static key array holds now', () => {
    // The initiator's static public key is cached per key array; overwriting the array in place
    // must not reuse the old key's entry.
    const privB = h(V.keys.static_b)
    const pubB = publicKeyFromPrivate(privB)
    const priv = h(V.keys.static_a)
    for (const seed of [1, 2, 3]) {
      if (seed === 3) priv.set(h(V.keys.ephemeral_a))
      const a = new InitiatorHandshake({
        privateKey: priv,
        remotePublicKey: pubB,
        random: seededRandom(seed),
      })
      const b = new RecipientHandshake({ privateKey: privB, random: seededRandom(seed + 10) })
      assert.deepEqual(b.readAuth(a.makeAuth(), 'eip8').initiatorPublicKey, publicKeyFromPrivate(priv))
      const { secrets } = a.readAck(b.makeAck(), 'eip8')
      assert.deepEqual(secrets.aesSecret, b.secrets().aesSecret)
    }
  })
  it('pads EIP-8 packets with 100..300 bytes (property over seeds)', () => {
    const bodyAuth = 169 // RLP[sig, pub, nonce, 4]
    const bodyAck = 102
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 2 ** 31 - 1 }), (seed) => {
        const { auth, ack } = runPair({ seed })
        const padA = auth.length - 2 - ECIES_OVERHEAD - bodyAuth
        const padB = ack.length - 2 - ECIES_OVERHEAD - bodyAck
        return padA >= 100 && padA <= 300 && padB >= 100 && padB <= 300
      }),
      { numRuns: 30 },
    )
  })
})

describe('rlpx handshake: hostile input', () => {
  const privB = h(V.keys.static_b)
  const pubB = publicKeyFromPrivate(privB)
  const isEncError = (e: unknown): boolean =>
    e instanceof HandshakeError && e.stage === 'enc' && e.cause instanceof DecodeError

  it('rejects a size prefix above 2048 before reading the body', async () => {
    const head = Uint8Array.of((MAX_HANDSHAKE_SIZE + 1) >> 8, (MAX_HANDSHAKE_SIZE + 1) & 0xff)
    const r = bytesReader(head)
    await assert.rejects(
      readHandshakePacket(r.read, AUTH_LEGACY_SIZE, () => 0),
      (e: unknown) => e instanceof HandshakeError && e.stage === 'enc',
    )
    assert.equal(r.consumed(), 2)
    // A 0x04 lead byte may be legacy: 307 bytes are tried first, then the EIP-8 size is honoured.
    const r2 = bytesReader(concatBytes(Uint8Array.of(0x04, 0xff), new Uint8Array(0x4ff + 10)))
    const seen: [number, HandshakeFormat][] = []
    const got = await readHandshakePacket(r2.read, AUTH_LEGACY_SIZE, (pk, f) => {
      seen.push([pk.length, f])
      if (f === 'legacy') throw new Error('not legacy')
      return 'ok'
    })
    assert.equal(got, 'ok')
    assert.deepEqual(seen, [
      [AUTH_LEGACY_SIZE, 'legacy'],
      [0x4ff + 2, 'eip8'],
    ])
    assert.equal(r2.consumed(), 0x4ff + 2)
    // Without legacy support the size is read directly.
    const r3 = bytesReader(concatBytes(Uint8Array.of(0x04, 0xff), new Uint8Array(0x4ff)))
    await readHandshakePacket(r3.read, AUTH_LEGACY_SIZE, (_pk, f) => assert.equal(f, 'eip8'), false)
    assert.equal(r3.consumed(), 0x4ff + 2)
  })
  it('rejects a size prefix that cannot hold an ECIES message', async () => {
    const r = bytesReader(Uint8Array.of(0, 50))
    await assert.rejects(
      readHandshakePacket(r.read, AUTH_LEGACY_SIZE, () => 0),
      HandshakeError,
    )
  })
  it('bad MAC, bad point, garbage: HandshakeError with a DecodeError cause', () => {
    const { auth } = runPair()
    const bad = auth.slice()
    bad[bad.length - 1] = bad[bad.length - 1]! ^ 1
    assert.throws(() => decodeAuth(privB, bad, 'eip8'), isEncError)
    const badPoint = auth.slice()
    badPoint[3] = badPoint[3]! ^ 0xff // inside R
    assert.throws(() => decodeAuth(privB, badPoint, 'eip8'), isEncError)
    const badPrefix = auth.slice()
    badPrefix[1] = badPrefix[1]! ^ 1
    assert.throws(() => decodeAuth(privB, badPrefix, 'eip8'), isEncError)
    assert.throws(() => decodeAuth(privB, new Uint8Array(0), 'eip8'), isEncError)
    assert.throws(() => decodeAuth(privB, new Uint8Array(307), 'legacy'), isEncError)
  })
  it('rejects well-encrypted bodies with a bad signature, a bad key or bad RLP', () => {
    const rand = seededRandom(7)
    const seal = (body: Uint8Array): Uint8Array => {
      const plain = concatBytes(body, new Uint8Array(100))
      const prefix = Uint8Array.of(
        (plain.length + ECIES_OVERHEAD) >> 8,
        (plain.length + ECIES_OVERHEAD) & 0xff,
      )
      return concatBytes(prefix, eciesEncrypt(pubB, plain, prefix, rand))
    }
    const nonce = new Uint8Array(32).fill(9)
    const pubA = h(V.derived_public_keys.static_a)
    const cases: Record<string, Uint8Array> = {
      'bad signature': encode([new Uint8Array(65).fill(0xff), pubA, nonce, Uint8Array.of(4)]),
      'key not on curve': encode([
        new Uint8Array(65).fill(1),
        new Uint8Array(64).fill(1),
        nonce,
        Uint8Array.of(4),
      ]),
      'short nonce': encode([new Uint8Array(65), pubA, nonce.subarray(1), Uint8Array.of(4)]),
      'too few elements': encode([new Uint8Array(65), pubA, nonce]),
      'not a list': encode(new Uint8Array(40)),
      'list in place of the signature': encode([[], pubA, nonce, Uint8Array.of(4)]),
      'not RLP': Uint8Array.of(0xf9, 0xff, 0xff),
    }
    for (const [name, body] of Object.entries(cases)) {
      const b = new RecipientHandshake({ privateKey: privB, random: rand })
      assert.throws(() => b.readAuth(seal(body), 'eip8'), isEncError, name)
    }
  })
  it('an ack with an invalid ephemeral key fails the initiator with HandshakeError', () => {
    const rand = seededRandom(3)
    const privA = h(V.keys.static_a)
    const a = new InitiatorHandshake({ privateKey: privA, remotePublicKey: pubB, random: rand })
    a.makeAuth()
    const body = encode([new Uint8Array(64).fill(7), new Uint8Array(32), Uint8Array.of(4)])
    const plain = concatBytes(body, new Uint8Array(100))
    const prefix = Uint8Array.of((plain.length + ECIES_OVERHEAD) >> 8, (plain.length + ECIES_OVERHEAD) & 0xff)
    const ack = concatBytes(prefix, eciesEncrypt(publicKeyFromPrivate(privA), plain, prefix, rand))
    assert.throws(() => a.readAck(ack, 'eip8'), isEncError)
  })
  it('random and mutated packets only ever throw HandshakeError (property)', () => {
    const { auth } = runPair()
    fc.assert(
      fc.property(
        fc.oneof(
          fc.uint8Array({ maxLength: 600 }),
          fc.tuple(fc.nat(auth.length - 1), fc.integer({ min: 1, max: 255 })).map(([i, x]) => {
            const m = auth.slice()
            m[i] = m[i]! ^ x
            return m
          }),
        ),
        fc.constantFrom<HandshakeFormat>('eip8', 'legacy'),
        (bytes, format) => {
          const b = new RecipientHandshake({ privateKey: privB })
          try {
            b.readAuth(bytes, format)
            return false // nothing random may pass
          } catch (e) {
            return e instanceof HandshakeError && e.stage === 'enc'
          }
        },
      ),
      { numRuns: 200 },
    )
  })
})

describe('rlpx handshake: pure-JS secp256k1 backend', () => {
  it('passes the EIP-8 vectors and a round trip on the fallback backend too', async () => {
    const crypto = await import('../../../src/crypto/index.js')
    const before = crypto.getSecp256k1Backend()
    crypto.setSecp256k1Backend('noble')
    try {
      for (const p of V.auth_packets) {
        const b = new RecipientHandshake({ privateKey: h(V.keys.static_b) })
        const m = b.readAuth(h(p.ciphertext), p.expected.format)
        assert.equal(toHex(m.initiatorNonce), p.expected.initiator_nonce)
      }
      for (const p of V.ack_packets) {
        const m = decodeAck(h(V.keys.static_a), h(p.ciphertext), p.expected.format)
        assert.equal(toHex(m.recipientNonce), p.expected.recipient_nonce)
      }
      const { sa, sb } = runPair({ seed: 99 })
      assert.deepEqual(sa.egressMac.digest(), sb.ingressMac.digest())
    } finally {
      crypto.setSecp256k1Backend(before)
    }
  })
})

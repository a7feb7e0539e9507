/**
 * The `primitives` suite: the building blocks every connection and packet pays for.
 * secp256k1 (native libsecp256k1 vs the noble/Node fallback) for key generation, signing,
 * recovery, verification and ECDH; Keccak-256 one-shot (32 B, 64 KiB) and the RLPx MAC step
 * (update 16 B + running digest) with hash-wasm vs @noble/hashes; AES-256-CTR and -ECB; and
 * RLP encode/decode of a discv4 Neighbors-like packet with @ethereumjs/rlp.
 */
import { createCipheriv, randomBytes } from 'node:crypto'
import { RLP } from '@ethereumjs/rlp'
import { secp256k1 as nobleCurve } from '@noble/curves/secp256k1.js'
import { keccak_256 } from '@noble/hashes/sha3.js'
import { createKeccak } from 'hash-wasm'
import {
  createAesCtr,
  createAesEcb,
  ecdh,
  generatePrivateKey,
  getNativeSecp256k1Error,
  getSecp256k1Backend,
  KeccakState,
  keccak256,
  publicKeyFromPrivate,
  recoverPublicKey,
  type Secp256k1BackendName,
  setSecp256k1Backend,
  sign,
  verify,
} from '../src/crypto/index.js'
import { type BenchOptions, type BenchRow, consume, measure, type Suite } from './harness.js'

const POOL = 64

function secpRows(opts: BenchOptions): BenchRow[] {
  const rows: BenchRow[] = []
  const initial = getSecp256k1Backend()
  const backends: Secp256k1BackendName[] =
    getNativeSecp256k1Error() === undefined ? ['native', 'noble'] : ['noble']
  const privs = Array.from({ length: POOL }, () => generatePrivateKey())
  const pubs = privs.map((k) => publicKeyFromPrivate(k))
  const digests = Array.from({ length: POOL }, () => new Uint8Array(randomBytes(32)))
  const sigs = digests.map((d, i) => sign(d, privs[i]!))
  try {
    for (const impl of backends) {
      setSecp256k1Backend(impl)
      const at = (i: number): number => i % POOL
      rows.push({
        name: 'keygen (private + public key)',
        impl,
        ...measure(() => publicKeyFromPrivate(generatePrivateKey()), opts),
      })
      rows.push({ name: 'sign', impl, ...measure((i) => sign(digests[at(i)]!, privs[at(i)]!), opts) })
      rows.push({
        name: 'recover',
        impl,
        ...measure((i) => recoverPublicKey(digests[at(i)]!, sigs[at(i)]!), opts),
      })
      rows.push({
        name: 'verify',
        impl,
        ...measure((i) => verify(digests[at(i)]!, sigs[at(i)]!, pubs[at(i)]!), opts),
      })
      rows.push({ name: 'ecdh', impl, ...measure((i) => ecdh(privs[at(i)]!, pubs[at(i + 1)]!), opts) })
    }
  } finally {
    setSecp256k1Backend(initial)
  }
  const pubs65 = pubs.map((p) => Uint8Array.of(4, ...p))
  rows.push({
    name: 'ecdh',
    impl: '@noble/curves (pure JS, reference)',
    ...measure((i) => nobleCurve.getSharedSecret(privs[i % POOL]!, pubs65[(i + 1) % POOL]!), opts),
  })
  return rows
}

async function keccakRows(opts: BenchOptions): Promise<BenchRow[]> {
  const rows: BenchRow[] = []
  const small = new Uint8Array(randomBytes(32))
  const large = new Uint8Array(randomBytes(64 * 1024))
  rows.push({ name: 'keccak256 32 B', impl: 'hash-wasm', ...measure(() => keccak256(small), opts) })
  rows.push({ name: 'keccak256 32 B', impl: '@noble/hashes', ...measure(() => keccak_256(small), opts) })
  const big = { ...opts, bytesPerOp: large.length }
  rows.push({ name: 'keccak256 64 KiB', impl: 'hash-wasm', ...measure(() => keccak256(large), big) })
  rows.push({ name: 'keccak256 64 KiB', impl: '@noble/hashes', ...measure(() => keccak_256(large), big) })

  // The RLPx MAC step: absorb 16 bytes, read the running digest, keep going.
  const block = new Uint8Array(randomBytes(16))
  const step = 'MAC step (update 16 B + digest)'
  const one = new KeccakState()
  rows.push({
    name: step,
    impl: 'KeccakState (shared hasher)',
    ...measure(() => one.update(block).digest(), opts),
  })
  const egress = new KeccakState()
  const ingress = new KeccakState()
  rows.push({
    name: step,
    impl: 'KeccakState x2 alternating',
    ...measure((i) => (i & 1 ? egress : ingress).update(block).digest(), opts),
  })
  const own = await createKeccak(256)
  own.init()
  rows.push({
    name: step,
    impl: 'hash-wasm hasher per state',
    ...measure(() => {
      own.update(block)
      const saved = own.save()
      const d = own.digest('binary')
      own.load(saved)
      return d
    }, opts),
  })
  const noble = keccak_256.create()
  rows.push({
    name: step,
    impl: '@noble/hashes clone',
    ...measure(() => noble.update(block).clone().digest(), opts),
  })
  rows.push(...(await macStateMemoryRows()))
  return rows
}

/** Memory one running MAC state costs: a KeccakState vs a WASM hasher of its own. */
async function macStateMemoryRows(): Promise<BenchRow[]> {
  const external = (): number => {
    const m = process.memoryUsage()
    return m.external + m.arrayBuffers + m.heapUsed
  }
  const nStates = 10_000
  let before = external()
  const states = Array.from({ length: nStates }, () => new KeccakState().update(new Uint8Array(16)))
  for (const s of states) s.digest()
  const perState = (external() - before) / nStates
  consume(states)
  const nHashers = 100
  before = external()
  const hashers = []
  for (let i = 0; i < nHashers; i++) hashers.push(await createKeccak(256))
  const perHasher = (external() - before) / nHashers
  consume(hashers)
  return [
    { name: 'memory per MAC state', impl: 'KeccakState (shared hasher)', bytes: Math.round(perState) },
    { name: 'memory per MAC state', impl: 'hash-wasm hasher per state', bytes: Math.round(perHasher) },
  ]
}

function aesRows(opts: BenchOptions): BenchRow[] {
  const data = new Uint8Array(randomBytes(64 * 1024))
  const ctr = createAesCtr(new Uint8Array(randomBytes(32)), new Uint8Array(16))
  const ecb = createAesEcb(new Uint8Array(randomBytes(32)))
  const block = new Uint8Array(16)
  const opensslEcb = createCipheriv('aes-256-ecb', randomBytes(32), null)
  opensslEcb.setAutoPadding(false)
  return [
    {
      name: 'AES-256-CTR 64 KiB',
      impl: 'node:crypto',
      ...measure(() => ctr.update(data), { ...opts, bytesPerOp: data.length }),
    },
    {
      name: 'AES-256-ECB block',
      impl: '@noble/ciphers tables (ours, the MAC)',
      ...measure(() => ecb.encryptBlock(block), opts),
    },
    {
      name: 'AES-256-ECB block',
      impl: 'node:crypto (kept cipher)',
      ...measure(() => opensslEcb.update(block), opts),
    },
  ]
}

function rlpRows(opts: BenchOptions): BenchRow[] {
  // discv4 Neighbors: [[ip, udp, tcp, id] x 12, expiration]
  const nodes = Array.from({ length: 12 }, (_, i) => [
    Uint8Array.of(10, 0, i >> 8, i & 0xff),
    30303 + i,
    30303 + i,
    new Uint8Array(randomBytes(64)),
  ])
  const packet = [nodes, 1_700_000_020]
  const encoded = RLP.encode(packet)
  return [
    {
      name: 'RLP encode Neighbors (12 nodes)',
      impl: '@ethereumjs/rlp',
      ...measure(() => RLP.encode(packet), opts),
      bytes: encoded.length,
    },
    {
      name: 'RLP decode Neighbors (12 nodes)',
      impl: '@ethereumjs/rlp',
      ...measure(() => RLP.decode(encoded), opts),
      bytes: encoded.length,
    },
  ]
}

/** Crypto, hashing, AES and RLP building blocks, native vs fallback side by side. */
export const primitivesSuite: Suite = {
  name: 'primitives',
  description: 'secp256k1 (native vs noble), keccak256 and the RLPx MAC step, AES, RLP',
  async run(opts) {
    return [...secpRows(opts), ...(await keccakRows(opts)), ...aesRows(opts), ...rlpRows(opts)]
  },
}

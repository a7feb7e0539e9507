/** enode:// URLs and parseNode: go-ethereum's vectors, round trips and random input. */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import { generatePrivateKey, publicKeyFromPrivate } from '../../../src/crypto/index.js'
import { formatEnode, Node, parseEnode, parseNode } from '../../../src/enode/index.js'
import { DecodeError, formatIP, seededRandom, toHex } from '../../../src/util/index.js'
import { loadVectors } from '../../helpers/vectors.js'

interface UrlCase {
  input: string
  description: string
  expected?: {
    public_key: string
    node_id: string
    ip: string | null
    tcp: number | null
    udp: number | null
    hostname?: string | null
    seq?: number
  }
  expected_error?: string
  roundtrip?: boolean
}
const V = loadVectors<{ cases: UrlCase[] }>('enode-urls.json')
const isDecodeError = (e: unknown): boolean => e instanceof DecodeError

describe('enode-urls.json', () => {
  for (const c of V.cases) {
    it(`${c.description}: ${c.input.slice(0, 48)}`, () => {
      if (c.expected_error !== undefined) {
        assert.throws(() => parseNode(c.input), isDecodeError)
        if (c.input.startsWith('enode://')) {
          assert.throws(
            () => parseEnode(c.input),
            (e: unknown) => e instanceof DecodeError && e.what === 'enode-url',
          )
        }
        return
      }
      const x = c.expected!
      const n = parseNode(c.input)
      assert.equal(toHex(n.publicKey), x.public_key)
      assert.equal(toHex(n.id), x.node_id)
      assert.equal(n.idHex, x.node_id)
      assert.equal(n.ip, x.ip ?? undefined)
      assert.equal(n.tcp, x.tcp ?? 0)
      assert.equal(n.udp, x.udp ?? 0)
      if (x.hostname !== undefined) assert.equal(n.hostname, x.hostname ?? undefined)
      if (x.seq !== undefined) assert.equal(n.seq, BigInt(x.seq))
      if (c.roundtrip) {
        assert.equal(formatEnode(n), c.input)
        assert.equal(n.toEnodeUrl(), c.input)
        assert.equal(n.toString(), c.input)
        assert.equal(formatEnode(parseEnode(c.input)), c.input)
      }
      if (c.input.startsWith('enr:')) assert.equal(n.toString(), c.input)
    })
  }
})

const KEY_HEX =
  '1dd9d65c4552b5eb43d5ad55a2ee3f56c6cbc1c64a5c8d659f51fcd51bace24351232b8d7821617d2b29b54b81cdefb9b3e9c37d7fd5f63270bcc9e1a6f6a439'

describe('enode URL details', () => {
  it('accepts upper-case hex and scheme, formats lower-case', () => {
    const n = parseEnode(`ENODE://${KEY_HEX.toUpperCase()}@10.0.0.1:30303`)
    assert.equal(n.toEnodeUrl(), `enode://${KEY_HEX}@10.0.0.1:30303`)
  })
  it('maps IPv4-mapped IPv6 to IPv4 and canonicalises IPv6', () => {
    assert.equal(parseEnode(`enode://${KEY_HEX}@[::ffff:1.2.3.4]:1`).ip, '1.2.3.4')
    assert.equal(
      parseEnode(`enode://${KEY_HEX}@[2001:DB8:0:0::1]:1`).toEnodeUrl(),
      `enode://${KEY_HEX}@[2001:db8::1]:1`,
    )
  })
  it('discport: omitted when equal, empty means tcp, other params ignored', () => {
    assert.equal(
      parseEnode(`enode://${KEY_HEX}@1.2.3.4:5?discport=5`).toEnodeUrl(),
      `enode://${KEY_HEX}@1.2.3.4:5`,
    )
    assert.equal(parseEnode(`enode://${KEY_HEX}@1.2.3.4:5?discport=`).udp, 5)
    assert.equal(parseEnode(`enode://${KEY_HEX}@1.2.3.4:5?foo=1&discport=7`).udp, 7)
    assert.equal(parseEnode(`enode://${KEY_HEX}@1.2.3.4:5?discport=0`).udp, 0)
  })
  it('keeps DNS names unresolved; withIp resolves', () => {
    const n = parseEnode(`enode://${KEY_HEX}@boot.example.org:30303?discport=30301`)
    assert.equal(n.hostname, 'boot.example.org')
    assert.equal(n.ip, undefined)
    assert.equal(n.incomplete, false)
    assert.equal(n.tcpEndpoint(), undefined)
    const r = n.withIp('192.0.2.7')
    assert.deepEqual(r.tcpEndpoint(), { ip: '192.0.2.7', port: 30303 })
    assert.deepEqual(r.udpEndpoint(), { ip: '192.0.2.7', port: 30301 })
    assert.equal(r.hostname, 'boot.example.org')
    assert.equal(r.toEnodeUrl(), `enode://${KEY_HEX}@boot.example.org:30303?discport=30301`)
  })
  const bad: [string, RegExp][] = [
    [`enode://${KEY_HEX}@1.2.3.4`, /invalid port/],
    [`enode://${KEY_HEX}@1.2.3.4:`, /invalid port/],
    [`enode://${KEY_HEX}@1.2.3.4:65536`, /invalid port/],
    [`enode://${KEY_HEX}@1.2.3.4:-1`, /invalid port/],
    [`enode://${KEY_HEX}@1.2.3.4:1?discport=65536`, /invalid discport/],
    [`enode://${KEY_HEX}@::1:30303`, /brackets/],
    [`enode://${KEY_HEX}@[::1]30303`, /invalid port/],
    [`enode://${KEY_HEX}@[1.2.3.4]:30303`, /IPv6/],
    [`enode://${KEY_HEX}@[::1:30303`, /"]"/],
    [`enode://${KEY_HEX}@:30303`, /invalid host/],
    [`enode://${KEY_HEX}@1.2.3.256:30303`, /invalid host/],
    [`enode://${KEY_HEX}@bad host:30303`, /invalid host/],
    [`enode://${KEY_HEX}@1.2.3.4:30303/path`, /path/],
    [`enode://${KEY_HEX}@1.2.3.4:30303#frag`, /fragment/],
    [`enode://${KEY_HEX.slice(2)}00@1.2.3.4:1`, /invalid public key/],
    [`enode://${'00'.repeat(64)}@1.2.3.4:1`, /not a point/],
    [`enode://${KEY_HEX}zz`, /invalid public key/],
    ['enode://', /invalid public key/],
    ['enr:x', /illegal base64/],
  ]
  for (const [url, why] of bad) {
    it(`rejects ${url.slice(0, 30)}…${url.slice(-20)}`, () => {
      assert.throws(
        () => parseNode(url),
        (e: unknown) => isDecodeError(e) && why.test((e as Error).message),
      )
    })
  }
})

describe('enode URL properties', () => {
  const keys = [1, 2, 3, 4].map((s) => publicKeyFromPrivate(generatePrivateKey(seededRandom(s))))
  const arbIp = fc.oneof(
    fc.uint8Array({ minLength: 4, maxLength: 4 }),
    fc
      .uint8Array({ minLength: 16, maxLength: 16 })
      .filter((b) => !(b.subarray(0, 10).every((x) => x === 0) && b[10] === 0xff && b[11] === 0xff)),
  )
  it('format/parse round trip for random keys, IPs and ports', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...keys),
        arbIp,
        fc.integer({ min: 0, max: 65535 }),
        fc.integer({ min: 0, max: 65535 }),
        (pub, ip, tcp, udp) => {
          const n = Node.fromPublicKey(pub, { ip: formatIP(ip), tcp, udp })
          const url = formatEnode(n)
          const back = parseEnode(url)
          assert.deepEqual(back.publicKey, pub)
          assert.deepEqual(back.id, n.id)
          assert.equal(back.ip, n.ip)
          assert.equal(back.tcp, tcp)
          assert.equal(back.udp, udp)
          assert.equal(formatEnode(back), url)
        },
      ),
      { numRuns: 300 },
    )
  })
  it('random strings never throw anything but DecodeError', () => {
    const prefixes = ['', 'enode://', `enode://${KEY_HEX}`, `enode://${KEY_HEX}@`, 'enr:']
    fc.assert(
      fc.property(fc.constantFrom(...prefixes), fc.string({ maxLength: 80 }), (p, s) => {
        try {
          parseNode(p + s)
        } catch (e) {
          assert.ok(isDecodeError(e), String(e))
        }
        if ((p + s).toLowerCase().startsWith('enode://')) {
          try {
            parseEnode(p + s)
          } catch (e) {
            assert.ok(e instanceof DecodeError && e.what === 'enode-url', String(e))
          }
        }
      }),
      { numRuns: 2000 },
    )
  })
})

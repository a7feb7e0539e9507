/**
 * `devp2p rlpx ping <node>` (the built binary, run asynchronously so the servers in this process
 * keep answering) against an @ethereumjs/devp2p peer, our own Server, a server that refuses with
 * TooManyPeers, a closed port, a silent listener, and malformed node arguments.
 */
import assert from 'node:assert/strict'
import { once } from 'node:events'
import { type AddressInfo, createServer, type Server as NetServer, type Socket } from 'node:net'
import { after, describe, it } from 'node:test'
import { generatePrivateKey, publicKeyFromPrivate } from '../../../src/crypto/index.js'
import { Node, nodeIdFromPublicKey } from '../../../src/enode/index.js'
import { toHex } from '../../../src/util/index.js'
import { runCliAsync } from '../../helpers/cli-async.js'
import { type EjsListener, ejsTestCapability, listenEjs } from '../../helpers/ethereumjs-peer.js'
import { nodeOf, testServers, until } from '../../helpers/p2p.js'

interface PingHello {
  readonly id: string
  readonly publicKey: string
  readonly name: string
  readonly version: number
  readonly caps: string[]
  readonly listenPort: number
  readonly ms: number
}

interface PingDisconnect {
  readonly disconnect: string
  readonly code: number
  readonly text: string
}

const servers = testServers({ noDial: true, handshakeTimeoutMs: 2_000 })
const startServer = servers.start
const netServers: NetServer[] = []
const listeners: EjsListener[] = []
const sockets: Socket[] = []
after(async () => {
  for (const s of sockets) s.destroy()
  for (const n of netServers) n.close()
  await servers.stopAll()
  await Promise.all(listeners.map((l) => l.close()))
})

async function listenRaw(onConn: (s: Socket) => void = () => {}): Promise<NetServer> {
  const srv = createServer((s) => {
    s.on('error', () => {})
    sockets.push(s)
    onConn(s)
  })
  srv.listen(0, '127.0.0.1')
  await once(srv, 'listening')
  netServers.push(srv)
  return srv
}

function enodeOf(publicKey: Uint8Array, port: number): string {
  return Node.fromPublicKey(publicKey, { ip: '127.0.0.1', tcp: port }).toEnodeUrl()
}

describe('devp2p rlpx ping', { timeout: 90_000 }, () => {
  it('an @ethereumjs/devp2p peer: prints its Hello (--json)', async () => {
    const key = generatePrivateKey()
    const l = await listenEjs(key, ejsTestCapability(), { clientId: 'ethereumjs-ping-target' })
    listeners.push(l)
    const r = await runCliAsync(['--json', 'rlpx', 'ping', enodeOf(l.publicKey, l.port)])
    assert.equal(r.status, 0, r.stderr)
    const out = JSON.parse(r.stdout) as PingHello
    assert.equal(out.id, toHex(nodeIdFromPublicKey(publicKeyFromPrivate(key))))
    assert.equal(out.publicKey, toHex(publicKeyFromPrivate(key)))
    assert.equal(out.name, 'ethereumjs-ping-target')
    assert.deepEqual(out.caps, ['test/1'])
    assert.equal(out.version, 5)
    assert.equal(out.listenPort, 30303)
    assert.equal(typeof out.ms, 'number')
  })

  it('an @ethereumjs/devp2p peer: prints its Hello as text', async () => {
    const l = await listenEjs(generatePrivateKey(), ejsTestCapability(), { clientId: 'ejs-text' })
    listeners.push(l)
    const r = await runCliAsync(['rlpx', 'ping', enodeOf(l.publicKey, l.port)])
    assert.equal(r.status, 0, r.stderr)
    assert.match(r.stdout, /^name:\s+ejs-text$/m)
    assert.match(r.stdout, /^caps:\s+test\/1$/m)
    assert.match(r.stdout, /^version:\s+5$/m)
  })

  it('our own Server, by enode and by ENR: prints its Hello, leaves no slot or peer behind', async () => {
    const srv = await startServer({ name: 'devp2p-ts-ping-target' })
    const self = srv.self()
    const enr = self.record?.toText()
    assert.ok(enr, 'the server has a record')
    for (const target of [nodeOf(srv).toEnodeUrl(), enr]) {
      const r = await runCliAsync(['--json', 'rlpx', 'ping', target])
      assert.equal(r.status, 0, r.stderr)
      const out = JSON.parse(r.stdout) as PingHello
      assert.equal(out.id, self.idHex)
      assert.equal(out.name, 'devp2p-ts-ping-target')
      assert.deepEqual(out.caps, ['test/1'])
      assert.equal(out.version, 5)
    }
    // The ping announces no capability: the server refuses it after Hello, as geth would.
    await until(() => srv.metrics.total('p2p_serves_total') === 2, 5_000, 'both setups counted')
    assert.equal(srv.metrics.get('p2p_serves_total', { result: 'local-UselessPeer' }), 2)
    await until(() => srv.pendingHandshakes === 0 && srv.peerCount() === 0, 5_000, 'slots returned')
  })

  describe('a server that refuses with TooManyPeers (maxPeers 0)', () => {
    it('prints the reason (text and --json)', async () => {
      const srv = await startServer({ maxPeers: 0 })
      const url = nodeOf(srv).toEnodeUrl()
      const text = await runCliAsync(['rlpx', 'ping', url])
      assert.match(text.stdout, /remote disconnected: too many peers \(TooManyPeers, 0x04\)/)
      const json = await runCliAsync(['--json', 'rlpx', 'ping', url])
      const out = JSON.parse(json.stdout) as PingDisconnect
      assert.deepEqual(out, { disconnect: 'TooManyPeers', code: 4, text: 'too many peers' })
      await until(
        () => srv.metrics.get('p2p_serves_total', { result: 'local-TooManyPeers' }) === 2,
        5_000,
        'refusals counted',
      )
    })

    it('exits non-zero', async () => {
      const srv = await startServer({ maxPeers: 0 })
      const r = await runCliAsync(['rlpx', 'ping', nodeOf(srv).toEnodeUrl()])
      assert.match(r.stdout, /TooManyPeers/)
      assert.equal(r.status, 1)
    })
  })

  it('a closed port: a clear message, exit 1', async () => {
    const tmp = await listenRaw()
    const port = (tmp.address() as AddressInfo).port
    await new Promise<void>((resolve) => tmp.close(() => resolve()))
    const r = await runCliAsync(['rlpx', 'ping', enodeOf(publicKeyFromPrivate(generatePrivateKey()), port)])
    assert.equal(r.status, 1)
    assert.equal(r.stdout, '')
    assert.match(r.stderr, new RegExp(`^devp2p: cannot connect to 127\\.0\\.0\\.1:${port}: .*ECONNREFUSED`))
  })

  describe('a listener that never answers', () => {
    async function pingSilent(): Promise<{ port: number; status: number; stderr: string }> {
      const silent = await listenRaw()
      const port = (silent.address() as AddressInfo).port
      const key = publicKeyFromPrivate(generatePrivateKey())
      const r = await runCliAsync(['rlpx', 'ping', '--timeout', '300', enodeOf(key, port)])
      return { port, status: r.status, stderr: r.stderr }
    }

    it('the handshake fails at the deadline, exit 1', async () => {
      const r = await pingSilent()
      assert.equal(r.status, 1)
      assert.match(r.stderr, new RegExp(`^devp2p: handshake with 127\\.0\\.0\\.1:${r.port} `))
    })

    it('the message says it timed out', async () => {
      const r = await pingSilent()
      assert.match(r.stderr, /timed out/)
    })
  })

  it('a node with the wrong key: the handshake fails, exit 1', async () => {
    const srv = await startServer()
    const r = await runCliAsync([
      'rlpx',
      'ping',
      '--timeout',
      '3000',
      enodeOf(publicKeyFromPrivate(generatePrivateKey()), srv.port),
    ])
    assert.equal(r.status, 1)
    assert.match(r.stderr, /^devp2p: handshake with 127\.0\.0\.1:\d+ failed: /)
    await until(() => srv.pendingHandshakes === 0, 5_000, 'slot returned')
  })

  describe('bad arguments: exit 2', () => {
    const pub = toHex(publicKeyFromPrivate(generatePrivateKey()))
    for (const [what, args] of [
      ['not a node at all', ['rlpx', 'ping', 'not-a-node']],
      ['an enode with a bad key', ['rlpx', 'ping', 'enode://1234@127.0.0.1:30303']],
      ['an enode with a bad port', ['rlpx', 'ping', `enode://${pub}@127.0.0.1:99999`]],
      ['an enode with no TCP port', ['rlpx', 'ping', `enode://${pub}@127.0.0.1:0`]],
      ['a bad --timeout', ['rlpx', 'ping', '--timeout', 'soon', `enode://${pub}@127.0.0.1:30303`]],
      ['no node', ['rlpx', 'ping']],
    ] as const) {
      it(what, async () => {
        const r = await runCliAsync(args)
        assert.equal(r.status, 2, `${r.stdout}${r.stderr}`)
        assert.equal(r.stdout, '')
        assert.notEqual(r.stderr, '')
      })
    }
  })
})

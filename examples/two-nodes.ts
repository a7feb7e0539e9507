/**
 * Two nodes on loopback speak a tiny `greet/1` protocol over RLPx.
 * Run with: node --import tsx examples/two-nodes.ts
 */
import { generatePrivateKey } from 'devp2p/crypto'
import { type Protocol, Server, send } from 'devp2p/p2p'
import { decode, expectBytes, expectList } from 'devp2p/rlp'

// A protocol: code 0 carries a greeting; each side sends one and reads one.
const greet = (name: string, heard: (text: string) => void): Protocol => ({
  name: 'greet',
  version: 1,
  length: 1,
  async run(peer, rw) {
    await send(rw, 0, [name])
    const msg = await rw.readMsg({ signal: peer.signal })
    const { items } = expectList(decode(msg.payload), 1, 'greeting')
    heard(`${name} heard: ${new TextDecoder().decode(expectBytes(items[0], 'greeting text'))}`)
    await new Promise((resolve) => peer.signal.addEventListener('abort', resolve))
  },
})

const lines: string[] = []
const common = { listenAddr: '127.0.0.1:0', noDiscovery: true }
const alice = await Server.start({
  ...common,
  privateKey: generatePrivateKey(),
  protocols: [greet('alice', (t) => lines.push(t))],
})
const bob = await Server.start({
  ...common,
  privateKey: generatePrivateKey(),
  protocols: [greet('bob', (t) => lines.push(t))],
})

alice.addPeer(bob.self()) // a static peer: dialed now, redialed if it drops
const deadline = Date.now() + 10_000
while (lines.length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20))

for (const l of lines.sort()) process.stdout.write(`${l}\n`)
process.stdout.write(`alice peers: ${JSON.stringify(alice.peersInfo().map((p) => p.caps))}\n`)
await Promise.all([alice.stop(), bob.stop()])

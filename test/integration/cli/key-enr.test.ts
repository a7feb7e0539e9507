import assert from 'node:assert/strict'
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { publicKeyFromPrivate } from '../../../src/crypto/index.js'
import { nodeIdFromPublicKey, parseEnode } from '../../../src/enode/index.js'
import { ENR } from '../../../src/enr/index.js'
import { fromHex, toHex } from '../../../src/util/index.js'
import { runCli } from '../../helpers/cli.js'

const dir = mkdtempSync(join(tmpdir(), 'devp2p-cli-'))

describe('devp2p key', () => {
  const file = join(dir, 'nodekey')
  it('generates a key file that is never overwritten', () => {
    const r = runCli(['--json', 'key', 'generate', file])
    assert.equal(r.status, 0, r.stderr)
    const out = JSON.parse(r.stdout) as { id: string; file: string }
    const key = fromHex(readFileSync(file, 'utf8'))
    assert.equal(key.length, 32)
    assert.equal(out.id, toHex(nodeIdFromPublicKey(publicKeyFromPrivate(key))))
    const again = runCli(['key', 'generate', file])
    assert.equal(again.status, 1)
    assert.match(again.stderr, /already exists/)
    assert.deepEqual(fromHex(readFileSync(file, 'utf8')), key, 'file unchanged')
  })
  it('prints id, enode and enr of a key file', () => {
    const key = fromHex(readFileSync(file, 'utf8'))
    const pub = publicKeyFromPrivate(key)
    const id = runCli(['key', 'to-id', file])
    assert.equal(id.status, 0, id.stderr)
    assert.equal(id.stdout.trim(), toHex(nodeIdFromPublicKey(pub)))
    const en = runCli(['key', 'to-enode', file, '--ip', '10.0.0.5', '--tcp', '30303', '--udp', '30301'])
    assert.equal(en.status, 0, en.stderr)
    const node = parseEnode(en.stdout.trim())
    assert.deepEqual([node.ip, node.tcp, node.udp], ['10.0.0.5', 30303, 30301])
    assert.deepEqual(node.publicKey, pub)
    const er = runCli(['--json', 'key', 'to-enr', file, '--ip', '127.0.0.1', '--tcp', '4000'])
    assert.equal(er.status, 0, er.stderr)
    const rec = ENR.fromText((JSON.parse(er.stdout) as { enr: string }).enr)
    assert.ok(rec.verify())
    assert.deepEqual([rec.ip, rec.tcp, rec.udp, rec.seq], ['127.0.0.1', 4000, 4000, 1n])
  })
  it('fails clearly on bad key files and bad options', () => {
    const bad = join(dir, 'bad')
    writeFileSync(bad, 'zz'.repeat(32))
    const r = runCli(['key', 'to-id', bad])
    assert.equal(r.status, 1)
    assert.match(r.stderr, /invalid key file.*invalid hex/)
    writeFileSync(bad, '00'.repeat(32))
    assert.match(runCli(['key', 'to-id', bad]).stderr, /not a valid secp256k1 private key/)
    assert.match(runCli(['key', 'to-id', join(dir, 'missing')]).stderr, /cannot read key file/)
    const p = runCli(['key', 'to-enode', file, '--tcp', '70000'])
    assert.equal(p.status, 2)
    assert.match(p.stderr, /not a port/)
    assert.equal(runCli(['key', 'frobnicate']).status, 2)
  })
})

describe('devp2p enr dump', () => {
  it('prints every field of the EIP-778 example record', () => {
    const text =
      'enr:-IS4QHCYrYZbAKWCBRlAy5zzaDZXJBGkcnh4MHcBFZntXNFrdvJjX04jRzjzCBOonrkTfj499SZuOh8R33Ls8RRcy5wBgmlkgnY0gmlwhH8AAAGJc2VjcDI1NmsxoQPKY0yuDUmstAHYpMa2_oxVtw0RW_QAdpzBQA8yWM0xOIN1ZHCCdl8'
    const r = runCli(['--json', 'enr', 'dump', text])
    assert.equal(r.status, 0, r.stderr)
    const d = JSON.parse(r.stdout) as Record<string, unknown>
    assert.equal(d.id, 'a448f24c6d18e575453db13171562b71999873db5b286df957af199ec94617f7')
    assert.equal(d.seq, '1')
    assert.equal(d.ip, '127.0.0.1')
    assert.equal(d.udp, 30303)
    assert.equal(d.verified, true)
    const t = runCli(['enr', 'dump', '-'], `${text}\n`)
    assert.equal(t.status, 0, t.stderr)
    assert.match(t.stdout, /id:\s+a448f24c/)
  })
  it('rejects a record with a bad signature', () => {
    const r = runCli([
      'enr',
      'dump',
      'enr:-IS4QHCYrYZbAKWCBRlAy5zzaDZXJBGkcnh4MHcBFZntXNFrdvJjX04jRzjzCBOonrkTfj499SZuOh8R33Ls8RRcy5wBgmlkgnY0gmlwhH8AAAGJc2VjcDI1NmsxoQPKY0yuDUmstAHYpMa2_oxVtw0RW_QAdpzBQA8yWM0xOIN1ZHCCdl8'.replace(
        'HCYrYZ',
        'HCYrYa',
      ),
    ])
    assert.equal(r.status, 1)
    assert.match(r.stderr, /invalid record/)
  })
})

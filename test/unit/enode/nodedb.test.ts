import assert from 'node:assert/strict'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import Database from 'better-sqlite3'
import {
  NODEDB_CLEANUP_CYCLE_MS,
  NODEDB_NODE_EXPIRATION_MS,
  NodeDB,
  NodeDBError,
} from '../../../src/enode/nodedb.js'
import { SimulatedClock, seededRandom } from '../../../src/util/index.js'

const id = (n: number): Uint8Array => new Uint8Array(32).fill(n)
const tmp = (): string => mkdtempSync(join(tmpdir(), 'nodedb-'))

describe('NodeDB', () => {
  it('stores records, endpoint stats and the local seq in memory', () => {
    const db = NodeDB.open()
    assert.equal(db.node(id(1)), undefined)
    db.updateNode(id(1), Uint8Array.of(1, 2, 3), 5n)
    assert.deepEqual(db.node(id(1)), { id: id(1), record: Uint8Array.of(1, 2, 3), seq: 5n })
    db.updateNode(id(1), Uint8Array.of(9), 6n)
    assert.equal(db.node(id(1))?.seq, 6n)
    assert.equal(db.size(), 1)
    assert.equal(db.lastPongReceived(id(1), '10.0.0.1'), 0)
    db.updateLastPongReceived(id(1), '10.0.0.1', 1234)
    db.updateLastPingReceived(id(1), '10.0.0.1', 1000)
    db.updateFindFails(id(1), '10.0.0.1', 3)
    assert.equal(db.lastPongReceived(id(1), '10.0.0.1'), 1234)
    assert.equal(db.lastPingReceived(id(1), '10.0.0.1'), 1000)
    assert.equal(db.findFails(id(1), '10.0.0.1'), 3)
    assert.equal(db.findFails(id(1), '10.0.0.2'), 0, 'stats are per IP')
    assert.equal(db.loadLocalSeq(id(7)), undefined)
    db.storeLocalSeq(id(7), 2n ** 63n + 5n)
    assert.equal(db.loadLocalSeq(id(7)), 2n ** 63n + 5n)
    db.deleteNode(id(1))
    assert.equal(db.node(id(1)), undefined)
    assert.equal(db.findFails(id(1), '10.0.0.1'), 0)
    db.close()
    assert.throws(() => db.size(), NodeDBError)
  })

  it('survives a restart', () => {
    const path = join(tmp(), 'nodes.db')
    const a = NodeDB.open(path)
    a.updateNode(id(2), Uint8Array.of(7), 1n)
    a.updateLastPongReceived(id(2), '1.2.3.4', 99)
    a.storeLocalSeq(id(3), 42n)
    a.close()
    const b = NodeDB.open(path)
    assert.equal(b.node(id(2))?.seq, 1n)
    assert.equal(b.lastPongReceived(id(2), '1.2.3.4'), 99)
    assert.equal(b.loadLocalSeq(id(3)), 42n)
    b.close()
  })

  it('refuses foreign, corrupt and other-version files without wiping them', () => {
    const dir = tmp()
    const garbage = join(dir, 'garbage.db')
    writeFileSync(garbage, Buffer.alloc(4096, 0x41))
    assert.throws(() => NodeDB.open(garbage), NodeDBError)
    const foreign = join(dir, 'foreign.db')
    const f = new Database(foreign)
    f.exec('CREATE TABLE accounts (x INTEGER); INSERT INTO accounts VALUES (1)')
    f.close()
    assert.throws(() => NodeDB.open(foreign), /foreign/)
    const g = new Database(foreign)
    assert.equal((g.prepare('SELECT COUNT(*) AS n FROM accounts').get() as { n: number }).n, 1, 'not wiped')
    g.close()
    const old = join(dir, 'old.db')
    NodeDB.open(old).close()
    const h = new Database(old)
    h.prepare(`UPDATE meta SET value = '0' WHERE key = 'version'`).run()
    h.close()
    assert.throws(() => NodeDB.open(old), /version 0/)
  })

  it('returns random live seeds within the age limit', () => {
    const clock = new SimulatedClock(10_000_000)
    const db = NodeDB.open(undefined, { clock, random: seededRandom(7) })
    for (let i = 1; i <= 20; i++) {
      db.updateNode(id(i), Uint8Array.of(i), BigInt(i))
      db.updateLastPongReceived(id(i), '10.0.0.1', i <= 10 ? clock.now() - 1000 : clock.now() - 1_000_000)
    }
    db.updateNode(id(99), Uint8Array.of(99), 1n) // never ponged: not a seed
    const seeds = db.querySeeds(5, 10_000)
    assert.equal(seeds.length, 5)
    const ids = new Set(seeds.map((s) => s.id[0]))
    assert.equal(ids.size, 5, 'no duplicates')
    for (const s of seeds) assert.ok(s.id[0]! <= 10, 'only fresh nodes')
    assert.equal(db.querySeeds(50, 10_000).length, 10)
    assert.equal(db.querySeeds(0, 10_000).length, 0)
    db.close()
  })

  it('expires stale entries once the expirer has started', async () => {
    const clock = new SimulatedClock(NODEDB_NODE_EXPIRATION_MS * 2)
    const db = NodeDB.open(undefined, { clock })
    db.updateNode(id(1), Uint8Array.of(1), 1n)
    db.updateLastPongReceived(id(1), '10.0.0.1', clock.now())
    db.updateNode(id(2), Uint8Array.of(2), 1n)
    db.updateLastPongReceived(id(2), '10.0.0.2', clock.now() - NODEDB_NODE_EXPIRATION_MS - 1)
    assert.equal(clock.pendingTimers, 0, 'expirer starts lazily')
    db.lastPongReceived(id(1), '10.0.0.1')
    assert.equal(clock.pendingTimers, 1)
    await clock.advance(NODEDB_CLEANUP_CYCLE_MS)
    assert.ok(db.node(id(1)))
    assert.equal(db.node(id(2)), undefined)
    db.close()
    assert.equal(clock.pendingTimers, 0, 'close stops the expirer')
  })

  it('rejects ids of the wrong size', () => {
    const db = NodeDB.open()
    assert.throws(() => db.node(new Uint8Array(31)), RangeError)
    db.close()
  })
})

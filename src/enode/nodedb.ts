/**
 * The persistent node database (go-ethereum's `enode/nodedb`): our local record's sequence
 * number, every known node's latest record, per-endpoint liveness (last ping sent, last pong
 * received, findnode failures), expiry of stale entries, and random seed nodes for table
 * start-up. Stored in SQLite through `better-sqlite3`; in memory when no path is given.
 *
 * The file carries a magic and a schema version. A file that is not ours (another SQLite
 * database, or not a database at all) or of another version is refused with a
 * {@link NodeDBError}: nothing is ever wiped silently.
 */
import Database from 'better-sqlite3'
import type { Clock, RandomSource } from '../util/index.js'
import { DevP2PError, secureRandom, systemClock } from '../util/index.js'

/** Schema identity written into every database this module creates. */
export const NODEDB_MAGIC = 'devp2p-nodedb'
/** Bump when the layout changes; a file of another version is refused. */
export const NODEDB_VERSION = 1
/** Entries whose last pong is older than this are removed by the expirer (geth: 24 h). */
export const NODEDB_NODE_EXPIRATION_MS = 24 * 60 * 60 * 1000
/** How often the expirer runs (geth: 1 h). */
export const NODEDB_CLEANUP_CYCLE_MS = 60 * 60 * 1000

/** The database could not be opened or used: foreign or corrupt file, or a version mismatch. */
export class NodeDBError extends DevP2PError {
  override name = 'NodeDBError' as const
}

/** Services the database uses; all optional. */
export interface NodeDBServices {
  readonly clock?: Clock
  readonly random?: RandomSource
}

/** A stored node record as returned by {@link NodeDB.querySeeds} and {@link NodeDB.allNodes}. */
export interface StoredNode {
  /** 32-byte node id. */
  readonly id: Uint8Array
  /** The encoded ENR (RLP bytes) last stored for this node. */
  readonly record: Uint8Array
  /** The record's sequence number. */
  readonly seq: bigint
}

interface NodeRow {
  id: Buffer
  record: Buffer
  seq: string
}

function idKey(id: Uint8Array): Buffer {
  if (!(id instanceof Uint8Array) || id.length !== 32) throw new RangeError('id: expected 32 bytes')
  return Buffer.from(id.buffer, id.byteOffset, id.length)
}

/**
 * The node database. Create with {@link NodeDB.open}. All methods are synchronous (SQLite calls
 * are microseconds); `close()` stops the expirer and closes the file.
 */
export class NodeDB {
  private readonly db: Database.Database
  private readonly clock: Clock
  private readonly random: RandomSource
  private expirer: { cancel(): void } | undefined
  private closed = false
  /** The file path, or `undefined` for an in-memory database. */
  readonly path: string | undefined

  private constructor(db: Database.Database, path: string | undefined, services: NodeDBServices) {
    this.db = db
    this.path = path
    this.clock = services.clock ?? systemClock
    this.random = services.random ?? secureRandom
  }

  /**
   * Open (or create) the database at `path`; in memory when `path` is undefined or empty.
   * Throws {@link NodeDBError} for a foreign, corrupt or other-version file.
   */
  static open(path?: string, services: NodeDBServices = {}): NodeDB {
    const file = path && path.length > 0 ? path : undefined
    let db: Database.Database
    try {
      db = new Database(file ?? ':memory:')
    } catch (err) {
      throw new NodeDBError(`cannot open node database ${file ?? '(memory)'}: ${(err as Error).message}`, {
        cause: err,
      })
    }
    try {
      NodeDB.initSchema(db, file)
    } catch (err) {
      db.close()
      if (err instanceof NodeDBError) throw err
      throw new NodeDBError(`node database ${file ?? '(memory)'} is unreadable: ${(err as Error).message}`, {
        cause: err,
      })
    }
    return new NodeDB(db, file, services)
  }

  private static initSchema(db: Database.Database, file: string | undefined): void {
    const where = file ?? '(memory)'
    const tables = db.prepare(`SELECT name FROM sqlite_master WHERE type = 'table'`).all() as {
      name: string
    }[]
    const names = new Set(tables.map((t) => t.name))
    if (names.size > 0) {
      if (!names.has('meta'))
        throw new NodeDBError(`${where} is not a devp2p node database (foreign SQLite file)`)
      const get = db.prepare('SELECT value FROM meta WHERE key = ?')
      const magic = (get.get('magic') as { value: string } | undefined)?.value
      const version = (get.get('version') as { value: string } | undefined)?.value
      if (magic !== NODEDB_MAGIC) throw new NodeDBError(`${where} is not a devp2p node database (bad magic)`)
      if (version !== String(NODEDB_VERSION))
        throw new NodeDBError(
          `${where} has node database version ${version ?? '?'}, this build reads version ${NODEDB_VERSION}; move the file away to start afresh`,
        )
      return
    }
    if (file) db.pragma('journal_mode = WAL')
    db.exec(`
      CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
      CREATE TABLE nodes (id BLOB PRIMARY KEY, record BLOB NOT NULL, seq TEXT NOT NULL);
      CREATE TABLE endpoints (
        id BLOB NOT NULL, ip TEXT NOT NULL,
        last_ping INTEGER NOT NULL DEFAULT 0, last_pong INTEGER NOT NULL DEFAULT 0,
        find_fails INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (id, ip)
      );
      CREATE INDEX endpoints_pong ON endpoints (last_pong);
      CREATE TABLE local (id BLOB PRIMARY KEY, seq TEXT NOT NULL);
    `)
    const put = db.prepare('INSERT INTO meta (key, value) VALUES (?, ?)')
    put.run('magic', NODEDB_MAGIC)
    put.run('version', String(NODEDB_VERSION))
  }

  private check(): void {
    if (this.closed) throw new NodeDBError('node database is closed')
  }

  // ---- local record ----

  /** The stored sequence number of our own record with key `id`, if any. */
  loadLocalSeq(id: Uint8Array): bigint | undefined {
    this.check()
    const row = this.db.prepare('SELECT seq FROM local WHERE id = ?').get(idKey(id)) as
      | { seq: string }
      | undefined
    return row ? BigInt(row.seq) : undefined
  }

  /** Store the sequence number of our own record. */
  storeLocalSeq(id: Uint8Array, seq: bigint): void {
    this.check()
    this.db
      .prepare('INSERT INTO local (id, seq) VALUES (?, ?) ON CONFLICT(id) DO UPDATE SET seq = excluded.seq')
      .run(idKey(id), seq.toString())
  }

  // ---- node records ----

  /** Store (or replace) the record of node `id`. `record` is the encoded ENR. */
  updateNode(id: Uint8Array, record: Uint8Array, seq: bigint): void {
    this.check()
    this.db
      .prepare(
        'INSERT INTO nodes (id, record, seq) VALUES (?, ?, ?) ON CONFLICT(id) DO UPDATE SET record = excluded.record, seq = excluded.seq',
      )
      .run(idKey(id), Buffer.from(record), seq.toString())
  }

  /** The stored record of node `id`. */
  node(id: Uint8Array): StoredNode | undefined {
    this.check()
    const row = this.db.prepare('SELECT id, record, seq FROM nodes WHERE id = ?').get(idKey(id)) as
      | NodeRow
      | undefined
    return row ? toStored(row) : undefined
  }

  /** Remove node `id` with all its endpoint data. */
  deleteNode(id: Uint8Array): void {
    this.check()
    const k = idKey(id)
    this.db.transaction(() => {
      this.db.prepare('DELETE FROM nodes WHERE id = ?').run(k)
      this.db.prepare('DELETE FROM endpoints WHERE id = ?').run(k)
    })()
  }

  /** Number of stored node records. */
  size(): number {
    this.check()
    return (this.db.prepare('SELECT COUNT(*) AS n FROM nodes').get() as { n: number }).n
  }

  /** Every stored node (for tools; bounded by `limit`). */
  allNodes(limit = 100_000): StoredNode[] {
    this.check()
    return (this.db.prepare('SELECT id, record, seq FROM nodes LIMIT ?').all(limit) as NodeRow[]).map(
      toStored,
    )
  }

  // ---- endpoint liveness ----

  private getEndpoint(id: Uint8Array, ip: string, col: 'last_ping' | 'last_pong' | 'find_fails'): number {
    this.check()
    const row = this.db
      .prepare(`SELECT ${col} AS v FROM endpoints WHERE id = ? AND ip = ?`)
      .get(idKey(id), ip) as { v: number } | undefined
    return row?.v ?? 0
  }

  private setEndpoint(
    id: Uint8Array,
    ip: string,
    col: 'last_ping' | 'last_pong' | 'find_fails',
    v: number,
  ): void {
    this.check()
    this.db
      .prepare(
        `INSERT INTO endpoints (id, ip, ${col}) VALUES (?, ?, ?) ON CONFLICT(id, ip) DO UPDATE SET ${col} = excluded.${col}`,
      )
      .run(idKey(id), ip, Math.trunc(v))
  }

  /** When we last sent a ping to `id` at `ip` (ms since epoch; 0 if never). */
  lastPingReceived(id: Uint8Array, ip: string): number {
    return this.getEndpoint(id, ip, 'last_ping')
  }
  /** Record a ping from `id` at `ip` at time `ms`. */
  updateLastPingReceived(id: Uint8Array, ip: string, ms: number): void {
    this.setEndpoint(id, ip, 'last_ping', ms)
  }
  /** When we last received a pong from `id` at `ip` (ms since epoch; 0 if never). Starts the expirer. */
  lastPongReceived(id: Uint8Array, ip: string): number {
    this.ensureExpirer()
    return this.getEndpoint(id, ip, 'last_pong')
  }
  /** Record a pong from `id` at `ip` at time `ms`. */
  updateLastPongReceived(id: Uint8Array, ip: string, ms: number): void {
    this.setEndpoint(id, ip, 'last_pong', ms)
  }
  /** Consecutive findnode failures of `id` at `ip`. */
  findFails(id: Uint8Array, ip: string): number {
    return this.getEndpoint(id, ip, 'find_fails')
  }
  /** Store the findnode failure count of `id` at `ip`. */
  updateFindFails(id: Uint8Array, ip: string, fails: number): void {
    this.setEndpoint(id, ip, 'find_fails', fails)
  }

  // ---- seeds and expiry ----

  /**
   * Up to `n` random nodes whose last pong is newer than `maxAgeMs`, for seeding the table
   * (geth's QuerySeeds). Random order; no duplicates.
   */
  querySeeds(n: number, maxAgeMs: number): StoredNode[] {
    this.check()
    if (n <= 0) return []
    const since = this.clock.now() - maxAgeMs
    const rows = this.db
      .prepare(
        `SELECT n.id AS id, n.record AS record, n.seq AS seq FROM nodes n
         WHERE EXISTS (SELECT 1 FROM endpoints e WHERE e.id = n.id AND e.last_pong > ?)`,
      )
      .all(since) as NodeRow[]
    // Fisher-Yates on the candidate list with the injected randomness, then take n.
    for (let i = rows.length - 1; i > 0; i--) {
      const j = this.random.int(i + 1)
      const t = rows[i]!
      rows[i] = rows[j]!
      rows[j] = t
    }
    return rows.slice(0, n).map(toStored)
  }

  /**
   * Delete endpoint entries without a pong within {@link NODEDB_NODE_EXPIRATION_MS} and the
   * records of nodes left without any live endpoint. Returns the number of nodes removed.
   */
  expireNodes(): number {
    this.check()
    const threshold = this.clock.now() - NODEDB_NODE_EXPIRATION_MS
    let removed = 0
    this.db.transaction(() => {
      this.db.prepare('DELETE FROM endpoints WHERE last_pong < ?').run(threshold)
      removed = this.db.prepare('DELETE FROM nodes WHERE id NOT IN (SELECT id FROM endpoints)').run().changes
    })()
    return removed
  }

  private ensureExpirer(): void {
    if (this.expirer || this.closed) return
    this.expirer = this.clock.setInterval(() => {
      if (!this.closed) this.expireNodes()
    }, NODEDB_CLEANUP_CYCLE_MS)
  }

  /** Stop the expirer and close the file. Idempotent. */
  close(): void {
    if (this.closed) return
    this.expirer?.cancel()
    this.expirer = undefined
    this.closed = true
    this.db.close()
  }

  /** Short description for logs. */
  toString(): string {
    return `NodeDB(${this.path ?? 'memory'})`
  }
}

function toStored(row: NodeRow): StoredNode {
  return { id: new Uint8Array(row.id), record: new Uint8Array(row.record), seq: BigInt(row.seq) }
}

/**
 * Discovery v4 configuration and constants: the tunable {@link Discv4Config} with go-ethereum's
 * defaults ({@link DISCV4_DEFAULTS}, {@link resolveDiscv4Config}), the fixed Kademlia constants
 * of the table (bucket size, bucket count, IP limits), and the error class of this module.
 */
import { DevP2PError } from '../util/index.js'

/** Nodes per bucket; also the size of a lookup result and of a FindNode answer (geth: 16). */
export const BUCKET_SIZE = 16
/** Number of buckets: the top 1/15 of the 256 distances (geth: 17). */
export const N_BUCKETS = 17
/** geth `bucketMinDistance` (256 − 17 = 239): distances up to it map to bucket 0, as does 240 itself. */
export const BUCKET_MIN_DISTANCE = 256 - N_BUCKETS
/** Replacement-list length per bucket (geth: 10). */
export const MAX_REPLACEMENTS = 10
/** At most this many nodes of one /24 per bucket (geth: 2); LAN addresses are exempt. */
export const BUCKET_IP_LIMIT = 2
/** At most this many nodes of one /24 in the whole table (geth: 10); LAN addresses are exempt. */
export const TABLE_IP_LIMIT = 10
/** The prefix length of the IP limits (geth: 24, applied to IPv6 as well). */
export const IP_LIMIT_SUBNET = 24
/** Lookup concurrency (geth: 3). */
export const ALPHA = 3
/** The slow revalidation list runs this many times slower than the fast one (geth: 3). */
export const SLOW_REVALIDATION_FACTOR = 3
/** Nodes revalidated live more often than this are stored in the database as future seeds (geth: 5). */
export const SEED_MIN_CHECKS = 5

/** Tunable settings of {@link Discv4}. Every duration is in milliseconds. */
export interface Discv4Config {
  /** Deadline for every reply (geth `respTimeout`: 500 ms). */
  readonly respTimeoutMs: number
  /** Lifetime stamped on outgoing packets (geth `expiration`: 20 s). */
  readonly expirationMs: number
  /** Validity of an endpoint proof (geth `bondExpiration`: 24 h). */
  readonly bondExpirationMs: number
  /** Interval of the fast revalidation list; the slow list uses 3× this (geth `PingInterval`: 3 s). */
  readonly pingIntervalMs: number
  /** Table refresh interval; each wait is random in [½, 1) of it (geth `RefreshInterval`: 30 min). */
  readonly refreshIntervalMs: number
  /** Least time between two refreshes started because the table ran empty (ours; geth has none). */
  readonly emptyRefreshIntervalMs: number
  /** Consecutive FindNode failures before we re-ping first and may drop the node (geth: 5). */
  readonly maxFindnodeFailures: number
  /** Serve FindNode from all table nodes, not preferably the validated ones (geth option, default off). */
  readonly noFindnodeLivenessCheck: boolean
  /** Seeds loaded from the database per refresh (geth `seedCount`: 30). */
  readonly seedCount: number
  /** Maximum age (since last pong) of database seeds (geth `seedMaxAge`: 5 days). */
  readonly seedMaxAgeMs: number
  /** Most outstanding reply matchers; requests beyond it fail at once (geth: unbounded). */
  readonly maxPendingReplies: number
  /** Endpoint-proof entries cached in memory in front of the database (LRU). */
  readonly bondCacheSize: number
  /** Safety deadline of one whole lookup (geth has none; each query is bounded by its replies). */
  readonly lookupTimeoutMs: number
  /** Least time between two lookups of the random-node iterator (geth: 1 s). */
  readonly lookupMinIntervalMs: number
  /** How long the random-node iterator waits for an empty table to refill per try (geth: 1 min). */
  readonly tableWaitMs: number
  /** Most record fetches (ENRRequest after a higher seq was seen) in flight at once. */
  readonly maxRecordFetches: number
}

/** go-ethereum's values (see each field). */
export const DISCV4_DEFAULTS: Discv4Config = Object.freeze({
  respTimeoutMs: 500,
  expirationMs: 20_000,
  bondExpirationMs: 24 * 60 * 60 * 1000,
  pingIntervalMs: 3000,
  refreshIntervalMs: 30 * 60 * 1000,
  emptyRefreshIntervalMs: 60_000,
  maxFindnodeFailures: 5,
  noFindnodeLivenessCheck: false,
  seedCount: 30,
  seedMaxAgeMs: 5 * 24 * 60 * 60 * 1000,
  maxPendingReplies: 4096,
  bondCacheSize: 10_000,
  lookupTimeoutMs: 60_000,
  lookupMinIntervalMs: 1000,
  tableWaitMs: 60_000,
  maxRecordFetches: 16,
})

/**
 * A complete, frozen config: `partial` over {@link DISCV4_DEFAULTS}. Throws `RangeError` for a
 * negative, non-finite or (for counts) non-integer value.
 */
export function resolveDiscv4Config(partial: Partial<Discv4Config> = {}): Discv4Config {
  const c: Discv4Config = { ...DISCV4_DEFAULTS, ...partial }
  for (const [k, v] of Object.entries(c)) {
    if (typeof v === 'boolean') continue
    if (typeof v !== 'number' || !Number.isFinite(v) || v < 0)
      throw new RangeError(`discv4 config: ${k} must be a non-negative number`)
  }
  for (const k of [
    'maxFindnodeFailures',
    'seedCount',
    'maxPendingReplies',
    'bondCacheSize',
    'maxRecordFetches',
  ] as const) {
    if (!Number.isInteger(c[k])) throw new RangeError(`discv4 config: ${k} must be an integer`)
  }
  if (c.respTimeoutMs <= 0 || c.pingIntervalMs <= 0 || c.refreshIntervalMs <= 0)
    throw new RangeError(
      'discv4 config: respTimeoutMs, pingIntervalMs and refreshIntervalMs must be positive',
    )
  if (c.bondCacheSize < 1 || c.maxPendingReplies < 1)
    throw new RangeError('discv4 config: bondCacheSize and maxPendingReplies must be at least 1')
  return Object.freeze(c)
}

/** Why a discovery operation was refused. */
export type Discv4ErrorReason =
  | 'closed'
  | 'no-udp-endpoint'
  | 'net-restrict'
  | 'too-many-pending'
  | 'invalid-record'
  | 'self'

/** A discovery operation was refused or failed for a reason other than timeout or abort. */
export class Discv4Error extends DevP2PError {
  override name = 'Discv4Error' as const
  /** Machine-readable reason. */
  readonly reason: Discv4ErrorReason
  constructor(reason: Discv4ErrorReason, message: string, options?: { cause?: unknown }) {
    super(`discv4: ${message}`, options)
    this.reason = reason
  }
}

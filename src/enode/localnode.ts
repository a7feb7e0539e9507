/**
 * {@link LocalNode}: owner of our own signed node record (go-ethereum's `enode.LocalNode`). It
 * holds the private key and the record's entries, derives the `ip`/`ip6`/`udp`/`udp6` entries from
 * static, predicted and fallback endpoints, bumps and persists the sequence number, and re-signs
 * lazily: a change only marks the record stale; the next {@link LocalNode.record} or
 * {@link LocalNode.node} call signs a new version with `seq + 1`.
 */
import { publicKeyFromPrivate } from '../crypto/index.js'
import { ENR } from '../enr/index.js'
import { formatHostPort, isUnspecified, tryParseEndpoint } from '../netutil/index.js'
import { encode, type RlpInput } from '../rlp/index.js'
import { type Clock, equalBytes, systemClock, tryParseIP, unmapIP, utf8 } from '../util/index.js'
import { nodeIdFromPublicKey } from './distance.js'
import { type Endpoint, Node } from './node.js'

/**
 * Where the local record's sequence number survives restarts. `NodeDB` implements it. The first
 * record after start-up gets `loadLocalSeq(id) + 1`, or the current time in milliseconds + 1 when
 * nothing is stored, so a restarted node never reuses a number.
 */
export interface SeqStore {
  /** The last stored sequence number for our node id, if any. */
  loadLocalSeq(id: Uint8Array): bigint | undefined
  /** Store the sequence number of the record just signed. */
  storeLocalSeq(id: Uint8Array, seq: bigint): void
}

/**
 * What {@link LocalNode} needs from an external-endpoint predictor. netutil's `IPTracker` has
 * this shape (go-ethereum's string forms: hosts and endpoints as `ip:port` / `[ip6]:port`).
 */
export interface EndpointPredictor {
  /** `host` told us that our endpoint is `endpoint`. */
  addStatement(host: string, endpoint: string): void
  /** We sent our endpoint to `host`. */
  addContact(host: string): void
  /** The predicted endpoint `ip:port`, or undefined while there is no prediction. */
  predictEndpoint(): string | undefined
}

/** Services of a {@link LocalNode}; all optional. */
export interface LocalNodeServices {
  /** Wall clock for the initial sequence number (ms since the epoch). Default: system clock. */
  readonly clock?: Clock
  /** Persistence of the sequence number (usually the `NodeDB`). */
  readonly seqStore?: SeqStore
  /** Endpoint predictors per address family (usually two netutil `IPTracker`s). */
  readonly predictors?: { readonly ip4?: EndpointPredictor; readonly ip6?: EndpointPredictor }
  /**
   * Called once after each method call that changed the record's content. The new version is
   * signed when the listener (or anyone) next calls {@link LocalNode.record}/{@link LocalNode.node}.
   */
  readonly onChange?: () => void
}

interface FamilyEndpoint {
  staticIP: Uint8Array | undefined
  fallbackIP: Uint8Array | undefined
  fallbackUDP: number
  readonly predictor: EndpointPredictor | undefined
}

const ENDPOINT_KEYS = new Set(['ip', 'ip6', 'udp', 'udp6'])
const IDENTITY_KEYS = new Set(['id', 'secp256k1'])

function familyOf(ip: Uint8Array): 4 | 6 {
  return ip.length === 4 ? 4 : 6
}

function parseIpArg(field: string, ip: string): Uint8Array {
  const b = tryParseIP(ip)
  if (b === undefined) throw new RangeError(`${field}: not an IP address: ${ip}`)
  return unmapIP(b)
}

/**
 * Our own node record. Entries set through {@link LocalNode.set} persist across versions;
 * `ip`, `ip6`, `udp` and `udp6` are computed from the endpoint settings (static IP, then
 * prediction, then fallback IP/UDP port, per family) and cannot be set directly; `id` and
 * `secp256k1` come from the key.
 *
 * Unlike go-ethereum, `record()` does not sleep to keep versions 1 ms apart: the sequence number
 * simply increments, and is persisted through the {@link SeqStore} before the record is used.
 */
export class LocalNode {
  /** Our node id. */
  readonly id: Uint8Array
  /** Our 64-byte public key. */
  readonly publicKey: Uint8Array
  readonly #privateKey: Uint8Array
  readonly #store: SeqStore | undefined
  readonly #onChange: (() => void) | undefined
  #seq: bigint
  // BOUNDED: one entry per distinct key set by the owner; a record over 300 bytes cannot be signed.
  readonly #entries = new Map<string, Uint8Array>()
  readonly #ep4: FamilyEndpoint
  readonly #ep6: FamilyEndpoint
  #current: { record: ENR; node: Node } | undefined
  #changed = false

  /** A local node for `privateKey` (32 bytes). */
  constructor(privateKey: Uint8Array, services: LocalNodeServices = {}) {
    this.publicKey = publicKeyFromPrivate(privateKey)
    this.#privateKey = privateKey.slice()
    this.id = nodeIdFromPublicKey(this.publicKey)
    this.#store = services.seqStore
    this.#onChange = services.onChange
    const stored = this.#store?.loadLocalSeq(this.id)
    this.#seq =
      stored !== undefined && stored > 0n ? stored : BigInt(Math.floor((services.clock ?? systemClock).now()))
    this.#ep4 = {
      staticIP: undefined,
      fallbackIP: undefined,
      fallbackUDP: 0,
      predictor: services.predictors?.ip4,
    }
    this.#ep6 = {
      staticIP: undefined,
      fallbackIP: undefined,
      fallbackUDP: 0,
      predictor: services.predictors?.ip6,
    }
  }

  /**
   * The sequence number of the latest signed version (before the first signing: the initial
   * value, which the first version exceeds by one).
   */
  get seq(): bigint {
    return this.#seq
  }

  /** The current signed record (a copy), signing a new version first if anything changed. */
  record(): ENR {
    return this.#sign().record.clone()
  }

  /** The current version as a {@link Node}, signing a new version first if anything changed. */
  node(): Node {
    return this.#sign().node
  }

  /**
   * Put an entry into the record (overwriting). `RangeError` for the computed keys (`id`,
   * `secp256k1`, `ip`, `ip6`, `udp`, `udp6`: use the endpoint setters) and for invalid values
   * of well-known keys such as `tcp`.
   */
  set(key: string, value: RlpInput): void {
    this.#mutate(() => this.#setEntry(key, encode(value), true))
  }

  /** Remove an entry set with {@link LocalNode.set}. */
  delete(key: string): void {
    this.#mutate(() => this.#deleteEntry(key, true))
  }

  /** Use `ip` as our address for its family unconditionally (disables prediction for it). */
  setStaticIP(ip: string): void {
    const b = parseIpArg('ip', ip)
    this.#mutate(() => {
      this.#family(b).staticIP = b
      this.#updateEndpoints()
    })
  }

  /** Forget the static IPs of both families. */
  clearStaticIP(): void {
    this.#mutate(() => {
      this.#ep4.staticIP = undefined
      this.#ep6.staticIP = undefined
      this.#updateEndpoints()
    })
  }

  /** The last-resort address for its family, used when there is no static IP and no prediction. */
  setFallbackIP(ip: string): void {
    const b = parseIpArg('ip', ip)
    this.#mutate(() => {
      this.#family(b).fallbackIP = b
      this.#updateEndpoints()
    })
  }

  /** The last-resort UDP port (both families) when there is no prediction; 0 clears it. */
  setFallbackUDP(port: number): void {
    if (!Number.isInteger(port) || port < 0 || port > 65535)
      throw new RangeError(`port: expected an integer in [0, 65535], got ${port}`)
    this.#mutate(() => {
      this.#ep4.fallbackUDP = port
      this.#ep6.fallbackUDP = port
      this.#updateEndpoints()
    })
  }

  /**
   * A peer at `from` told us (e.g. in a discv4 Pong) that our UDP endpoint is `endpoint`. Feeds
   * the predictor of the endpoint's family.
   */
  udpEndpointStatement(from: Endpoint, endpoint: Endpoint): void {
    const b = parseIpArg('endpoint.ip', endpoint.ip)
    const p = this.#family(b).predictor
    if (p === undefined) return
    this.#mutate(() => {
      p.addStatement(formatHostPort(from.ip, from.port), formatHostPort(endpoint.ip, endpoint.port))
      this.#updateEndpoints()
    })
  }

  /** We announced our endpoint to `to` over UDP (e.g. sent a Ping). Feeds the predictor. */
  udpContact(to: Endpoint): void {
    const b = parseIpArg('to.ip', to.ip)
    const p = this.#family(b).predictor
    if (p === undefined) return
    this.#mutate(() => {
      p.addContact(formatHostPort(to.ip, to.port))
      this.#updateEndpoints()
    })
  }

  #family(ip: Uint8Array): FamilyEndpoint {
    return familyOf(ip) === 4 ? this.#ep4 : this.#ep6
  }

  #mutate(fn: () => void): void {
    this.#changed = false
    fn()
    if (this.#changed) {
      this.#current = undefined
      this.#onChange?.()
    }
  }

  #setEntry(key: string, raw: Uint8Array, external: boolean): void {
    if (external && (ENDPOINT_KEYS.has(key) || IDENTITY_KEYS.has(key)))
      throw new RangeError(`LocalNode.set: "${key}" is computed; use the endpoint setters`)
    // Validate the value with the record's own rules (RangeError for bad well-known values).
    new ENR().setRaw(utf8(key), raw)
    const old = this.#entries.get(key)
    if (old !== undefined && equalBytes(old, raw)) return
    this.#entries.set(key, raw)
    this.#changed = true
  }

  #deleteEntry(key: string, external: boolean): void {
    if (external && (ENDPOINT_KEYS.has(key) || IDENTITY_KEYS.has(key)))
      throw new RangeError(`LocalNode.delete: "${key}" is computed; use the endpoint setters`)
    if (this.#entries.delete(key)) this.#changed = true
  }

  #endpointOf(ep: FamilyEndpoint): { ip: Uint8Array | undefined; port: number } {
    let ip = ep.fallbackIP
    let port = ep.fallbackUDP
    if (ep.staticIP !== undefined) ip = ep.staticIP
    else {
      const predicted = ep.predictor?.predictEndpoint()
      const parsed = predicted === undefined ? undefined : tryParseEndpoint(predicted)
      if (parsed !== undefined) {
        ip = unmapIP(parsed.ip)
        port = parsed.port
      }
    }
    return { ip, port }
  }

  #updateEndpoints(): void {
    const e4 = this.#endpointOf(this.#ep4)
    const e6 = this.#endpointOf(this.#ep6)
    const setOrDelete = (key: string, value: Uint8Array | number | undefined): void => {
      if (value === undefined) this.#deleteEntry(key, false)
      else this.#setEntry(key, encode(value), false)
    }
    const usable = (ip: Uint8Array | undefined, len: number): Uint8Array | undefined =>
      ip !== undefined && ip.length === len && !isUnspecified(ip) ? ip : undefined
    setOrDelete('ip', usable(e4.ip, 4))
    setOrDelete('ip6', usable(e6.ip, 16))
    setOrDelete('udp', e4.port !== 0 ? e4.port : undefined)
    setOrDelete('udp6', e6.port !== 0 && e6.port !== e4.port ? e6.port : undefined)
  }

  #sign(): { record: ENR; node: Node } {
    if (this.#current !== undefined) return this.#current
    const r = new ENR()
    for (const [k, v] of this.#entries) r.setRaw(k, v)
    const seq = this.#seq + 1n
    r.setSeq(seq)
    r.sign(this.#privateKey)
    this.#seq = seq
    this.#store?.storeLocalSeq(this.id, seq)
    this.#current = { record: r, node: Node.fromRecord(r) }
    return this.#current
  }
}

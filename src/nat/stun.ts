/**
 * STUN for the external IP: the RFC 5389 Binding request codec (also reading RFC 3489
 * MAPPED-ADDRESS replies, which is what classic `stund` sends), and {@link StunNat}, which asks
 * one configured server or up to three random default servers. Mapping is a no-op, as in geth.
 */
import type { Endpoint } from '../netutil/index.js'
import { withTimeout } from '../util/abort.js'
import { equalBytes } from '../util/bytes.js'
import { DecodeError } from '../util/errors.js'
import { tryParseIP } from '../util/index.js'
import { StunError } from './errors.js'
import { ExternalIPOnlyNat, type Nat, type NatCallOptions, type NatDeps, type NatOptions } from './nat.js'
import { udpExchange } from './udp-exchange.js'

/** RFC 5389 magic cookie. */
export const STUN_MAGIC_COOKIE = 0x2112a442
/** Message types. */
export const STUN_BINDING_REQUEST = 0x0001
/** Binding success response. */
export const STUN_BINDING_SUCCESS = 0x0101
/** Binding error response. */
export const STUN_BINDING_ERROR = 0x0111
/** Attribute types we read. */
export const STUN_ATTR_MAPPED_ADDRESS = 0x0001
/** ERROR-CODE attribute. */
export const STUN_ATTR_ERROR_CODE = 0x0009
/** XOR-MAPPED-ADDRESS attribute. */
export const STUN_ATTR_XOR_MAPPED_ADDRESS = 0x0020
/** XOR-MAPPED-ADDRESS as some pre-RFC servers number it. */
export const STUN_ATTR_XOR_MAPPED_ADDRESS_OLD = 0x8020
/** Default STUN port. */
export const STUN_DEFAULT_PORT = 3478
/** Largest STUN message we decode. */
export const STUN_MAX_MESSAGE = 2048

const HEADER = 20

/** A Binding request (20 bytes) with the magic cookie and a 12-byte transaction id. */
export function encodeStunBindingRequest(transactionId: Uint8Array): Uint8Array {
  if (transactionId.length !== 12) throw new RangeError('transactionId: expected 12 bytes')
  const b = new Uint8Array(HEADER)
  const v = new DataView(b.buffer)
  v.setUint16(0, STUN_BINDING_REQUEST)
  v.setUint16(2, 0)
  v.setUint32(4, STUN_MAGIC_COOKIE)
  b.set(transactionId, 8)
  return b
}

/** One attribute. */
export interface StunAttribute {
  readonly type: number
  readonly value: Uint8Array
}

/** A decoded STUN message. */
export interface StunMessage {
  readonly type: number
  /** Whether bytes 4-8 hold the RFC 5389 magic cookie. */
  readonly hasMagicCookie: boolean
  /** Bytes 4-20: the cookie and transaction id (RFC 5389), or RFC 3489's 16-byte transaction id. */
  readonly id: Uint8Array
  readonly attributes: readonly StunAttribute[]
}

/**
 * Decode a STUN message. Throws {@link DecodeError} (`what: 'stun'`) when shorter than the
 * header, longer than {@link STUN_MAX_MESSAGE}, not a STUN message (top two bits set), or when
 * the length field or an attribute overruns the packet. Trailing bytes after the declared length
 * are ignored.
 */
export function decodeStunMessage(data: Uint8Array): StunMessage {
  if (data.length < HEADER) throw new DecodeError('stun', `message of ${data.length} bytes is truncated`)
  if (data.length > STUN_MAX_MESSAGE)
    throw new DecodeError('stun', `message larger than ${STUN_MAX_MESSAGE} bytes`)
  const v = new DataView(data.buffer, data.byteOffset, data.byteLength)
  const type = v.getUint16(0)
  if ((type & 0xc000) !== 0) throw new DecodeError('stun', 'not a STUN message')
  const length = v.getUint16(2)
  if (HEADER + length > data.length) throw new DecodeError('stun', `length ${length} overruns the packet`)
  const attributes: StunAttribute[] = []
  let off = HEADER
  const end = HEADER + length
  while (off + 4 <= end) {
    const at = v.getUint16(off)
    const al = v.getUint16(off + 2)
    if (off + 4 + al > end)
      throw new DecodeError('stun', `attribute 0x${at.toString(16)} overruns the message`)
    attributes.push({ type: at, value: data.slice(off + 4, off + 4 + al) })
    off += 4 + ((al + 3) & ~3)
  }
  return {
    type,
    hasMagicCookie: v.getUint32(4) === STUN_MAGIC_COOKIE,
    id: data.slice(4, HEADER),
    attributes,
  }
}

function decodeAddress(value: Uint8Array, xorKey: Uint8Array | undefined): Endpoint | undefined {
  if (value.length < 4) return undefined
  const family = value[1]
  const len = family === 0x01 ? 4 : family === 0x02 ? 16 : 0
  if (len === 0 || value.length < 4 + len) return undefined
  let port = (value[2]! << 8) | value[3]!
  const ip = value.slice(4, 4 + len)
  if (xorKey) {
    port ^= 0x2112
    for (let i = 0; i < len; i++) ip[i] = ip[i]! ^ xorKey[i]!
  }
  return { ip, port }
}

/**
 * The mapped (reflexive) address of a Binding success: XOR-MAPPED-ADDRESS when the message has
 * the magic cookie, else MAPPED-ADDRESS (RFC 3489). `undefined` when there is neither.
 */
export function stunMappedAddress(msg: StunMessage): Endpoint | undefined {
  if (msg.hasMagicCookie) {
    for (const a of msg.attributes) {
      if (a.type === STUN_ATTR_XOR_MAPPED_ADDRESS || a.type === STUN_ATTR_XOR_MAPPED_ADDRESS_OLD) {
        const ep = decodeAddress(a.value, msg.id)
        if (ep) return ep
      }
    }
  }
  for (const a of msg.attributes) {
    if (a.type === STUN_ATTR_MAPPED_ADDRESS) {
      const ep = decodeAddress(a.value, undefined)
      if (ep) return ep
    }
  }
  return undefined
}

/** The ERROR-CODE of an error response (`class * 100 + number`, reason phrase). */
export function stunErrorCode(msg: StunMessage): { code: number; reason: string } | undefined {
  const a = msg.attributes.find((x) => x.type === STUN_ATTR_ERROR_CODE)
  if (!a || a.value.length < 4) return undefined
  const code = (a.value[2]! & 0x07) * 100 + a.value[3]!
  const reason = new TextDecoder().decode(a.value.subarray(4, 4 + 128))
  return { code, reason }
}

/**
 * Split `host:port`, `[v6]:port` or a bare `host` (port `defaultPort`). Throws
 * {@link DecodeError} (`what: 'host-port'`) on bad text.
 */
export function parseHostPort(text: string, defaultPort: number): { host: string; port: number } {
  const bad = (): DecodeError =>
    new DecodeError('host-port', `invalid address ${JSON.stringify(text.slice(0, 100))}`)
  if (text.length === 0 || text.length > 255) throw bad()
  let host = text
  let portText: string | undefined
  if (text.startsWith('[')) {
    const close = text.indexOf(']')
    if (close < 0) throw bad()
    host = text.slice(1, close)
    const rest = text.slice(close + 1)
    if (rest !== '') {
      if (!rest.startsWith(':')) throw bad()
      portText = rest.slice(1)
    }
    if (!tryParseIP(host)) throw bad()
  } else {
    const c = text.lastIndexOf(':')
    if (c >= 0) {
      if (text.indexOf(':') !== c) throw bad() // unbracketed IPv6
      host = text.slice(0, c)
      portText = text.slice(c + 1)
    }
    if (!/^[A-Za-z0-9.-]+$/.test(host)) throw bad()
  }
  let port = defaultPort
  if (portText !== undefined) {
    if (!/^[0-9]{1,5}$/.test(portText)) throw bad()
    port = Number(portText)
    if (port < 1 || port > 65535) throw bad()
  }
  return { host, port }
}

/** External IP through STUN Binding requests; port mapping is not supported (no-ops). */
export class StunNat extends ExternalIPOnlyNat implements Nat {
  readonly mechanism = 'stun' as const
  readonly gateway = undefined
  readonly spec: string
  /** The servers asked (`host:port`). */
  readonly servers: readonly string[]
  private readonly explicit: boolean
  private readonly deps: NatDeps
  private readonly options: NatOptions

  /** `server` (`host[:port]`) pins one server; without it the default list is used. */
  constructor(server: string | undefined, deps: NatDeps, options: NatOptions) {
    super()
    if (server !== undefined) {
      const hp = parseHostPort(server, STUN_DEFAULT_PORT)
      const host = hp.host.includes(':') ? `[${hp.host}]` : hp.host
      this.servers = [`${host}:${hp.port}`]
      this.spec = `stun:${this.servers[0]}`
    } else {
      this.servers = options.stunServers
      this.spec = 'stun'
    }
    this.explicit = server !== undefined
    this.deps = deps
    this.options = options
  }

  override toString(): string {
    return this.explicit ? `STUN(${this.servers[0]})` : 'STUN'
  }

  /** One Binding exchange with `server`; resolves with the mapped endpoint. */
  query(server: string, opts?: NatCallOptions): Promise<Endpoint> {
    const { host, port } = parseHostPort(server, STUN_DEFAULT_PORT)
    const tid = this.deps.random.bytes(12)
    const req = encodeStunBindingRequest(tid)
    const id = req.slice(4, HEADER)
    return udpExchange(this.deps.clock, this.deps.udp, {
      host,
      port,
      request: req,
      initialRtoMs: this.options.stunInitialRtoMs,
      maxTries: this.options.stunMaxTries,
      timeoutMs: this.options.stunTimeoutMs,
      what: `STUN binding with ${server}`,
      ...(opts?.signal ? { signal: opts.signal } : {}),
      accept: (data) => {
        let msg: StunMessage
        try {
          msg = decodeStunMessage(data)
        } catch {
          return undefined
        }
        if (!equalBytes(msg.id, id)) return undefined
        if (msg.type === STUN_BINDING_ERROR) {
          const e = stunErrorCode(msg)
          throw new StunError(
            `STUN server ${server} answered error ${e?.code ?? '?'} ${e?.reason ?? ''}`.trim(),
          )
        }
        if (msg.type !== STUN_BINDING_SUCCESS) return undefined
        const ep = stunMappedAddress(msg)
        if (!ep) throw new StunError(`STUN server ${server} sent no mapped address`)
        return ep
      },
    })
  }

  externalIP(opts?: NatCallOptions): Promise<Uint8Array> {
    return withTimeout(
      this.deps.clock,
      this.options.operationTimeoutMs,
      'STUN external IP',
      opts?.signal,
      async (s) => {
        const list = this.pickServers()
        const errors: string[] = []
        for (const server of list) {
          try {
            return (await this.query(server, { signal: s })).ip
          } catch (e) {
            if (s.aborted) throw e
            errors.push(`${server}: ${e instanceof Error ? e.message : String(e)}`)
            this.deps.logger.debug('STUN request failed', { server, err: e })
          }
        }
        throw new StunError(`STUN requests failed: ${errors.join('; ')}`)
      },
    )
  }

  private pickServers(): string[] {
    if (this.explicit) return [...this.servers]
    const pool = [...this.servers]
    const out: string[] = []
    while (pool.length > 0 && out.length < this.options.stunServerTries) {
      out.push(pool.splice(this.deps.random.int(pool.length), 1)[0]!)
    }
    return out
  }
}

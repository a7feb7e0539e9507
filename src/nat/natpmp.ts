/**
 * NAT-PMP (RFC 6886): the request/response codec, a client for one gateway ({@link PmpNat}:
 * external address, map and unmap TCP/UDP with lifetimes in seconds, retransmission from 250 ms
 * doubling, result codes as {@link NatPmpError}), and gateway discovery over the guessed
 * gateways (default routes and the `.1` of each private interface subnet).
 */

import { abortReason, withTimeout } from '../util/abort.js'
import { DecodeError } from '../util/errors.js'
import { formatIP, tryParseIP } from '../util/index.js'
import { NatError, NatPmpError, NoRouterError } from './errors.js'
import { potentialGateways } from './gateway.js'
import {
  checkMappingArgs,
  type Nat,
  type NatCallOptions,
  type NatDeps,
  type NatOptions,
  type NatProtocol,
  type UdpPeer,
} from './nat.js'
import { udpExchange } from './udp-exchange.js'

/** The NAT-PMP server port on the gateway. */
export const PMP_PORT = 5351
/** Protocol version 0. */
export const PMP_VERSION = 0
/** Opcodes (requests); replies carry opcode + 128. */
export const PMP_OP_EXTERNAL_ADDRESS = 0
/** Map a UDP port. */
export const PMP_OP_MAP_UDP = 1
/** Map a TCP port. */
export const PMP_OP_MAP_TCP = 2

/** The external-address request: version 0, opcode 0. */
export function encodePmpExternalAddressRequest(): Uint8Array {
  return Uint8Array.of(PMP_VERSION, PMP_OP_EXTERNAL_ADDRESS)
}

/**
 * A mapping request (12 bytes). `lifetimeSec` is the requested lifetime in seconds (RFC 6886
 * recommends 7200); 0 together with `extPort` 0 deletes the mapping of `intPort`.
 */
export function encodePmpMappingRequest(
  protocol: NatProtocol,
  intPort: number,
  extPort: number,
  lifetimeSec: number,
): Uint8Array {
  checkMappingArgs(protocol, extPort, intPort, lifetimeSec)
  const b = new Uint8Array(12)
  const v = new DataView(b.buffer)
  b[0] = PMP_VERSION
  b[1] = protocol === 'udp' ? PMP_OP_MAP_UDP : PMP_OP_MAP_TCP
  v.setUint16(2, 0) // reserved
  v.setUint16(4, intPort)
  v.setUint16(6, extPort)
  v.setUint32(8, lifetimeSec)
  return b
}

/** A decoded NAT-PMP response. Non-zero `resultCode` replies may be short (8 bytes). */
export type PmpResponse =
  | {
      readonly kind: 'external-address'
      readonly resultCode: number
      /** Seconds since the gateway's port-mapping table was (re)initialised. */
      readonly epoch: number
      /** 4 bytes; all zero when `resultCode` is non-zero. */
      readonly ip: Uint8Array
    }
  | {
      readonly kind: 'mapping'
      readonly protocol: NatProtocol
      readonly resultCode: number
      readonly epoch: number
      readonly intPort: number
      readonly extPort: number
      /** Granted lifetime in seconds. */
      readonly lifetimeSec: number
    }

/**
 * Decode a NAT-PMP response. Throws {@link DecodeError} (`what: 'natpmp'`) for a wrong version,
 * a request opcode, an unknown opcode, or a packet shorter than its kind requires (8 bytes for
 * errors, 12 for an address, 16 for a mapping). Trailing bytes are ignored.
 */
export function decodePmpResponse(data: Uint8Array): PmpResponse {
  if (data.length < 8) throw new DecodeError('natpmp', `response of ${data.length} bytes is truncated`)
  const v = new DataView(data.buffer, data.byteOffset, data.byteLength)
  if (data[0] !== PMP_VERSION) throw new DecodeError('natpmp', `unsupported version ${data[0]}`)
  const op = data[1]!
  if (op < 128) throw new DecodeError('natpmp', `opcode ${op} is a request`)
  const resultCode = v.getUint16(2)
  const epoch = v.getUint32(4)
  const ok = resultCode === 0
  switch (op - 128) {
    case PMP_OP_EXTERNAL_ADDRESS: {
      if (data.length < 12 && ok) throw new DecodeError('natpmp', 'external address response truncated')
      const ip = data.length >= 12 ? data.slice(8, 12) : new Uint8Array(4)
      return { kind: 'external-address', resultCode, epoch, ip }
    }
    case PMP_OP_MAP_UDP:
    case PMP_OP_MAP_TCP: {
      if (data.length < 16 && ok) throw new DecodeError('natpmp', 'mapping response truncated')
      const full = data.length >= 16
      return {
        kind: 'mapping',
        protocol: op - 128 === PMP_OP_MAP_UDP ? 'udp' : 'tcp',
        resultCode,
        epoch,
        intPort: full ? v.getUint16(8) : 0,
        extPort: full ? v.getUint16(10) : 0,
        lifetimeSec: full ? v.getUint32(12) : 0,
      }
    }
    default:
      throw new DecodeError('natpmp', `unknown opcode ${op}`)
  }
}

/** A NAT driven through NAT-PMP on one gateway. */
export class PmpNat implements Nat {
  readonly mechanism = 'pmp' as const
  readonly supportsMapping = true
  /** The gateway's IPv4 address. */
  readonly gateway: string
  readonly spec: string
  private readonly deps: NatDeps
  private readonly options: NatOptions

  constructor(gateway: string, deps: NatDeps, options: NatOptions) {
    const ip = tryParseIP(gateway)
    if (ip?.length !== 4)
      throw new RangeError(`gateway: expected an IPv4 address, got ${JSON.stringify(gateway)}`)
    this.gateway = formatIP(ip)
    this.spec = `pmp:${this.gateway}`
    this.deps = deps
    this.options = options
  }

  toString(): string {
    return `NAT-PMP(${this.gateway})`
  }

  private fromGateway(from: UdpPeer): boolean {
    // RFC 6886 §3.1: discard replies that do not come from the gateway we asked.
    return from.port === PMP_PORT && from.address === this.gateway
  }

  private request<T>(
    what: string,
    req: Uint8Array,
    accept: (r: PmpResponse) => T | undefined,
    signal: AbortSignal | undefined,
    timeoutMs = this.options.pmpTimeoutMs,
  ): Promise<T> {
    return udpExchange(this.deps.clock, this.deps.udp, {
      host: this.gateway,
      port: PMP_PORT,
      request: req,
      initialRtoMs: this.options.pmpInitialRtoMs,
      maxTries: this.options.pmpMaxTries,
      timeoutMs,
      what: `NAT-PMP ${what}`,
      ...(signal ? { signal } : {}),
      accept: (data, from) => {
        if (!this.fromGateway(from)) return undefined
        let r: PmpResponse
        try {
          r = decodePmpResponse(data)
        } catch {
          return undefined
        }
        return accept(r)
      },
    })
  }

  /** The external address, bounded by `timeoutMs` (discovery uses a shorter bound). */
  externalAddress(
    opts?: NatCallOptions & { timeoutMs?: number },
  ): Promise<{ ip: Uint8Array; epoch: number }> {
    return this.request(
      'external address',
      encodePmpExternalAddressRequest(),
      (r) => {
        if (r.kind !== 'external-address') return undefined
        if (r.resultCode !== 0) throw new NatPmpError(r.resultCode, 'external address')
        return { ip: r.ip, epoch: r.epoch }
      },
      opts?.signal,
      opts?.timeoutMs,
    )
  }

  async externalIP(opts?: NatCallOptions): Promise<Uint8Array> {
    return (await this.externalAddress(opts)).ip
  }

  async addMapping(
    protocol: NatProtocol,
    extPort: number,
    intPort: number,
    _name: string,
    lifetimeSec: number,
    opts?: NatCallOptions,
  ): Promise<number> {
    checkMappingArgs(protocol, extPort, intPort, lifetimeSec)
    if (lifetimeSec <= 0) throw new RangeError('lifetimeSec: must be positive (0 deletes the mapping)')
    const req = encodePmpMappingRequest(protocol, intPort, extPort === 0 ? intPort : extPort, lifetimeSec)
    return withTimeout(this.deps.clock, this.options.operationTimeoutMs, 'NAT-PMP map', opts?.signal, (s) =>
      this.request(
        `map ${protocol} ${intPort}`,
        req,
        (r) => {
          if (r.kind !== 'mapping' || r.protocol !== protocol) return undefined
          if (r.resultCode !== 0) throw new NatPmpError(r.resultCode, `map ${protocol} port ${intPort}`)
          if (r.intPort !== intPort) return undefined
          if (r.extPort === 0)
            throw new NatError(`NAT-PMP map ${protocol} port ${intPort}: gateway returned port 0`)
          return r.extPort
        },
        s,
      ),
    )
  }

  async deleteMapping(
    protocol: NatProtocol,
    extPort: number,
    intPort: number,
    opts?: NatCallOptions,
  ): Promise<void> {
    checkMappingArgs(protocol, extPort, intPort, 0)
    // RFC 6886 §3.4: delete with the internal port, suggested external port 0 and lifetime 0.
    const req = encodePmpMappingRequest(protocol, intPort, 0, 0)
    return withTimeout(this.deps.clock, this.options.operationTimeoutMs, 'NAT-PMP unmap', opts?.signal, (s) =>
      this.request(
        `unmap ${protocol} ${intPort}`,
        req,
        (r) => {
          if (r.kind !== 'mapping' || r.protocol !== protocol) return undefined
          if (r.resultCode !== 0) throw new NatPmpError(r.resultCode, `unmap ${protocol} port ${intPort}`)
          return r.intPort === intPort || r.intPort === 0 ? true : undefined
        },
        s,
      ),
    ).then(() => undefined)
  }
}

/**
 * Find a NAT-PMP gateway: ask every guessed gateway for the external address in parallel and
 * take the first to answer within `pmpDiscoveryMs` (geth: 1 s). Rejects with
 * {@link NoRouterError} when none answers.
 */
export async function discoverPmp(deps: NatDeps, options: NatOptions, signal?: AbortSignal): Promise<PmpNat> {
  const gws = potentialGateways(deps.interfaces(), deps.defaultGateways())
  if (gws.length === 0) throw new NoRouterError('no NAT-PMP gateway candidates (no private IPv4 interface)')
  deps.logger.debug('NAT-PMP discovery', { candidates: gws })
  const stop = new AbortController()
  const s = signal ? AbortSignal.any([signal, stop.signal]) : stop.signal
  try {
    return await Promise.any(
      gws.map(async (gw) => {
        const nat = new PmpNat(gw, deps, options)
        await nat.externalAddress({ signal: s, timeoutMs: options.pmpDiscoveryMs })
        return nat
      }),
    )
  } catch (e) {
    if (signal?.aborted) throw abortReason(signal)
    const errs = e instanceof AggregateError ? e.errors : [e]
    const why = errs.map((x: unknown) => (x instanceof Error ? x.message : String(x))).slice(0, 4)
    throw new NoRouterError(`no NAT-PMP gateway answered (tried ${gws.join(', ')}): ${why.join('; ')}`)
  } finally {
    stop.abort()
  }
}

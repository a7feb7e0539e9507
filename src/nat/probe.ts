/**
 * `probeNat(spec)`: a one-shot check of a NAT mechanism for tools (`devp2p nat probe`): discover
 * the router, read the external IP, and try a short-lived test mapping that is deleted again.
 * Never throws for network failures: they are reported in the result. Bounded in time.
 */

import { withTimeout } from '../util/abort.js'
import { formatIP } from '../util/index.js'
import { AutoNat } from './auto.js'
import { resolveNatDeps } from './io.js'
import type { Nat, NatMechanism, NatProtocol } from './nat.js'
import { type NatEnv, parseNat } from './parse.js'

/** What {@link probeNat} found. Plain data (JSON-ready). */
export interface NatProbeResult {
  /** The spec probed, as given. */
  readonly spec: string
  /** The mechanism in use: the discovered one for `any`, `none` when the spec disables NAT. */
  readonly mechanism: Exclude<NatMechanism, 'any'> | 'none'
  /** `toString()` of the NAT, e.g. `UPnP IGDv2-IP2(192.168.1.1)`. */
  readonly description: string
  /** The router's address when known. */
  readonly gateway: string | undefined
  /** The external IP as text, when it could be read. */
  readonly externalIP: string | undefined
  /** Why discovery or the external-IP query failed. */
  readonly error: string | undefined
  /** The test mapping: ok with the external port granted, or why it failed or was not tried. */
  readonly mappingTest: {
    readonly ok: boolean
    readonly protocol: NatProtocol
    readonly intPort: number
    readonly extPort?: number
    readonly error?: string
  }
}

/** Options of {@link probeNat}. */
export interface NatProbeOptions extends NatEnv {
  readonly signal?: AbortSignal
  /** Bound on the whole probe in ms. @default 20000 */
  readonly timeoutMs?: number
  /** Protocol of the test mapping. @default 'tcp' */
  readonly protocol?: NatProtocol
  /** Local port of the test mapping. @default a random port in [40000, 60000) */
  readonly intPort?: number
  /** External port asked for. @default intPort */
  readonly extPort?: number
  /** Lifetime of the test mapping in seconds. @default 60 */
  readonly lifetimeSec?: number
  /** Leave the test mapping in place (it expires after `lifetimeSec`). @default false */
  readonly keepMapping?: boolean
  /** Skip the mapping test. @default false */
  readonly skipMapping?: boolean
}

const message = (e: unknown): string => (e instanceof Error ? `${e.name}: ${e.message}` : String(e))

/**
 * Probe `spec`. Throws only for a malformed spec ({@link DecodeError}) or bad options; network
 * failures, timeouts and router errors are reported in the result.
 */
export async function probeNat(spec: string, opts: NatProbeOptions = {}): Promise<NatProbeResult> {
  const d = resolveNatDeps(opts.deps)
  const nat = parseNat(spec, { deps: d, ...(opts.options ? { options: opts.options } : {}) })
  const protocol = opts.protocol ?? 'tcp'
  let intPort = opts.intPort ?? 0
  if (nat === undefined) {
    return {
      spec,
      mechanism: 'none',
      description: 'none',
      gateway: undefined,
      externalIP: undefined,
      error: undefined,
      mappingTest: { ok: false, protocol, intPort, error: 'NAT handling is disabled' },
    }
  }
  if (intPort === 0) intPort = 40000 + d.random.int(20000)
  let mechanism: NatProbeResult['mechanism'] = nat.mechanism === 'any' ? 'none' : nat.mechanism
  let active: Nat = nat
  let externalIP: string | undefined
  let error: string | undefined
  let mappingTest: NatProbeResult['mappingTest'] = { ok: false, protocol, intPort, error: 'not tried' }
  try {
    await withTimeout(d.clock, opts.timeoutMs ?? 20_000, 'NAT probe', opts.signal, async (s) => {
      if (nat instanceof AutoNat) {
        try {
          active = await nat.discover({ signal: s })
          mechanism = active.mechanism === 'any' ? 'none' : active.mechanism
        } catch (e) {
          error = message(e)
          mappingTest = { ok: false, protocol, intPort, error: 'no router' }
          return
        }
      }
      try {
        externalIP = formatIP(await active.externalIP({ signal: s }))
      } catch (e) {
        error = message(e)
      }
      if (opts.skipMapping) {
        mappingTest = { ok: false, protocol, intPort, error: 'skipped' }
        return
      }
      if (!active.supportsMapping) {
        mappingTest = { ok: false, protocol, intPort, error: `${mechanism} does not map ports` }
        return
      }
      let extPort: number
      try {
        extPort = await active.addMapping(
          protocol,
          opts.extPort ?? intPort,
          intPort,
          'devp2p nat probe',
          opts.lifetimeSec ?? 60,
          { signal: s },
        )
      } catch (e) {
        mappingTest = { ok: false, protocol, intPort, error: message(e) }
        return
      }
      mappingTest = { ok: true, protocol, intPort, extPort }
      if (!opts.keepMapping) {
        try {
          await active.deleteMapping(protocol, extPort, intPort, { signal: s })
        } catch (e) {
          mappingTest = {
            ok: true,
            protocol,
            intPort,
            extPort,
            error: `mapped, but delete failed: ${message(e)}`,
          }
        }
      }
    })
  } catch (e) {
    error = error ?? message(e)
  } finally {
    if (nat instanceof AutoNat) nat.close()
  }
  return {
    spec,
    mechanism,
    description: active.toString(),
    gateway: active.gateway,
    externalIP,
    error,
    mappingTest,
  }
}

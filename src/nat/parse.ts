/**
 * `parseNat(spec)`: geth's `--nat` text forms turned into a {@link Nat}: `none|off`,
 * `any|auto|on`, `extip:<IP>` (alias `ip:`), `upnp`, `pmp[:<gateway>]` (aliases `natpmp`,
 * `nat-pmp`), `stun[:<host:port>]`. Mechanism names are case-insensitive.
 */

import { DecodeError } from '../util/errors.js'
import { tryParseIP } from '../util/index.js'
import { AutoNat } from './auto.js'
import { ExtIpNat } from './extip.js'
import { resolveNatDeps } from './io.js'
import { type Nat, type NatDeps, type NatOptions, resolveNatOptions } from './nat.js'
import { PmpNat } from './natpmp.js'
import { StunNat } from './stun.js'

/** Services and tunables for the {@link Nat} that {@link parseNat} builds. */
export interface NatEnv {
  readonly deps?: Partial<NatDeps>
  readonly options?: Partial<NatOptions>
}

/** The accepted forms, for help texts and error messages. */
export const NAT_SPEC_USAGE = 'none|any|upnp|pmp|pmp:<IP>|extip:<IP>|stun|stun:<host:port>'

/**
 * Parse a NAT spec. Returns `undefined` for "no NAT handling" (`''`, `none`, `off`). Throws
 * {@link DecodeError} (`what: 'nat'`) for an unknown mechanism, a missing or invalid address, or
 * an argument where none is taken.
 */
export function parseNat(spec: string, env: NatEnv = {}): Nat | undefined {
  const text = typeof spec === 'string' ? spec.trim() : ''
  const bad = (why: string): DecodeError =>
    new DecodeError('nat', `${why} in ${JSON.stringify(text.slice(0, 100))} (expected ${NAT_SPEC_USAGE})`)
  const colon = text.indexOf(':')
  const mech = (colon < 0 ? text : text.slice(0, colon)).toLowerCase()
  const arg = colon < 0 ? undefined : text.slice(colon + 1)
  const noArg = (): void => {
    if (arg !== undefined) throw bad(`${mech || 'none'} takes no argument`)
  }
  const deps = (): NatDeps => resolveNatDeps(env.deps)
  const options = (): NatOptions => resolveNatOptions(env.options)
  switch (mech) {
    case '':
    case 'none':
    case 'off':
      noArg()
      return undefined
    case 'any':
    case 'auto':
    case 'on':
      noArg()
      return new AutoNat('any', deps(), options())
    case 'upnp':
      noArg()
      return new AutoNat('upnp', deps(), options())
    case 'extip':
    case 'ip': {
      if (!arg) throw bad('missing IP address')
      const ip = tryParseIP(arg)
      if (!ip) throw bad('invalid IP address')
      return new ExtIpNat(ip)
    }
    case 'pmp':
    case 'natpmp':
    case 'nat-pmp': {
      if (arg === undefined) return new AutoNat('pmp', deps(), options())
      const ip = tryParseIP(arg)
      if (ip?.length !== 4) throw bad('invalid gateway IPv4 address')
      return new PmpNat(arg, deps(), options())
    }
    case 'stun': {
      if (arg === undefined) return new StunNat(undefined, deps(), options())
      try {
        return new StunNat(arg, deps(), options())
      } catch {
        throw bad('invalid STUN server address')
      }
    }
    default:
      throw bad(`unknown NAT mechanism ${JSON.stringify(mech.slice(0, 40))}`)
  }
}

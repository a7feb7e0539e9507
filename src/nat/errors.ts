/**
 * The typed errors of the NAT layer: {@link NatError} and its kinds (no router found, a UPnP SOAP
 * fault with its UPnP error code, a NAT-PMP result code, a failed STUN exchange, a mechanism that
 * cannot map ports).
 */
import { DevP2PError } from '../util/errors.js'

/** Base class of the NAT layer's errors. */
export class NatError extends DevP2PError {
  override name: string = 'NatError'
}

/** Discovery found no usable router (no SSDP answer, no NAT-PMP gateway, or NAT disabled). */
export class NoRouterError extends NatError {
  override name = 'NoRouterError' as const
}

/** The UPnP error codes of the IGD WANIPConnection/WANPPPConnection services that we name. */
export const UPNP_ERROR_NAMES: Readonly<Record<number, string>> = {
  401: 'InvalidAction',
  402: 'InvalidArgs',
  501: 'ActionFailed',
  600: 'ArgumentValueInvalid',
  601: 'ArgumentValueOutOfRange',
  606: 'ActionNotAuthorized',
  713: 'SpecifiedArrayIndexInvalid',
  714: 'NoSuchEntryInArray',
  715: 'WildCardNotPermittedInSrcIP',
  716: 'WildCardNotPermittedInExtPort',
  718: 'ConflictInMappingEntry',
  724: 'SamePortValuesRequired',
  725: 'OnlyPermanentLeasesSupported',
  726: 'RemoteHostOnlySupportsWildcard',
  727: 'ExternalPortOnlySupportsWildcard',
  728: 'NoPortMapsAvailable',
  729: 'ConflictWithOtherMechanisms',
  732: 'WildCardNotPermittedInIntPort',
}

/** UPnP error 718: the external port is mapped to another client; try another port. */
export const UPNP_CONFLICT_IN_MAPPING_ENTRY = 718
/** UPnP error 725: the router accepts only lease duration 0 (permanent). */
export const UPNP_ONLY_PERMANENT_LEASES = 725
/** UPnP error 714: no such mapping (DeletePortMapping of an absent entry). */
export const UPNP_NO_SUCH_ENTRY = 714

/** A SOAP fault from a UPnP control point, or an HTTP error status from one. */
export class UpnpSoapError extends NatError {
  override name = 'UpnpSoapError' as const
  /** The SOAP action that failed, e.g. `AddPortMapping`. */
  readonly action: string
  /** The UPnP `errorCode` (e.g. 718), or 0 when the reply carried none. */
  readonly code: number
  /** The router's `errorDescription`, or the HTTP status text. */
  readonly description: string
  /** The HTTP status of the reply. */
  readonly httpStatus: number
  constructor(action: string, code: number, description: string, httpStatus: number) {
    const named = UPNP_ERROR_NAMES[code]
    super(
      `UPnP ${action} failed: ${code ? `error ${code}` : `HTTP ${httpStatus}`}` +
        `${named ? ` ${named}` : ''}${description ? ` (${description})` : ''}`,
    )
    this.action = action
    this.code = code
    this.description = description
    this.httpStatus = httpStatus
  }
}

/** NAT-PMP result codes (RFC 6886 §3.5). */
export const PMP_RESULT_NAMES: Readonly<Record<number, string>> = {
  0: 'Success',
  1: 'UnsupportedVersion',
  2: 'NotAuthorized',
  3: 'NetworkFailure',
  4: 'OutOfResources',
  5: 'UnsupportedOpcode',
}

/** A NAT-PMP reply with a non-zero result code. */
export class NatPmpError extends NatError {
  override name = 'NatPmpError' as const
  /** The RFC 6886 result code (1-5, or an unknown value). */
  readonly resultCode: number
  constructor(resultCode: number, what: string) {
    super(`NAT-PMP ${what}: result ${resultCode} ${PMP_RESULT_NAMES[resultCode] ?? 'Unknown'}`)
    this.resultCode = resultCode
  }
}

/** A STUN exchange failed (error response, no mapped address, no server answered). */
export class StunError extends NatError {
  override name = 'StunError' as const
}

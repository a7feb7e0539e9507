/**
 * UPnP control (SOAP 1.1) codec: building an action request envelope and reading the reply,
 * either the `<ActionResponse>` arguments or a `UPnPError` fault turned into
 * {@link UpnpSoapError}. Pure; the HTTP exchange is in `upnp.ts`.
 */
import { DecodeError } from '../util/errors.js'
import { UpnpSoapError } from './errors.js'
import { childText, escapeXml, findFirst, parseXml } from './xml.js'

/** A SOAP request: the envelope and the `SOAPAction` header value (quoted). */
export interface SoapRequest {
  readonly body: string
  readonly soapAction: string
}

const NAME = /^[A-Za-z_][A-Za-z0-9_.-]*$/

/**
 * Build the request for `action` of `serviceType` with the arguments in order (UPnP requires
 * the order of the service description; some routers check it).
 */
export function encodeSoapRequest(
  serviceType: string,
  action: string,
  args: readonly (readonly [string, string])[],
): SoapRequest {
  if (!NAME.test(action)) throw new RangeError(`action: invalid name ${JSON.stringify(action)}`)
  if (/["\r\n<>&]/.test(serviceType)) throw new RangeError('serviceType: invalid characters')
  let inner = ''
  for (const [k, v] of args) {
    if (!NAME.test(k)) throw new RangeError(`argument: invalid name ${JSON.stringify(k)}`)
    inner += `<${k}>${escapeXml(v)}</${k}>`
  }
  const body =
    '<?xml version="1.0"?>\r\n' +
    '<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/" ' +
    's:encodingStyle="http://schemas.xmlsoap.org/soap/encoding/">' +
    `<s:Body><u:${action} xmlns:u="${serviceType}">${inner}</u:${action}></s:Body></s:Envelope>\r\n`
  return { body, soapAction: `"${serviceType}#${action}"` }
}

/** The UPnP error inside a SOAP fault, if the document holds one. */
export function decodeSoapFault(
  xml: string,
  maxChars?: number,
): { code: number; description: string } | undefined {
  const doc = parseXml(xml, maxChars === undefined ? {} : { maxChars })
  const fault = findFirst(doc, 'Fault')
  if (!fault) return undefined
  const upnpError = findFirst(fault, 'UPnPError')
  const codeText = upnpError ? childText(upnpError, 'errorCode') : undefined
  const code = codeText !== undefined && /^[0-9]{1,4}$/.test(codeText) ? Number(codeText) : 0
  const description =
    (upnpError ? childText(upnpError, 'errorDescription') : undefined) ??
    childText(fault, 'faultstring') ??
    ''
  return { code, description: description.slice(0, 200) }
}

/**
 * Read the reply to `action`: on HTTP 200 the output arguments (element name → trimmed text) of
 * `<actionResponse>`; otherwise, or when the body is a fault, a {@link UpnpSoapError} is thrown.
 * A 200 reply without the response element throws {@link DecodeError} (`what: 'soap'`).
 */
export function decodeSoapResponse(
  action: string,
  httpStatus: number,
  xml: string,
  maxChars?: number,
): Record<string, string> {
  const limits = maxChars === undefined ? {} : { maxChars }
  if (httpStatus !== 200) {
    let fault: { code: number; description: string } | undefined
    try {
      fault = decodeSoapFault(xml, maxChars)
    } catch {
      fault = undefined
    }
    throw new UpnpSoapError(action, fault?.code ?? 0, fault?.description ?? '', httpStatus)
  }
  const doc = parseXml(xml, limits)
  const resp = findFirst(doc, `${action}Response`)
  if (!resp) {
    const fault = findFirst(doc, 'Fault')
    if (fault) {
      const f = decodeSoapFault(xml, maxChars)
      throw new UpnpSoapError(action, f?.code ?? 0, f?.description ?? '', httpStatus)
    }
    throw new DecodeError('soap', `reply has no ${action}Response element`)
  }
  // A null-prototype object: element names come from the router (think `__proto__`).
  const out = Object.create(null) as Record<string, string>
  for (const c of resp.children) out[c.name] = c.text.trim()
  return out
}

/**
 * Parsing of node text: `enode://<hex key>@<host>:<tcp>[?discport=<udp>]` URLs (IPv4, bracketed
 * IPv6, or a DNS name kept unresolved), the id-only form `enode://<hex key>`, and `enr:` records
 * through {@link parseNode}. Errors are {@link DecodeError}s with `what: 'enode-url'` (`'enr'` for
 * record text).
 */
import { decompressPublicKey } from '../crypto/index.js'
import { ENR } from '../enr/index.js'
import { DecodeError, fromHex, normalizeIP } from '../util/index.js'
import { Node } from './node.js'

const WHAT = 'enode-url'
/** Longest URL accepted: 8 + 128 + 1 + 253 (DNS name) + 6 + 16 (query), with slack. */
const MAX_URL_LENGTH = 1024
const SCHEME = 'enode://'
const LABEL = '[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?'
const HOSTNAME = new RegExp(`^${LABEL}(?:\\.${LABEL})*\\.?$`)

function fail(message: string): never {
  throw new DecodeError(WHAT, message)
}

function parsePublicKey(hex: string): Uint8Array {
  if (!/^[0-9a-fA-F]*$/.test(hex)) fail('invalid public key (invalid hex)')
  if (hex.length !== 128) fail('invalid public key (wrong length, want 128 hex chars)')
  const key = fromHex(hex)
  try {
    decompressPublicKey(key)
  } catch (e) {
    throw new DecodeError(WHAT, 'invalid public key (not a point on secp256k1)', { cause: e })
  }
  return key
}

function parsePort(text: string, message: string): number {
  // Go's ParseUint accepts leading zeros; the value must fit 16 bits.
  if (!/^[0-9]{1,10}$/.test(text)) fail(message)
  const n = Number(text)
  if (n > 65535) fail(message)
  return n
}

/** A DNS name as an enode URL may carry it: LDH labels (and `_`), not an all-numeric last label. */
function isHostname(host: string): boolean {
  if (host.length === 0 || host.length > 253 || !HOSTNAME.test(host)) return false
  const labels = host.replace(/\.$/, '').split('.')
  return !/^[0-9]+$/.test(labels[labels.length - 1]!)
}

/**
 * Parse an `enode://` URL. The host may be an IPv4 address, an IPv6 address in brackets, or a
 * DNS name, which is kept in {@link Node.hostname} unresolved. Without `@host:port` the URL is
 * the incomplete, key-only form. Query parameters other than `discport` are ignored, as go-ethereum
 * does; a path or fragment is refused.
 */
export function parseEnode(url: string): Node {
  if (typeof url !== 'string') throw new TypeError('enode URL: expected a string')
  if (url.length > MAX_URL_LENGTH) fail('URL too long')
  if (url.slice(0, SCHEME.length).toLowerCase() !== SCHEME) fail('invalid URL scheme, want "enode"')
  const rest = url.slice(SCHEME.length)
  const at = rest.indexOf('@')
  if (at < 0) {
    // Incomplete form: the key alone.
    return Node.fromPublicKey(parsePublicKey(rest))
  }
  const publicKey = parsePublicKey(rest.slice(0, at))
  const q = rest.indexOf('?', at)
  const authority = q < 0 ? rest.slice(at + 1) : rest.slice(at + 1, q)
  const query = q < 0 ? '' : rest.slice(q + 1)
  if (/[/#@]/.test(authority)) fail('unexpected path, fragment or "@" after the host')
  if (query.includes('#')) fail('unexpected fragment')

  let host: string
  let portText: string
  if (authority.startsWith('[')) {
    const close = authority.indexOf(']')
    if (close < 0) fail('missing "]" in host')
    host = authority.slice(1, close)
    if (authority[close + 1] !== ':') fail('invalid port')
    portText = authority.slice(close + 2)
    if (!host.includes(':') || normalizeIP(host) === undefined) fail('invalid IPv6 address in brackets')
  } else {
    const colon = authority.lastIndexOf(':')
    if (colon < 0) fail('invalid port')
    host = authority.slice(0, colon)
    portText = authority.slice(colon + 1)
    if (host.includes(':')) fail('IPv6 address must be in brackets')
  }
  const tcp = parsePort(portText, 'invalid port')
  let udp = tcp
  for (const param of query === '' ? [] : query.split('&')) {
    const eq = param.indexOf('=')
    const name = eq < 0 ? param : param.slice(0, eq)
    if (name !== 'discport') continue
    const value = eq < 0 ? '' : param.slice(eq + 1)
    // As go's url.Values.Get: the first discport counts; an empty one means "same as tcp".
    if (value !== '') udp = parsePort(value, 'invalid discport in query')
    break
  }
  const ip = normalizeIP(host)
  if (ip !== undefined) return Node.fromPublicKey(publicKey, { ip, tcp, udp })
  if (!isHostname(host)) fail(`invalid host ${JSON.stringify(host.slice(0, 64))}`)
  return Node.fromPublicKey(publicKey, { hostname: host, tcp, udp })
}

/**
 * Parse node text as go-ethereum's `enode.Parse` does: an `enode://` URL ({@link parseEnode})
 * or an `enr:` record, which must carry a valid "v4" signature. Anything else throws
 * {@link DecodeError} ("missing 'enr:' prefix").
 */
export function parseNode(text: string): Node {
  if (typeof text !== 'string') throw new TypeError('node text: expected a string')
  if (text.startsWith(SCHEME)) return parseEnode(text)
  if (!text.startsWith('enr:')) fail("missing 'enr:' prefix for base64-encoded record")
  return Node.fromRecord(ENR.fromText(text), { verify: false })
}

import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import { decodeSsdpResponse, encodeMSearch, SSDP_MAX_RESPONSE } from '../../../src/nat/index.js'
import { DecodeError, fromUtf8, utf8 } from '../../../src/util/index.js'
import { SSDP_REPLY } from './fixtures.js'

describe('SSDP', () => {
  it('builds an M-SEARCH', () => {
    assert.equal(
      fromUtf8(encodeMSearch('urn:schemas-upnp-org:device:InternetGatewayDevice:1', 2)),
      'M-SEARCH * HTTP/1.1\r\nHOST: 239.255.255.250:1900\r\nMAN: "ssdp:discover"\r\nMX: 2\r\n' +
        'ST: urn:schemas-upnp-org:device:InternetGatewayDevice:1\r\n\r\n',
    )
    assert.match(fromUtf8(encodeMSearch('x', 99)), /MX: 5\r\n/)
    assert.throws(() => encodeMSearch('a\r\nEVIL: 1', 1), RangeError)
  })
  it('parses a miniupnpd reply', () => {
    const r = decodeSsdpResponse(utf8(SSDP_REPLY))
    assert.equal(r.location, 'http://192.168.1.1:5000/rootDesc.xml')
    assert.equal(r.st, 'urn:schemas-upnp-org:device:InternetGatewayDevice:1')
    assert.match(r.usn, /^uuid:3d3cec3a/)
    assert.match(r.server, /MiniUPnPd/)
    assert.equal(r.headers.get('configid.upnp.org'), '1337')
  })
  it('accepts bare LF line ends and any header case', () => {
    const r = decodeSsdpResponse(utf8('HTTP/1.0 200 OK\nlocation:http://10.0.0.1:1/d.xml\nSt: x\n\n'))
    assert.equal(r.location, 'http://10.0.0.1:1/d.xml')
    assert.equal(r.st, 'x')
  })
  it('rejects non-200, NOTIFY, missing LOCATION and oversized replies', () => {
    for (const bad of [
      'HTTP/1.1 404 Not Found\r\nLOCATION: http://x/\r\n\r\n',
      'NOTIFY * HTTP/1.1\r\nLOCATION: http://x/\r\n\r\n',
      'HTTP/1.1 200 OK\r\nST: x\r\n\r\n',
      'HTTP/1.1 200 OK\r\nLOCATION:\r\n\r\n',
      '',
    ]) {
      assert.throws(() => decodeSsdpResponse(utf8(bad)), DecodeError, bad)
    }
    const big = `HTTP/1.1 200 OK\r\nLOCATION: http://x/\r\nX: ${'a'.repeat(SSDP_MAX_RESPONSE)}\r\n\r\n`
    assert.throws(() => decodeSsdpResponse(utf8(big)), /larger than/)
  })
  it('random bytes throw only DecodeError', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.uint8Array({ maxLength: 600 }),
          fc.string().map((s) => utf8(`HTTP/1.1 200 OK\r\n${s}`)),
        ),
        (b) => {
          try {
            decodeSsdpResponse(b)
          } catch (e) {
            assert.ok(e instanceof DecodeError)
          }
        },
      ),
      { numRuns: 3000 },
    )
  })
})

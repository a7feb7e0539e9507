import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import {
  decodeSoapFault,
  decodeSoapResponse,
  encodeSoapRequest,
  UpnpSoapError,
} from '../../../src/nat/index.js'
import { DecodeError } from '../../../src/util/index.js'
import { soapFault, soapReply } from './fixtures.js'

const ST = 'urn:schemas-upnp-org:service:WANIPConnection:1'

describe('SOAP codec', () => {
  it('builds an envelope with ordered, escaped arguments', () => {
    const r = encodeSoapRequest(ST, 'AddPortMapping', [
      ['NewRemoteHost', ''],
      ['NewExternalPort', '30303'],
      ['NewPortMappingDescription', 'a<b>&"c"'],
    ])
    assert.equal(r.soapAction, `"${ST}#AddPortMapping"`)
    assert.ok(r.body.startsWith('<?xml version="1.0"?>'))
    assert.ok(
      r.body.includes(
        `<s:Body><u:AddPortMapping xmlns:u="${ST}"><NewRemoteHost></NewRemoteHost><NewExternalPort>30303</NewExternalPort>` +
          '<NewPortMappingDescription>a&lt;b&gt;&amp;&quot;c&quot;</NewPortMappingDescription></u:AddPortMapping></s:Body>',
      ),
    )
    assert.throws(() => encodeSoapRequest(ST, 'Bad Action', []), RangeError)
    assert.throws(() => encodeSoapRequest(ST, 'X', [['<x>', '1']]), RangeError)
    assert.throws(() => encodeSoapRequest('a"b', 'X', []), RangeError)
  })
  it('reads response arguments', () => {
    const out = decodeSoapResponse(
      'GetExternalIPAddress',
      200,
      soapReply('GetExternalIPAddress', { NewExternalIPAddress: ' 10.99.0.1 ' }),
    )
    assert.equal(out['NewExternalIPAddress'], '10.99.0.1')
    assert.deepEqual({ ...decodeSoapResponse('AddPortMapping', 200, soapReply('AddPortMapping')) }, {})
  })
  it('keeps hostile element names out of the prototype', () => {
    const body = soapReply('X', { constructor: 'c' }).replace(
      '<constructor>',
      '<__proto__>polluted</__proto__><constructor>',
    )
    const out = decodeSoapResponse('X', 200, body)
    assert.equal(Object.getPrototypeOf(out), null)
    assert.equal(Object.getOwnPropertyDescriptor(out, '__proto__')?.value, 'polluted')
    assert.equal(({} as Record<string, unknown>)['polluted'], undefined)
  })
  it('turns a UPnPError fault into UpnpSoapError with its code', () => {
    assert.throws(
      () => decodeSoapResponse('AddPortMapping', 500, soapFault(718, 'ConflictInMappingEntry')),
      (e: unknown) =>
        e instanceof UpnpSoapError &&
        e.code === 718 &&
        e.action === 'AddPortMapping' &&
        e.httpStatus === 500 &&
        /error 718 ConflictInMappingEntry/.test(e.message),
    )
    assert.deepEqual(decodeSoapFault(soapFault(606, 'Action not authorized')), {
      code: 606,
      description: 'Action not authorized',
    })
  })
  it('handles faults with HTTP 200, bodies without a fault, and junk', () => {
    assert.throws(
      () => decodeSoapResponse('X', 200, soapFault(401, 'Invalid Action')),
      (e: unknown) => e instanceof UpnpSoapError && e.code === 401,
    )
    assert.throws(
      () => decodeSoapResponse('X', 500, ''),
      (e: unknown) => e instanceof UpnpSoapError && e.code === 0 && /HTTP 500/.test(e.message),
    )
    assert.throws(
      () => decodeSoapResponse('X', 500, '<a'),
      (e: unknown) => e instanceof UpnpSoapError && e.code === 0,
    )
    assert.throws(() => decodeSoapResponse('X', 200, soapReply('Y')), DecodeError)
    assert.throws(() => decodeSoapResponse('X', 200, '<<<'), DecodeError)
    assert.throws(() => decodeSoapResponse('X', 200, soapReply('X'), 20), /exceeds/)
  })
  it('random replies give only UpnpSoapError or DecodeError', () => {
    fc.assert(
      fc.property(fc.constantFrom(200, 500, 404), fc.string(), (status, body) => {
        try {
          decodeSoapResponse('GetExternalIPAddress', status, body)
        } catch (e) {
          assert.ok(e instanceof UpnpSoapError || e instanceof DecodeError, String(e))
        }
      }),
      { numRuns: 3000 },
    )
  })
})

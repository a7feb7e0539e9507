import assert from 'node:assert/strict'
import { createSocket } from 'node:dgram'
import { once } from 'node:events'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { after, before, describe, it } from 'node:test'
import {
  nodeDefaultGateways,
  nodeHttpClient,
  nodeInterfaces,
  nodeUdpSocketFactory,
} from '../../../src/nat/index.js'
import { DecodeError, fromUtf8, utf8 } from '../../../src/util/index.js'

// The Node I/O adapters against real sockets on 127.0.0.1 (no root needed).
describe('node I/O adapters (loopback)', () => {
  let server: Server
  let base = ''
  before(async () => {
    server = createServer((req, res) => {
      if (req.url === '/small') res.end('hello')
      else if (req.url === '/declared-big') {
        res.setHeader('Content-Length', '100000')
        res.end('x'.repeat(100000))
      } else if (req.url === '/chunked-big') {
        res.write('y'.repeat(40000))
        res.write('y'.repeat(40000))
        res.end()
      } else if (req.url === '/echo' && req.method === 'POST') {
        let body = ''
        req.on('data', (c: Buffer) => {
          body += c.toString()
        })
        req.on('end', () => {
          res.statusCode = 500
          res.end(`${req.headers['soapaction']}|${body}`)
        })
      } else if (req.url === '/hang') {
        // never answer
      } else {
        res.statusCode = 404
        res.end()
      }
    })
    server.listen(0, '127.0.0.1')
    await once(server, 'listening')
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  })
  after(() => {
    server.closeAllConnections()
    server.close()
  })

  it('GETs a body and reports the local address', async () => {
    const r = await nodeHttpClient({ method: 'GET', url: `${base}/small`, maxBytes: 100 })
    assert.equal(r.status, 200)
    assert.equal(fromUtf8(r.body), 'hello')
    assert.equal(r.localAddress, '127.0.0.1')
  })
  it('POSTs with headers and returns error statuses as data', async () => {
    const r = await nodeHttpClient({
      method: 'POST',
      url: `${base}/echo`,
      headers: { SOAPAction: '"a#b"' },
      body: '<x/>',
      maxBytes: 100,
    })
    assert.equal(r.status, 500)
    assert.equal(fromUtf8(r.body), '"a#b"|<x/>')
  })
  it('refuses bodies beyond maxBytes, declared or streamed', async () => {
    await assert.rejects(
      nodeHttpClient({ method: 'GET', url: `${base}/declared-big`, maxBytes: 1000 }),
      DecodeError,
    )
    await assert.rejects(
      nodeHttpClient({ method: 'GET', url: `${base}/chunked-big`, maxBytes: 50000 }),
      DecodeError,
    )
  })
  it('aborts a hanging request through its signal', async () => {
    const ac = new AbortController()
    const p = nodeHttpClient({ method: 'GET', url: `${base}/hang`, maxBytes: 100, signal: ac.signal })
    setImmediate(() => ac.abort())
    await assert.rejects(p)
  })
  it('rejects non-http URLs', async () => {
    await assert.rejects(
      nodeHttpClient({ method: 'GET', url: 'https://127.0.0.1/', maxBytes: 1 }),
      /unsupported URL scheme/,
    )
    await assert.rejects(nodeHttpClient({ method: 'GET', url: 'not a url', maxBytes: 1 }), /bad URL/)
  })
  it('UDP sockets send and receive, and close idempotently', async () => {
    const echo = createSocket('udp4')
    echo.on('message', (m, r) => echo.send(m, r.port, r.address))
    echo.bind(0, '127.0.0.1')
    await once(echo, 'listening')
    const sock = await nodeUdpSocketFactory()
    try {
      const got = new Promise<string>((res) => sock.onMessage((d) => res(fromUtf8(d))))
      await sock.send(utf8('ping'), (echo.address() as AddressInfo).port, '127.0.0.1')
      assert.equal(await got, 'ping')
    } finally {
      sock.close()
      sock.close()
      echo.close()
    }
    await assert.rejects(sock.send(utf8('x'), 1, '127.0.0.1'), /closed/)
  })
  it('lists interfaces and default gateways', () => {
    const ifs = nodeInterfaces()
    assert.ok(ifs.some((i) => i.internal && i.address === '127.0.0.1'))
    for (const g of nodeDefaultGateways()) assert.match(g, /^\d+\.\d+\.\d+\.\d+$/)
  })
})

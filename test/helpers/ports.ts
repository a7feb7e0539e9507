/**
 * Free loopback ports for components that need a fixed port before they start (ethereumjs' DPT
 * announces its endpoint up front; `devp2p node --http` takes host:port). The port is found by
 * binding port 0 and closing again, so another process could take it in between: callers on a
 * shared machine should be ready for EADDRINUSE.
 */
import { createSocket } from 'node:dgram'
import { once } from 'node:events'
import { type AddressInfo, createServer } from 'node:net'

/** A TCP port that was free on `host` a moment ago. */
export async function freeTcpPort(host = '127.0.0.1'): Promise<number> {
  const srv = createServer()
  srv.listen(0, host)
  await once(srv, 'listening')
  const port = (srv.address() as AddressInfo).port
  await new Promise<void>((resolve) => srv.close(() => resolve()))
  return port
}

/** A UDP port that was free on `host` a moment ago. */
export async function freeUdpPort(host = '127.0.0.1'): Promise<number> {
  const sock = createSocket(host.includes(':') ? 'udp6' : 'udp4')
  sock.bind(0, host)
  await once(sock, 'listening')
  const port = sock.address().port
  await new Promise<void>((resolve) => sock.close(() => resolve()))
  return port
}

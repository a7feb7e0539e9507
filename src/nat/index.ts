/**
 * devp2p/nat: the `Nat` interface and `parseNat(spec)` (none, any, extip, upnp, pmp, stun), the
 * UPnP IGD v1/v2, NAT-PMP and STUN clients with their pure codecs, the port-mapping loop and
 * `probeNat`. Imports only netutil and util; the only folder of the library that opens sockets for
 * NAT traversal.
 */
export * from './auto.js'
export * from './errors.js'
export * from './extip.js'
export * from './gateway.js'
export * from './io.js'
export * from './mapping.js'
export * from './nat.js'
export * from './natpmp.js'
export * from './parse.js'
export * from './probe.js'
export * from './soap.js'
export * from './ssdp.js'
export * from './stun.js'
export * from './udp-exchange.js'
export * from './upnp.js'
export * from './xml.js'

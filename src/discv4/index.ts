/**
 * devp2p/discv4: Node Discovery v4 (with EIP-8 and EIP-868): the pure wire codec, the
 * `PacketConn` datagram seam with an in-memory network for tests, the UDP socket adapter, the
 * Kademlia table and lookups, and the `Discv4` protocol engine.
 */
export * from './config.js'
export * from './conn.js'
export * from './crawl.js'
export * from './discv4.js'
export * from './lookup.js'
export * from './table.js'
export * from './udp.js'
export * from './wire.js'

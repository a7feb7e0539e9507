/**
 * devp2p/enode: `Node` (id, key, endpoint, record), `enode://` URLs, XOR/log distance,
 * `LocalNode` (our own signed record) and the persistent `NodeDB`.
 */
export * from './distance.js'
export * from './localnode.js'
export * from './node.js'
export * from './nodedb.js'
export * from './url.js'

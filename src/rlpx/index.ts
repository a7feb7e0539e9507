/**
 * devp2p/rlpx: the RLPx transport. `handshake` (EIP-8 and legacy auth/ack, session secrets) and
 * `frame` (frame codec and MAC) are pure; `conn` is the socket adapter (deadlines, backpressure,
 * snappy); `snappy` holds the EIP-706 codec with its length checks; `duplexPair` is the in-memory
 * socket pair for tests.
 */
export * from './conn.js'
export * from './duplex-pair.js'
export * from './frame.js'
export * from './handshake.js'
export * from './snappy.js'

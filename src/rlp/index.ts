/** devp2p/rlp: strict RLP encode/decode, decode-with-tail, typed list/bytes/integer readers. */
export * from './helpers.js'
export * from './rlp.js'

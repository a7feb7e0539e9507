/**
 * devp2p/crypto: Keccak-256, secp256k1 in Ethereum's layouts (with a native and a pure-JS
 * backend), ECIES as RLPx uses it, AES-CTR/ECB, SHA-256, HMAC-SHA256 and the concat KDF.
 * Every function returns plain `Uint8Array`s (never Node `Buffer`s).
 */
export * from './aes.js'
export * from './ecies.js'
export * from './hash.js'
export * from './keccak.js'
export * from './keyfile.js'
export * from './secp256k1.js'

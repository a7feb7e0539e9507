/** devp2p/enr: EIP-778 node records, the "v4" identity scheme, `enr:` text. */
export * from './base64url.js'
export * from './record.js'

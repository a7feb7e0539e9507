/** devp2p/enr: EIP-778 node records, the "v4" identity scheme, `enr:` text, IP text helpers. */
export * from './base64url.js'
export * from './ip.js'
export * from './record.js'

/**
 * devp2p/util: bytes, assertions, clocks, logging, abort helpers, randomness, errors, and the IP
 * address text codec (`parseIP`, `formatIP`, IPv4-mapped handling).
 */
export * from './abort.js'
export * from './assert.js'
export * from './bytes.js'
export * from './clock.js'
export * from './errors.js'
export * from './ip.js'
export * from './logger.js'
export * from './random.js'

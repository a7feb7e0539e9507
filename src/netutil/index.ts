/**
 * devp2p/netutil: IP parsing and classes, CIDR lists (`Netlist`), relay-IP rules,
 * `DistinctNetSet`, `IPTracker` and socket-error classification. Pure; imports only util.
 */
export * from './distinct.js'
export * from './error.js'
export * from './ip.js'
export * from './iptrack.js'
export * from './netlist.js'

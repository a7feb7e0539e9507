/**
 * devp2p/netutil: IP address classes (LAN, special, locality), CIDR lists (`Netlist`), relay-IP
 * rules, `DistinctNetSet`, `IPTracker` and socket-error classification. Pure; imports only util.
 */

// The IP text codec lives in util (`util/ip.ts`); these names stay here too because the published
// `devp2p/netutil` entry has always offered them. New code imports them from util.
export { formatIP, isIPv4Mapped, parseIP, tryParseIP, unmapIP } from '../util/ip.js'
export * from './distinct.js'
export * from './error.js'
export * from './ip.js'
export * from './iptrack.js'
export * from './netlist.js'

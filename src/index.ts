/** devp2p: Ethereum's peer-to-peer networking stack. The root entry re-exports the public layers. */
export * from './util/index.js'

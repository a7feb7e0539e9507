// Layer rules of docs/ARCHITECTURE.md: imports point downward only.
// Each entry: folder -> the src folders it may import (besides itself).
const ALLOWED = {
  util: [],
  rlp: ['util'],
  crypto: ['util'],
  enr: ['rlp', 'crypto', 'util'],
  netutil: ['util'],
  enode: ['enr', 'netutil', 'rlp', 'crypto', 'util'],
  rlpx: ['rlp', 'crypto', 'util'],
  discv4: ['enode', 'enr', 'netutil', 'rlp', 'crypto', 'util'],
  nat: ['netutil', 'util'],
  p2p: ['rlpx', 'discv4', 'nat', 'enode', 'enr', 'netutil', 'rlp', 'crypto', 'util'],
  eth: ['p2p', 'util', 'rlp'],
  cli: ['p2p', 'rlpx', 'discv4', 'nat', 'enode', 'enr', 'netutil', 'rlp', 'crypto', 'util', 'eth'],
}
const ALL = Object.keys(ALLOWED)
const layerRules = ALL.map((from) => {
  const forbidden = ALL.filter((f) => f !== from && !ALLOWED[from].includes(f))
  return {
    name: `layer-${from}`,
    comment: `${from} may import only: ${ALLOWED[from].join(', ') || 'nothing'}`,
    severity: 'error',
    from: { path: `^src/${from}/` },
    to: { path: forbidden.length ? `^src/(${forbidden.join('|')})/` : '^$' },
  }
})
// Only the I/O files may touch sockets, DNS or the clock's real timers.
const IO_FILES = [
  '^src/rlpx/conn\\.ts$',
  '^src/discv4/udp\\.ts$',
  '^src/p2p/server\\.ts$',
  '^src/p2p/dial\\.ts$',
  '^src/p2p/tcp\\.ts$',
  '^src/nat/',
  '^src/util/clock\\.ts$',
  '^src/cli/',
]
module.exports = {
  forbidden: [
    ...layerRules,
    {
      name: 'io-only-in-io-files',
      comment: 'node:net, node:dgram, node:dns and node:timers only in the files that do I/O',
      severity: 'error',
      from: { path: '^src/', pathNot: IO_FILES },
      to: { path: '^(node:)?(net|dgram|dns|timers|timers/promises)$', dependencyTypes: ['core'] },
    },
    { name: 'no-circular', severity: 'error', from: {}, to: { circular: true } },
    { name: 'not-to-dev-dep', severity: 'error', from: { path: '^src/' }, to: { dependencyTypes: ['npm-dev'], pathNot: 'node_modules/@types/' } },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsConfig: { fileName: 'tsconfig.json' },
    tsPreCompilationDeps: true,
    enhancedResolveOptions: { extensions: ['.ts', '.js'] },
  },
}

import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { capsOf, matchProtocols, type Protocol } from '../../../src/p2p/protocol.js'

const proto = (name: string, version: number, length: number): Protocol => ({
  name,
  version,
  length,
  run: async () => {},
})
const match = (local: Protocol[], caps: [string, number][]): [string, number][] =>
  matchProtocols(
    local,
    caps.map(([name, version]) => ({ name, version })),
  ).map((m) => [`${m.protocol.name}/${m.protocol.version}`, m.offset])

// Cases after geth's TestMatchProtocols (rewritten as our own table).
describe('matchProtocols', () => {
  it('matches nothing without shared caps', () => {
    assert.deepEqual(match([proto('a', 1, 1)], [['b', 1]]), [])
    assert.deepEqual(match([proto('a', 1, 1)], [['a', 2]]), [], 'name and version must both match')
    assert.deepEqual(match([], [['a', 1]]), [])
  })
  it('assigns offsets from 0x10 in name order', () => {
    const local = [proto('c', 1, 3), proto('a', 1, 5), proto('b', 1, 2)]
    assert.deepEqual(
      match(local, [
        ['c', 1],
        ['b', 1],
        ['a', 1],
      ]),
      [
        ['a/1', 16],
        ['b/1', 21],
        ['c/1', 23],
      ],
    )
  })
  it('takes the highest shared version and rewinds the offset', () => {
    const local = [proto('eth', 68, 17), proto('eth', 69, 18), proto('snap', 1, 8)]
    assert.deepEqual(
      match(local, [
        ['eth', 69],
        ['eth', 68],
        ['snap', 1],
        ['eth', 70],
      ]),
      [
        ['eth/69', 16],
        ['snap/1', 34],
      ],
    )
  })
  it('only mutually supported protocols use code space', () => {
    const local = [proto('a', 1, 4), proto('c', 1, 2)]
    assert.deepEqual(
      match(local, [
        ['a', 1],
        ['b', 1],
        ['c', 1],
      ]),
      [
        ['a/1', 16],
        ['c/1', 20],
      ],
    )
  })
  it('sorts names by byte order (case-sensitive)', () => {
    const local = [proto('a', 1, 1), proto('B', 1, 1)]
    assert.deepEqual(
      match(local, [
        ['a', 1],
        ['B', 1],
      ]),
      [
        ['B/1', 16],
        ['a/1', 17],
      ],
    )
  })
  it('advertises sorted caps', () => {
    assert.deepEqual(capsOf([proto('snap', 1, 8), proto('eth', 69, 18), proto('eth', 68, 17)]), [
      { name: 'eth', version: 68 },
      { name: 'eth', version: 69 },
      { name: 'snap', version: 1 },
    ])
  })
})

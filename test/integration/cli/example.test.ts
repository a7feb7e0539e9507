import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { describe, it } from 'node:test'

describe('README example (examples/two-nodes.ts)', () => {
  it('runs: two nodes greet each other over RLPx and stop', () => {
    const r = spawnSync(process.execPath, ['--import', 'tsx', 'examples/two-nodes.ts'], {
      encoding: 'utf8',
      timeout: 30_000,
    })
    assert.equal(r.status, 0, r.stderr)
    assert.deepEqual(r.stdout.trim().split('\n'), [
      'alice heard: bob',
      'bob heard: alice',
      'alice peers: [["greet/1"]]',
    ])
  })
})

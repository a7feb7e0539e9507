/**
 * `devp2p testnet` (what `npm start` runs), the built binary on 127.0.0.1: five nodes and a
 * bootnode for 6 s must exit 0 with a JSON summary showing every table full, every node with
 * all 4 others as peers and demo messages exchanged; the text mode prints progress and stops
 * cleanly (exit 0, summary) on SIGTERM; bad flags exit 2. Every child is bounded and killed (by
 * pid) in `after`.
 */
import assert from 'node:assert/strict'
import { after, describe, it } from 'node:test'
import { runCliAsync } from '../../helpers/cli-async.js'
import { killAll, spawnCli } from '../../helpers/cli-proc.js'

after(() => killAll())

/** The `--json` summary of `devp2p testnet`. */
interface Summary {
  readonly nodes: number
  readonly seconds: number
  readonly tablesFullSeconds: number | null
  readonly fullMeshSeconds: number | null
  readonly dialTarget: number
  readonly dialTargetSeconds: number | null
  readonly peers: { readonly min: number; readonly max: number; readonly wanted: number }
  readonly tables: { readonly min: number; readonly max: number }
  readonly messages: { readonly sent: number; readonly received: number }
  readonly bytes: number
}

describe('devp2p testnet', { timeout: 90_000 }, () => {
  it('--nodes 5 --duration 6s --json: exits 0; every table full, every node with 4 peers, messages exchanged', async () => {
    const r = await runCliAsync(['--json', 'testnet', '--nodes', '5', '--duration', '6s'], 40_000)
    assert.equal(r.status, 0, r.stderr)
    const s = JSON.parse(r.stdout) as Summary
    assert.equal(s.nodes, 5)
    assert.equal(s.peers.wanted, 4)
    assert.ok(s.tablesFullSeconds !== null, 'every table held all others at some point')
    assert.ok(s.tables.min >= 4, `smallest table ${s.tables.min}`)
    assert.ok(s.fullMeshSeconds !== null, 'every node had 4 peers at some point')
    assert.equal(s.dialTarget, 4)
    assert.ok(s.dialTargetSeconds !== null, 'every node reached its dial target')
    assert.ok(s.peers.min >= 4, `fewest peers at the end ${s.peers.min}`)
    assert.ok(s.peers.max <= 4, `at most the 4 others (the bootnode keeps no peer): ${s.peers.max}`)
    assert.ok(s.messages.sent > 0 && s.messages.received > 0, JSON.stringify(s.messages))
    assert.ok(s.bytes > 0)
    assert.ok(s.seconds >= 6, `ran for the whole duration: ${s.seconds}`)
  })

  it('text mode: progress lines, then a summary and exit 0 on SIGTERM', async () => {
    const p = spawnCli(['testnet', '--nodes', '3', '--duration', '60s'])
    await p.waitStdout(
      (out) => (/^t=\d+\.\d+s tables \d+-\d+ peers \d+-\d+ messages \d+$/m.test(out) ? true : undefined),
      20_000,
      'a progress line',
    )
    p.child.kill('SIGTERM')
    const exit = await p.waitExit(15_000)
    assert.deepEqual(exit, { code: 0, signal: null }, p.stderr())
    assert.match(p.stdout(), /^summary: 3 nodes for \d+(\.\d)?s$/m)
    assert.match(p.stdout(), /every table held all 2 others after:/)
    assert.match(p.stdout(), /demo messages: \d+ sent, \d+ received/)
  })

  it('bad flags exit 2', async () => {
    const cases: [string[], RegExp][] = [
      [['--nodes', '1'], /--nodes: expected 2\.\.200/],
      [['--nodes', '201'], /--nodes: expected 2\.\.200/],
      [['--nodes', 'five'], /--nodes: expected 2\.\.200/],
      [['--maxpeers', '0'], /--maxpeers: expected a positive integer/],
      [['--duration', 'forever'], /--duration: expected a duration/],
      [['--bogus'], /unknown option '--bogus'/],
    ]
    const results = await Promise.all(
      cases.map(([extra]) => runCliAsync(['testnet', '--nodes', '2', '--duration', '1s', ...extra], 20_000)),
    )
    for (const [i, r] of results.entries()) {
      const [extra, re] = cases[i]!
      assert.equal(r.status, 2, `${extra.join(' ')}: exit ${r.status}\n${r.stderr}`)
      assert.match(r.stderr, re, extra.join(' '))
    }
  })
})

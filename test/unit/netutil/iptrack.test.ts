import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { IPTracker } from '../../../src/netutil/index.js'
import { SimulatedClock } from '../../../src/util/index.js'

const WINDOW = 10_000
const CONTACT_WINDOW = 20_000

function tracker(min = 3, maxHosts?: number): { t: IPTracker; clock: SimulatedClock } {
  const clock = new SimulatedClock(0)
  const t = new IPTracker({
    window: WINDOW,
    contactWindow: CONTACT_WINDOW,
    minStatements: min,
    clock,
    maxHosts,
  })
  return { t, clock }
}

describe('IPTracker.predictEndpoint', () => {
  it('needs minStatements and picks the endpoint with most statements', async () => {
    const { t, clock } = tracker(3)
    t.addStatement('n1', '1.1.1.1:1')
    t.addStatement('n2', '1.1.1.1:1')
    assert.equal(t.predictEndpoint(), undefined, 'below minStatements')
    t.addStatement('n3', '1.1.1.1:1')
    assert.equal(t.predictEndpoint(), '1.1.1.1:1')
    await clock.advance(1000)
    t.addStatement('n4', '2.2.2.2:2')
    t.addStatement('n5', '2.2.2.2:2')
    t.addStatement('n6', '2.2.2.2:2')
    t.addStatement('n7', '2.2.2.2:2')
    assert.equal(t.predictEndpoint(), '2.2.2.2:2')
  })
  it('counts one statement per host, latest wins', () => {
    const { t } = tracker(2)
    t.addStatement('n1', '1.1.1.1:1')
    t.addStatement('n1', '1.1.1.1:1')
    t.addStatement('n1', '1.1.1.1:1')
    assert.equal(t.predictEndpoint(), undefined)
    t.addStatement('n2', '1.1.1.1:1')
    assert.equal(t.predictEndpoint(), '1.1.1.1:1')
    t.addStatement('n2', '3.3.3.3:3')
    assert.equal(t.predictEndpoint(), undefined)
  })
  it('forgets statements older than the window', async () => {
    const { t, clock } = tracker(2)
    t.addStatement('n1', '1.1.1.1:1')
    t.addStatement('n2', '1.1.1.1:1')
    assert.equal(t.predictEndpoint(), '1.1.1.1:1')
    await clock.advance(WINDOW)
    assert.equal(t.predictEndpoint(), '1.1.1.1:1', 'exactly window old still counts')
    await clock.advance(1)
    assert.equal(t.predictEndpoint(), undefined)
    assert.equal(t.statementCount, 0)
  })
  it('keeps at most maxHosts statements', () => {
    const { t } = tracker(1, 5)
    for (let i = 0; i < 20; i++) t.addStatement(`n${i}`, `1.1.1.1:${i < 10 ? 1 : 2}`)
    assert.equal(t.statementCount, 5)
    assert.equal(t.predictEndpoint(), '1.1.1.1:2')
  })
})

describe('IPTracker.predictFullConeNAT', () => {
  it('is false with no statements and when every statement follows a contact', async () => {
    const { t, clock } = tracker()
    assert.equal(t.predictFullConeNAT(), false)
    t.addContact('a')
    await clock.advance(1)
    t.addStatement('a', '1.1.1.1:1')
    assert.equal(t.predictFullConeNAT(), false)
  })
  it('is true for a statement from a host never contacted', () => {
    const { t } = tracker()
    t.addContact('a')
    t.addStatement('b', '1.1.1.1:1')
    assert.equal(t.predictFullConeNAT(), true)
  })
  it('is true when the contact came after the statement', async () => {
    const { t, clock } = tracker()
    t.addStatement('a', '1.1.1.1:1')
    await clock.advance(1)
    t.addContact('a')
    assert.equal(t.predictFullConeNAT(), true)
  })
  it('forgets contacts after the contact window', async () => {
    const { t, clock } = tracker()
    t.addContact('a')
    await clock.advance(CONTACT_WINDOW + 1)
    t.addStatement('a', '1.1.1.1:1')
    assert.equal(t.predictFullConeNAT(), true)
    await clock.advance(WINDOW + 1)
    assert.equal(t.predictFullConeNAT(), false, 'statement expired')
  })
})

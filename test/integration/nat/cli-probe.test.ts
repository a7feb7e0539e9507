import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { NATLAB, type NatLab, natlabSkipReason, natlabUp } from '../../helpers/natlab.js'
import { runCliInNs } from '../../helpers/natlab-cli.js'
import type { ProbeJson } from './common.js'

const skip = natlabSkipReason()

/** `devp2p --json nat probe --nat <spec> [--port P]` in the LAN namespace. */
async function probe(lab: NatLab, spec: string, port?: number) {
  const r = await runCliInNs(
    lab.ns.lan,
    ['--json', 'nat', 'probe', '--nat', spec, ...(port ? ['--port', String(port)] : [])],
    30_000,
  )
  return { ...r, probe: r.json as ProbeJson }
}

// The `devp2p nat probe` command, run in the LAN namespace against miniupnpd (IGD v2) and stund.
describe('natlab e2e: devp2p nat probe', { skip, timeout: 60_000 }, () => {
  let lab: NatLab
  before(async () => {
    lab = await natlabUp({ igd: 2, lifetimeSec: 90 })
  })
  after(async () => {
    await lab?.down()
  })

  const mapping = [
    { spec: 'any', mechanism: /^(upnp|pmp)$/, port: 41001 },
    { spec: 'upnp', mechanism: /^upnp$/, port: 41002, description: /^UPnP IGDv2-IP\d\(10\.99\.1\.1\)$/ },
    { spec: 'pmp', mechanism: /^pmp$/, port: 41003, description: /^NAT-PMP\(10\.99\.1\.1\)$/ },
    { spec: `pmp:${NATLAB.gateway}`, mechanism: /^pmp$/, port: 41004 },
  ]
  for (const c of mapping) {
    it(`--nat ${c.spec}: mechanism, gateway, external IP, a test mapping made and removed`, async () => {
      const r = await probe(lab, c.spec, c.port)
      assert.equal(r.code, 0, r.stderr)
      const p = r.probe
      assert.equal(p.spec, c.spec)
      assert.match(p.mechanism, c.mechanism)
      if (c.description) assert.match(p.description, c.description)
      assert.equal(p.gateway, NATLAB.gateway)
      assert.equal(p.externalIP, NATLAB.externalIP)
      assert.equal(p.error, undefined)
      assert.deepEqual(p.mappingTest, { ok: true, protocol: 'tcp', intPort: c.port, extPort: c.port })
      const fw = await lab.forwards()
      assert.ok(!fw.some((f) => f.to === `${NATLAB.lanIP}:${c.port}`), 'test mapping removed')
    })
  }

  it(`--nat stun:${NATLAB.stunServer}: external IP from STUN, no mapping (exit 0)`, async () => {
    const r = await probe(lab, `stun:${NATLAB.stunServer}`)
    assert.equal(r.code, 0, r.stderr)
    assert.equal(r.probe.mechanism, 'stun')
    assert.equal(r.probe.externalIP, NATLAB.externalIP)
    assert.equal(r.probe.error, undefined)
    assert.equal(r.probe.mappingTest.ok, false)
    assert.match(r.probe.mappingTest.error ?? '', /does not map ports/)
  })

  it('--nat none: NAT disabled, exit 0', async () => {
    const r = await probe(lab, 'none')
    assert.equal(r.code, 0, r.stderr)
    assert.equal(r.probe.mechanism, 'none')
    assert.equal(r.probe.error, undefined)
  })

  it('with miniupnpd stopped: any, upnp, pmp, pmp:gw report the error and exit 1; STUN still answers', async () => {
    await lab.stopDaemon()
    const specs = ['any', 'upnp', 'pmp', `pmp:${NATLAB.gateway}`]
    const [stun, ...rs] = await Promise.all([
      probe(lab, `stun:${NATLAB.stunServer}`),
      ...specs.map((s, i) => probe(lab, s, 41010 + i)),
    ])
    for (const [i, r] of rs.entries()) {
      const spec = specs[i]!
      assert.equal(r.code, 1, `${spec}: exit code; ${r.stdout} ${r.stderr}`)
      assert.equal(r.probe.spec, spec)
      assert.equal(typeof r.probe.error, 'string', `${spec}: error reported`)
      assert.equal(r.probe.externalIP, undefined, spec)
      assert.equal(r.probe.mappingTest.ok, false, spec)
    }
    assert.match(rs[0]!.probe.error!, /NoRouterError/)
    assert.match(rs[1]!.probe.error!, /no UPnP gateway/)
    assert.match(rs[2]!.probe.error!, /no NAT-PMP gateway/)
    assert.match(rs[3]!.probe.error!, /timed out/)
    assert.equal(stun.code, 0, stun.stderr)
    assert.equal(stun.probe.externalIP, NATLAB.externalIP)
  })
})

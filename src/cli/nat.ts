/** `devp2p nat probe`: find the router, read the external IP, try a test mapping. */
import type { Command } from 'commander'
import { NAT_SPEC_USAGE, probeNat } from '../nat/index.js'
import { CliError, EXIT, kv, print } from './output.js'

/** Register the `nat` commands. */
export function registerNat(program: Command, json: () => boolean): void {
  const nat = program.command('nat').description('NAT traversal: UPnP IGD, NAT-PMP, STUN, extip')
  nat
    .command('probe')
    .description('probe a NAT mechanism: gateway, external IP, and a test mapping made and removed')
    .option('--nat <spec>', NAT_SPEC_USAGE, 'any')
    .option('--port <port>', 'internal port of the test mapping (default: random 40000-59999)')
    .option('--timeout <ms>', 'bound on the whole probe', '20000')
    .action(async (o: { nat: string; port?: string; timeout: string }) => {
      const port = o.port === undefined ? undefined : Number(o.port)
      const timeout = Number(o.timeout)
      if (port !== undefined && (!Number.isInteger(port) || port < 1 || port > 65535))
        throw new CliError(`--port: not a port: ${o.port}`, EXIT.usage)
      if (!(timeout > 0)) throw new CliError(`--timeout: expected milliseconds, got ${o.timeout}`, EXIT.usage)
      let r: Awaited<ReturnType<typeof probeNat>>
      try {
        r = await probeNat(o.nat, { timeoutMs: timeout, ...(port !== undefined ? { intPort: port } : {}) })
      } catch (e) {
        throw new CliError((e as Error).message, EXIT.usage)
      }
      print(json(), r, (v) =>
        kv([
          ['mechanism', v.mechanism],
          ['description', v.description],
          ['gateway', v.gateway ?? '-'],
          ['external IP', v.externalIP ?? '-'],
          ['error', v.error],
          [
            'test mapping',
            v.mappingTest.ok
              ? `ok (${v.mappingTest.protocol} ${v.mappingTest.intPort} -> ${v.mappingTest.extPort ?? '?'}, removed)`
              : `failed: ${v.mappingTest.error ?? 'not tried'}`,
          ],
        ]),
      )
      // A failed discovery under `any` leaves mechanism 'none' too: exit 1 on any error (a
      // disabled NAT, spec `none`, reports none).
      if (r.error !== undefined) process.exitCode = EXIT.failure
    })
}

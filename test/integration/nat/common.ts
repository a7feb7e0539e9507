/** Shared bits of the NAT integration tests: the agent path and typed wrappers around it. */
import { dirname, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { type NsProcess, runJsonInNs, spawnInNs } from '../../helpers/natlab.js'

/** The script the tests run inside the lab's namespaces. */
export const AGENT = resolve(dirname(fileURLToPath(import.meta.url)), 'agent.ts')

/** The JSON `probeNat` result as printed by the agent. */
export interface ProbeJson {
  spec: string
  mechanism: string
  description: string
  gateway?: string
  externalIP?: string
  error?: string
  mappingTest: { ok: boolean; protocol: string; intPort: number; extPort?: number; error?: string }
}

/** Run `probeNat` in namespace `ns`. */
export function probeIn(ns: string, cmd: Record<string, unknown>): Promise<ProbeJson> {
  return runJsonInNs<ProbeJson>(ns, AGENT, [JSON.stringify({ op: 'probe', ...cmd })], 30_000)
}

/** Start a long-running agent command (`hold`, `loop`, `listen`) in `ns`. */
export function startIn(ns: string, cmd: Record<string, unknown>): NsProcess {
  return spawnInNs(ns, AGENT, [JSON.stringify({ maxRunMs: 40_000, ...cmd })], 45_000)
}

/** TCP connect from `ns` and read what the peer sends. */
export function connectFrom(
  ns: string,
  host: string,
  port: number,
): Promise<{ ok: boolean; data?: string; error?: string }> {
  return runJsonInNs(ns, AGENT, [JSON.stringify({ op: 'connect', host, port, timeoutMs: 2000 })], 15_000)
}

/** Poll `cond` every `everyMs` until true or `timeoutMs` passes; returns the last result. */
export async function pollUntil(
  cond: () => Promise<boolean>,
  timeoutMs: number,
  everyMs = 200,
): Promise<boolean> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    if (await cond()) return true
    if (Date.now() >= deadline) return false
    await new Promise((r) => setTimeout(r, everyMs))
  }
}

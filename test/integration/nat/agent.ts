/**
 * A small program the NAT integration tests run inside a natlab network namespace
 * (`ip netns exec <ns> node --import tsx agent.ts '<json command>'`). It prints one JSON object
 * per line on stdout; long-running commands stop when a `stop` line (or EOF) arrives on stdin.
 * Every command is bounded in time.
 */
import { once } from 'node:events'
import { createConnection, createServer } from 'node:net'
import { createInterface } from 'node:readline'
import {
  type NatOptions,
  type NatProtocol,
  parseNat,
  probeNat,
  startPortMapping,
} from '../../../src/nat/index.js'
import { formatIP } from '../../../src/util/index.js'

interface Command {
  op: 'probe' | 'hold' | 'loop' | 'listen' | 'connect'
  spec?: string
  options?: Partial<NatOptions>
  protocol?: NatProtocol
  intPort?: number
  extPort?: number
  lifetimeSec?: number
  keepMapping?: boolean
  lifetime?: number
  refresh?: number
  retryAfter?: number
  extIPInterval?: number
  host?: string
  port?: number
  timeoutMs?: number
  /** Safety net: the agent exits after this many ms whatever happens. */
  maxRunMs?: number
}

const out = (o: unknown): void => {
  process.stdout.write(`${JSON.stringify(o)}\n`)
}

function waitForStop(): Promise<void> {
  return new Promise((resolve) => {
    const rl = createInterface({ input: process.stdin })
    rl.on('line', (l) => {
      if (l.trim() === 'stop') {
        rl.close()
        resolve()
      }
    })
    rl.on('close', () => resolve())
  })
}

async function main(): Promise<void> {
  const cmd = JSON.parse(process.argv[2] ?? '{}') as Command
  const guard = setTimeout(() => {
    out({ event: 'error', error: 'agent ran past maxRunMs' })
    process.exit(3)
  }, cmd.maxRunMs ?? 30_000)
  guard.unref()
  switch (cmd.op) {
    case 'probe': {
      const r = await probeNat(cmd.spec ?? 'any', {
        ...(cmd.options ? { options: cmd.options } : {}),
        ...(cmd.protocol ? { protocol: cmd.protocol } : {}),
        ...(cmd.intPort ? { intPort: cmd.intPort } : {}),
        ...(cmd.extPort ? { extPort: cmd.extPort } : {}),
        ...(cmd.lifetimeSec ? { lifetimeSec: cmd.lifetimeSec } : {}),
        ...(cmd.keepMapping ? { keepMapping: true } : {}),
        ...(cmd.timeoutMs ? { timeoutMs: cmd.timeoutMs } : {}),
      })
      out(r)
      break
    }
    case 'hold': {
      const nat = parseNat(cmd.spec ?? 'any', cmd.options ? { options: cmd.options } : {})
      if (!nat) throw new Error('no NAT')
      const proto = cmd.protocol ?? 'tcp'
      const intPort = cmd.intPort ?? 30303
      const extPort = await nat.addMapping(
        proto,
        cmd.extPort ?? intPort,
        intPort,
        'natlab hold',
        cmd.lifetimeSec ?? 60,
      )
      out({ event: 'mapped', extPort })
      await waitForStop()
      await nat.deleteMapping(proto, extPort, intPort)
      out({ event: 'deleted' })
      break
    }
    case 'loop': {
      const nat = parseNat(cmd.spec ?? 'any', cmd.options ? { options: cmd.options } : {})
      if (!nat) throw new Error('no NAT')
      const m = startPortMapping({
        nat,
        protocol: cmd.protocol ?? 'tcp',
        intPort: cmd.intPort ?? 30303,
        ...(cmd.extPort ? { extPort: cmd.extPort } : {}),
        name: 'natlab loop',
        ...(cmd.lifetime ? { lifetime: cmd.lifetime } : {}),
        ...(cmd.refresh ? { refresh: cmd.refresh } : {}),
        ...(cmd.retryAfter ? { retryAfter: cmd.retryAfter } : {}),
        ...(cmd.extIPInterval ? { extIPInterval: cmd.extIPInterval } : {}),
        onMapped: (ip, port) => out({ event: 'mapped', ip: ip ? formatIP(ip) : null, extPort: port }),
        onUnmapped: () => out({ event: 'unmapped' }),
        onExternalIP: (ip) => out({ event: 'externalIP', ip: ip ? formatIP(ip) : null }),
      })
      await waitForStop()
      await m.stop()
      out({ event: 'stopped', state: m.state.kind })
      break
    }
    case 'listen': {
      const srv = createServer((sock) => {
        sock.end('hello from lan\n')
      })
      srv.listen(cmd.port ?? 30303, '0.0.0.0')
      await once(srv, 'listening')
      out({ event: 'listening' })
      await waitForStop()
      srv.close()
      break
    }
    case 'connect': {
      const r = await new Promise<{ ok: boolean; data?: string; error?: string }>((resolve) => {
        const sock = createConnection({ host: cmd.host ?? '', port: cmd.port ?? 0 })
        let data = ''
        const t = setTimeout(() => {
          sock.destroy()
          resolve({ ok: false, error: 'timeout' })
        }, cmd.timeoutMs ?? 2000)
        sock.on('data', (d) => {
          data += d.toString()
        })
        sock.on('end', () => {
          clearTimeout(t)
          resolve({ ok: true, data })
        })
        sock.on('error', (e) => {
          clearTimeout(t)
          resolve({ ok: false, error: e.message })
        })
      })
      out(r)
      break
    }
    default:
      throw new Error(`unknown op ${String(cmd.op)}`)
  }
  clearTimeout(guard)
}

main().then(
  () => process.exit(0),
  (e: unknown) => {
    out({ event: 'error', error: e instanceof Error ? `${e.name}: ${e.message}` : String(e) })
    process.exit(1)
  },
)

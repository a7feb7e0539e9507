/** `devp2p rlpx ping <enode>`: dial, run both handshakes, print the remote Hello or its Disconnect. */
import type { Command } from 'commander'
import { generatePrivateKey, publicKeyFromPrivate } from '../crypto/index.js'
import { parseNode } from '../enode/index.js'
import {
  BASE_PROTOCOL_VERSION,
  BaseMsg,
  capString,
  connectTcp,
  DisconnectError,
  DiscReason,
  discReasonName,
  discReasonText,
  encodeDisconnect,
  setupConnection,
} from '../p2p/index.js'
import { systemClock, toHex } from '../util/index.js'
import { readKeyFile } from './key.js'
import { CliError, EXIT, kv, print } from './output.js'

/** Register the `rlpx` commands. */
export function registerRlpx(program: Command, json: () => boolean): void {
  const rlpx = program.command('rlpx').description('RLPx transport')
  rlpx
    .command('ping <node>')
    .description('dial a node (enode:// or enr:), do both handshakes, print its Hello or Disconnect reason')
    .option('--nodekey <file>', 'our key file (default: a fresh key)')
    .option('--timeout <ms>', 'deadline of connect + both handshakes', '10000')
    .action(async (target: string, o: { nodekey?: string; timeout: string }) => {
      let node: ReturnType<typeof parseNode>
      try {
        node = parseNode(target)
      } catch (e) {
        throw new CliError(`bad node: ${(e as Error).message}`, EXIT.usage)
      }
      if (node.ip === undefined || node.tcp === 0)
        throw new CliError('bad node: no IP address and TCP port', EXIT.usage)
      const timeout = Number(o.timeout)
      if (!(timeout > 0)) throw new CliError(`--timeout: expected milliseconds, got ${o.timeout}`, EXIT.usage)
      const key = o.nodekey ? readKeyFile(o.nodekey) : generatePrivateKey()
      const signal = AbortSignal.timeout(timeout)
      const started = performance.now()
      let socket: Awaited<ReturnType<typeof connectTcp>>
      try {
        socket = await connectTcp(node.ip, node.tcp, { signal })
      } catch (e) {
        const why = signal.aborted ? `timed out after ${timeout} ms` : (e as Error).message
        throw new CliError(`cannot connect to ${node.ip}:${node.tcp}: ${why}`)
      }
      try {
        const res = await setupConnection({
          socket,
          privateKey: key,
          remotePublicKey: node.publicKey,
          hello: {
            version: BASE_PROTOCOL_VERSION,
            name: 'devp2p-ts/rlpx-ping',
            caps: [],
            listenPort: 0,
            id: publicKeyFromPrivate(key),
            rest: [],
          },
          clock: systemClock,
          timeoutMs: Math.max(1, timeout - (performance.now() - started)),
          signal,
        })
        const ms = Math.round(performance.now() - started)
        await res.transport
          .writeMsg(BaseMsg.Disconnect, encodeDisconnect(DiscReason.Requested))
          .catch(() => {})
        await res.conn.closeGracefully(500)
        const h = res.hello
        print(
          json(),
          {
            id: toHex(node.id),
            publicKey: toHex(h.id),
            name: h.name,
            version: h.version,
            caps: h.caps.map(capString),
            listenPort: h.listenPort,
            ms,
          },
          (v) =>
            kv([
              ['id', v.id],
              ['name', v.name],
              ['version', v.version],
              ['caps', v.caps.join(', ') || '-'],
              ['time', `${v.ms} ms`],
            ]),
        )
      } catch (e) {
        if (e instanceof DisconnectError && e.side === 'remote') {
          print(
            json(),
            { disconnect: discReasonName(e.reason), code: e.reason, text: discReasonText(e.reason) },
            (v) =>
              `remote disconnected: ${v.text} (${v.disconnect}, 0x${v.code.toString(16).padStart(2, '0')})`,
          )
          process.exitCode = EXIT.failure
          return
        }
        const err = e as Error
        if (signal.aborted)
          throw new CliError(`handshake with ${node.ip}:${node.tcp} timed out after ${timeout} ms`)
        throw new CliError(`handshake with ${node.ip}:${node.tcp} failed: ${err.name}: ${err.message}`)
      }
    })
}

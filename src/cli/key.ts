/** `devp2p key ...`: node key files (geth's `nodekey` format: 64 hex characters). */
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import type { Command } from 'commander'
import { formatNodeKey, generatePrivateKey, parseNodeKey, publicKeyFromPrivate } from '../crypto/index.js'
import { Node, nodeIdFromPublicKey } from '../enode/index.js'
import { ENR } from '../enr/index.js'
import { toHex } from '../util/index.js'
import { CliError, EXIT, kv, print } from './output.js'

/** Read and parse a key file; a clear CliError on any problem. */
export function readKeyFile(file: string): Uint8Array {
  let text: string
  try {
    text = readFileSync(file === '-' ? 0 : file, 'utf8')
  } catch (e) {
    throw new CliError(`cannot read key file ${file}: ${(e as Error).message}`)
  }
  try {
    return parseNodeKey(text)
  } catch (e) {
    throw new CliError(`invalid key file ${file}: ${(e as Error).message}`)
  }
}

function parsePortOpt(name: string, v: string | undefined, dflt: number): number {
  if (v === undefined) return dflt
  if (!/^\d{1,5}$/.test(v) || Number(v) > 65535) throw new CliError(`--${name}: not a port: ${v}`, EXIT.usage)
  return Number(v)
}

interface EndpointOpts {
  ip?: string
  tcp?: string
  udp?: string
}

function endpoint(o: EndpointOpts): { ip: string; tcp: number; udp: number } {
  const tcp = parsePortOpt('tcp', o.tcp, 30303)
  return { ip: o.ip ?? '127.0.0.1', tcp, udp: parsePortOpt('udp', o.udp, tcp) }
}

/** Register the `key` commands. */
export function registerKey(program: Command, json: () => boolean): void {
  const key = program
    .command('key')
    .description('node key files (hex secp256k1 private keys, as geth nodekey)')

  key
    .command('generate [file]')
    .description('generate a node key; write it to file (never overwriting) or print it')
    .action((file: string | undefined) => {
      const priv = generatePrivateKey()
      const id = toHex(nodeIdFromPublicKey(publicKeyFromPrivate(priv)))
      if (file === undefined) {
        print(json(), { key: formatNodeKey(priv), id }, (v) => v.key)
        return
      }
      if (existsSync(file)) throw new CliError(`${file} already exists; refusing to overwrite a node key`)
      writeFileSync(file, formatNodeKey(priv), { mode: 0o600, flag: 'wx' })
      print(json(), { file, id }, (v) =>
        kv([
          ['file', v.file],
          ['id', v.id],
        ]),
      )
    })

  key
    .command('to-id <file>')
    .description('print the node id (keccak256 of the public key) of a key file')
    .action((file: string) => {
      const id = toHex(nodeIdFromPublicKey(publicKeyFromPrivate(readKeyFile(file))))
      print(json(), { id }, (v) => v.id)
    })

  key
    .command('to-enode <file>')
    .description('print the enode:// URL of a key file')
    .option('--ip <ip>', 'IP address', '127.0.0.1')
    .option('--tcp <port>', 'TCP port', '30303')
    .option('--udp <port>', 'UDP port (default: the TCP port)')
    .action((file: string, o: EndpointOpts) => {
      const ep = endpoint(o)
      let node: Node
      try {
        node = Node.fromPublicKey(publicKeyFromPrivate(readKeyFile(file)), ep)
      } catch (e) {
        if (e instanceof CliError) throw e
        throw new CliError((e as Error).message, EXIT.usage)
      }
      print(json(), { enode: node.toEnodeUrl() }, (v) => v.enode)
    })

  key
    .command('to-enr <file>')
    .description('print a signed ENR (seq 1) of a key file')
    .option('--ip <ip>', 'IP address', '127.0.0.1')
    .option('--tcp <port>', 'TCP port', '30303')
    .option('--udp <port>', 'UDP port (default: the TCP port)')
    .action((file: string, o: EndpointOpts) => {
      const priv = readKeyFile(file)
      const ep = endpoint(o)
      let record: ENR
      try {
        record = new ENR().setSeq(1n).setIp(ep.ip).setTcp(ep.tcp).setUdp(ep.udp).sign(priv)
      } catch (e) {
        throw new CliError((e as Error).message, EXIT.usage)
      }
      print(json(), { enr: record.toText() }, (v) => v.enr)
    })
}

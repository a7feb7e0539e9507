/** `devp2p enr dump`: decode, verify and print a node record. */
import { readFileSync } from 'node:fs'
import type { Command } from 'commander'
import { Node } from '../enode/index.js'
import { ENR } from '../enr/index.js'
import { toHex } from '../util/index.js'
import { CliError, kv, print } from './output.js'

/** Longest input read for `enr dump` (a record is at most 300 bytes; its text about 400). */
const MAX_INPUT = 64 * 1024

function readInput(arg: string): string {
  if (arg.startsWith('enr:')) return arg
  try {
    const buf = readFileSync(arg === '-' ? 0 : arg)
    if (buf.length > MAX_INPUT) throw new CliError(`${arg}: input too large for a node record`)
    return buf.toString('utf8').trim()
  } catch (e) {
    if (e instanceof CliError) throw e
    throw new CliError(`cannot read ${arg}: ${(e as Error).message}`)
  }
}

/** Every field of a record, as `enr dump` prints it. */
export function describeEnr(record: ENR): Record<string, unknown> {
  const node = Node.fromRecord(record, { verify: false })
  const other: Record<string, string> = {}
  for (const { key, value } of record.entries()) {
    const k = Buffer.from(key).toString('utf8')
    if (!['id', 'secp256k1', 'ip', 'ip6', 'tcp', 'tcp6', 'udp', 'udp6'].includes(k)) other[k] = toHex(value)
  }
  return {
    enr: record.toText(),
    id: node.idHex,
    seq: record.seq.toString(),
    signature: toHex(record.signature ?? new Uint8Array(0)),
    verified: record.verify(),
    scheme: record.id,
    publicKey: toHex(node.publicKey),
    secp256k1: record.secp256k1 ? toHex(record.secp256k1) : undefined,
    ip: record.ip,
    ip6: record.ip6,
    tcp: record.tcp,
    udp: record.udp,
    tcp6: record.tcp6,
    udp6: record.udp6,
    enode: node.ip === undefined ? undefined : node.toEnodeUrl(),
    size: record.size,
    otherKeys: other,
  }
}

/** Register the `enr` commands. */
export function registerEnr(program: Command, json: () => boolean): void {
  const enr = program.command('enr').description('Ethereum Node Records (EIP-778)')
  enr
    .command('dump <record>')
    .description(
      'verify and print every field of a record (enr:... text, a file holding one, or - for stdin)',
    )
    .action((arg: string) => {
      const text = readInput(arg)
      let record: ENR
      try {
        record = ENR.fromText(text)
      } catch (e) {
        throw new CliError(`invalid record: ${(e as Error).message}`)
      }
      const d = describeEnr(record)
      print(json(), d, (v) =>
        kv([
          ...Object.entries(v).filter(([k]) => k !== 'otherKeys'),
          ...Object.entries(v.otherKeys as Record<string, string>).map(([k, x]) => [`key ${k}`, x] as const),
        ]),
      )
    })
}

#!/usr/bin/env node
/**
 * The `devp2p` command line: `devp2p <area> <verb>`. Argument parsing and output only; the
 * logic lives in the library. `--json` prints one JSON document; errors go to stderr with a
 * non-zero exit code (2 for usage errors, 1 for failures).
 */
import { readFileSync } from 'node:fs'
import { Command, CommanderError } from 'commander'
import { getNativeSecp256k1Error, getSecp256k1Backend } from '../crypto/index.js'
import { registerDiscv4 } from './discv4.js'
import { registerEnr } from './enr.js'
import { registerKey } from './key.js'
import { registerNat } from './nat.js'
import { registerNode } from './node.js'
import { CliError, EXIT } from './output.js'
import { registerRlpx } from './rlpx.js'
import { registerTestnet } from './testnet.js'

function packageVersion(): string {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
      version: string
    }
    return pkg.version
  } catch {
    return 'unknown'
  }
}

function versionText(): string {
  const nativeErr = getNativeSecp256k1Error()
  return [
    `devp2p ${packageVersion()}`,
    `node ${process.version}`,
    `secp256k1 backend: ${getSecp256k1Backend()}${nativeErr ? ` (native unavailable: ${nativeErr})` : ''}`,
  ].join('\n')
}

/** Build the program (exported for tests). */
export function buildProgram(): Command {
  const program = new Command('devp2p')
  program
    .description("Ethereum's devp2p networking stack: keys, records, discovery, RLPx and nodes")
    .option('--json', 'print JSON')
    .version(versionText(), '-V, --version', 'print version and crypto backends')
    .showHelpAfterError()
    .exitOverride()
  const json = (): boolean => program.opts<{ json?: boolean }>().json === true
  registerKey(program, json)
  registerDiscv4(program, json)
  registerEnr(program, json)
  registerNat(program, json)
  registerNode(program, json)
  registerRlpx(program, json)
  registerTestnet(program, json)
  return program
}

async function main(argv: string[]): Promise<number> {
  const program = buildProgram()
  try {
    await program.parseAsync(argv)
    // A command may have set a failure code after printing its result.
    return typeof process.exitCode === 'number' ? process.exitCode : EXIT.ok
  } catch (e) {
    if (e instanceof CommanderError) {
      if (
        e.code === 'commander.helpDisplayed' ||
        e.code === 'commander.version' ||
        e.code === 'commander.help'
      )
        return EXIT.ok
      return EXIT.usage
    }
    if (e instanceof CliError) {
      process.stderr.write(`devp2p: ${e.message}\n`)
      return e.exitCode
    }
    process.stderr.write(`devp2p: ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}\n`)
    return EXIT.failure
  }
}

main(process.argv).then((code) => {
  process.exitCode = code
})

/** CLI output: JSON with `--json`, readable text otherwise; errors to stderr with an exit code. */

/** Exit codes of the CLI. */
export const EXIT = { ok: 0, failure: 1, usage: 2 } as const

/** An error the CLI reports as a clear one-line message (bad input, failed operation). */
export class CliError extends Error {
  override name = 'CliError'
  constructor(
    message: string,
    readonly exitCode: number = EXIT.failure,
  ) {
    super(message)
  }
}

/** JSON.stringify that renders bigints as decimal strings and bytes as hex. */
export function toJson(v: unknown): string {
  return JSON.stringify(
    v,
    (_k, x: unknown) => {
      if (typeof x === 'bigint') return x.toString()
      if (x instanceof Uint8Array) return Buffer.from(x).toString('hex')
      return x
    },
    2,
  )
}

/** Print `value` as JSON when `json`, else as `text(value)` lines. */
export function print<T>(json: boolean, value: T, text: (v: T) => string): void {
  process.stdout.write(`${json ? toJson(value) : text(value)}\n`)
}

/** Aligned `key: value` lines. */
export function kv(rows: ReadonlyArray<readonly [string, unknown]>): string {
  const w = Math.max(...rows.map(([k]) => k.length))
  return rows
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => `${`${k}:`.padEnd(w + 2)}${String(v)}`)
    .join('\n')
}

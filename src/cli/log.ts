/** The CLI's log sink: leveled records to stderr, as text or JSON lines. */
import { createLogger, formatLogValue, type Logger, type LogLevel } from '../util/index.js'

/** Levels accepted by `--verbosity`. */
export const LEVELS: readonly LogLevel[] = ['trace', 'debug', 'info', 'warn', 'error']

/** A logger writing to stderr. */
export function stderrLogger(level: LogLevel, format: 'text' | 'json'): Logger {
  return createLogger((r) => {
    if (format === 'json') {
      const fields: Record<string, string> = {}
      for (const [k, v] of Object.entries(r.fields)) fields[k] = formatLogValue(v)
      process.stderr.write(
        `${JSON.stringify({ t: new Date(r.time).toISOString(), lvl: r.level, msg: r.msg, ...fields })}\n`,
      )
      return
    }
    const kv = Object.entries(r.fields)
      .map(([k, v]) => `${k}=${formatLogValue(v)}`)
      .join(' ')
    const t = new Date(r.time).toISOString().slice(11, 23)
    process.stderr.write(`${t} ${r.level.toUpperCase().padEnd(5)} ${r.msg.padEnd(24)} ${kv}\n`)
  }, level)
}

/** Parse `--verbosity`. */
export function parseLevel(v: string): LogLevel {
  const l = v.toLowerCase() as LogLevel
  if (!LEVELS.includes(l)) throw new Error(`--verbosity: expected one of ${LEVELS.join('|')}`)
  return l
}

/**
 * Structured, leveled logging. The library logs only through a {@link Logger}; the default is
 * {@link silentLogger}. The CLI supplies a real one ({@link createJsonLogger} or its own).
 */

export type LogLevel = 'trace' | 'debug' | 'info' | 'warn' | 'error'
export type LogFields = Readonly<Record<string, unknown>>

export const LOG_LEVELS: readonly LogLevel[] = ['trace', 'debug', 'info', 'warn', 'error']

export interface Logger {
  trace(msg: string, fields?: LogFields): void
  debug(msg: string, fields?: LogFields): void
  info(msg: string, fields?: LogFields): void
  warn(msg: string, fields?: LogFields): void
  error(msg: string, fields?: LogFields): void
  /** A logger that adds `fields` to every record. */
  child(fields: LogFields): Logger
  /** Cheap check before building expensive fields. */
  enabled(level: LogLevel): boolean
}

const noop = (): void => {}

/** Discards everything. */
export const silentLogger: Logger = {
  trace: noop,
  debug: noop,
  info: noop,
  warn: noop,
  error: noop,
  child: () => silentLogger,
  enabled: () => false,
}

/** One log record as handed to a sink. */
export interface LogRecord {
  readonly time: number
  readonly level: LogLevel
  readonly msg: string
  readonly fields: LogFields
}

/** A logger that hands each record at or above `level` to `sink`. */
export function createLogger(
  sink: (r: LogRecord) => void,
  level: LogLevel = 'info',
  base: LogFields = {},
): Logger {
  const min = LOG_LEVELS.indexOf(level)
  const make = (ctx: LogFields): Logger => {
    const emit =
      (l: LogLevel) =>
      (msg: string, fields?: LogFields): void => {
        if (LOG_LEVELS.indexOf(l) < min) return
        sink({ time: Date.now(), level: l, msg, fields: fields ? { ...ctx, ...fields } : ctx })
      }
    return {
      trace: emit('trace'),
      debug: emit('debug'),
      info: emit('info'),
      warn: emit('warn'),
      error: emit('error'),
      child: (f) => make({ ...ctx, ...f }),
      enabled: (l) => LOG_LEVELS.indexOf(l) >= min,
    }
  }
  return make(base)
}

/** A logger that collects records in memory (tests), keeping at most `max`. */
export function createMemoryLogger(
  level: LogLevel = 'trace',
  max = 10_000,
): Logger & { records: LogRecord[] } {
  const records: LogRecord[] = []
  const log = createLogger((r) => {
    if (records.length >= max) records.shift()
    records.push(r)
  }, level)
  return Object.assign(log, { records })
}

/** Render a field value for text logs: bytes as hex, errors as their message. */
export function formatLogValue(v: unknown): string {
  if (v instanceof Uint8Array) return Buffer.from(v).toString('hex')
  if (v instanceof Error) return `${v.name}: ${v.message}`
  if (typeof v === 'bigint') return v.toString()
  if (typeof v === 'string') return v
  try {
    return JSON.stringify(v) ?? String(v)
  } catch {
    return String(v)
  }
}

/** Argument checks that throw `TypeError`/`RangeError` naming the offending field. */

/** Asserts `v` is a `Uint8Array`, optionally of an exact length. */
export function assertBytes(field: string, v: unknown, length?: number): asserts v is Uint8Array {
  if (!(v instanceof Uint8Array)) throw new TypeError(`${field}: expected Uint8Array`)
  if (length !== undefined && v.length !== length)
    throw new RangeError(`${field}: expected ${length} bytes, got ${v.length}`)
}

/** Asserts `v` is an integer in `[min, max]`. */
export function assertInt(field: string, v: unknown, min: number, max: number): asserts v is number {
  if (typeof v !== 'number' || !Number.isInteger(v)) throw new TypeError(`${field}: expected an integer`)
  if (v < min || v > max) throw new RangeError(`${field}: ${v} is outside [${min}, ${max}]`)
}

/** Asserts `v` is a TCP/UDP port (0..65535). */
export function assertPort(field: string, v: unknown): asserts v is number {
  assertInt(field, v, 0, 65535)
}

/** Asserts `v` is a non-empty string. */
export function assertString(field: string, v: unknown): asserts v is string {
  if (typeof v !== 'string') throw new TypeError(`${field}: expected a string`)
}

/** Loads the official test vectors from ../shared/vectors (beside the repository root). */
import { readFileSync } from 'node:fs'
import { dirname, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..')
/** Absolute path of the shared vectors folder. */
export const VECTORS_DIR = process.env.DEVP2P_VECTORS ?? resolve(ROOT, '../shared/vectors')

/** Parse one vector file, e.g. `loadVectors('rlp.json')`. */
export function loadVectors<T = unknown>(file: string): T {
  return JSON.parse(readFileSync(resolve(VECTORS_DIR, file), 'utf8')) as T
}

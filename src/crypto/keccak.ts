/**
 * Keccak-256 (the original Keccak with pad byte 0x01, as used by Ethereum; not NIST SHA3-256),
 * on hash-wasm's WebAssembly implementation.
 *
 * The module instantiates two WASM hashers once, with top-level await: one for one-shot
 * {@link keccak256} and one shared by every {@link KeccakState}. A WASM hasher costs about
 * 131 KB of memory (measured), so a node with thousands of RLPx connections (two running MAC
 * states each) must not hold one per state. Instead each {@link KeccakState} keeps its own
 * saved sponge state (404 bytes, from the hasher's `save()`), and the shared hasher is lent to
 * whichever state is working: the state it currently holds is tracked, so consecutive updates
 * of the same state skip the reload, and a state that loses the hasher has its progress saved
 * first. Everything here is synchronous, so lending the hasher is safe within one thread.
 */
import { createKeccak, type IHasher } from 'hash-wasm'
import { assertBytes } from '../util/assert.js'

const oneShot: IHasher = await createKeccak(256)
const shared: IHasher = await createKeccak(256)

/** The saved state of a freshly initialised Keccak-256 sponge. */
const EMPTY_STATE: Uint8Array = shared.init().save()

/**
 * Keccak-256 of the concatenation of `parts` (32 bytes). Hashing the parts directly is cheaper
 * than concatenating them first.
 */
export function keccak256(...parts: Uint8Array[]): Uint8Array {
  for (let i = 0; i < parts.length; i++) assertBytes(`keccak256 part ${i}`, parts[i])
  oneShot.init()
  for (const p of parts) oneShot.update(p)
  return oneShot.digest('binary')
}

/**
 * An incremental Keccak-256 whose running digest can be read without ending it, as the RLPx
 * frame MAC needs: `update()` absorbs more bytes, `digest()` returns the hash of everything
 * absorbed so far and leaves the state open for further updates, and `clone()` forks it.
 *
 * Instances share one WASM hasher (see the file header); each holds only its 404-byte saved
 * state, so they are cheap to keep per connection.
 */
export class KeccakState {
  /** The state currently loaded into the shared hasher. */
  static #owner: KeccakState | undefined
  /** Whether the owner has updates not yet copied into its `#saved`. */
  static #dirty = false

  /** Save the owner's progress (if any) so the shared hasher can be lent elsewhere. */
  static #release(): void {
    const o = KeccakState.#owner
    if (o !== undefined && KeccakState.#dirty) o.#saved = shared.save()
    KeccakState.#owner = undefined
    KeccakState.#dirty = false
  }

  /**
   * The sponge state as of the last save; stale while this state owns the dirty hasher. Saved
   * states are never mutated in place (each `save()` returns a new array), so clones may share one.
   */
  #saved: Uint8Array = EMPTY_STATE

  /** Absorb `data`; returns `this` for chaining. */
  update(data: Uint8Array): this {
    assertBytes('data', data)
    if (KeccakState.#owner !== this) {
      KeccakState.#release()
      shared.load(this.#saved)
      KeccakState.#owner = this
    }
    shared.update(data)
    KeccakState.#dirty = true
    return this
  }

  /** Keccak-256 of everything absorbed so far (32 bytes). The state stays open. */
  digest(): Uint8Array {
    if (KeccakState.#owner === this) {
      if (KeccakState.#dirty) this.#saved = shared.save()
    } else {
      KeccakState.#release()
      shared.load(this.#saved)
    }
    // Finalising consumes the hasher's copy; our saved copy is current, so nobody owns it now.
    KeccakState.#owner = undefined
    KeccakState.#dirty = false
    return shared.digest('binary')
  }

  /** An independent copy of this state. */
  clone(): KeccakState {
    if (KeccakState.#owner === this && KeccakState.#dirty) {
      this.#saved = shared.save()
      KeccakState.#dirty = false
    }
    const c = new KeccakState()
    c.#saved = this.#saved
    return c
  }
}

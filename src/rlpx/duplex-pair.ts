/**
 * `duplexPair()`: two connected in-memory `Duplex` streams that behave like the two ends of a TCP
 * connection, for tests of anything that runs over a socket (RLPx connections, peers). A public
 * test seam: protocol authors use it too.
 *
 * - Bytes written to one end are read from the other, in order, without copying.
 * - Backpressure is real: a write's callback is held until the other end's reader asks for more,
 *   so `write()` returns `false` and `'drain'` fires exactly as with a slow TCP peer. The buffer
 *   on each side is bounded by `highWaterMark`.
 * - `end()` on one end delivers EOF to the other after the buffered data (like a FIN); the other
 *   end then ends too (`allowHalfOpen: false`, as `net.Socket` by default).
 * - `destroy()` on one end also delivers EOF to the other after the data already in its buffer,
 *   and fails the other end's later writes (like a closed TCP socket).
 */
import { Duplex } from 'node:stream'

/** Options of {@link duplexPair}. */
export interface DuplexPairOptions {
  /** Per-direction buffering before `write()` returns false (bytes). Default 16 KiB. */
  readonly highWaterMark?: number
}

class MemoryEnd extends Duplex {
  peer!: MemoryEnd
  /** The callback of our peer's last write, held until our reader wants more. */
  private heldWrite: ((err?: Error | null) => void) | undefined
  /** EOF has been pushed into our readable side. */
  private eof = false

  /** Push EOF into our readable side (once). */
  deliverEof(): void {
    if (this.eof || this.destroyed) return
    this.eof = true
    this.push(null)
  }

  override _write(chunk: Uint8Array, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    const peer = this.peer
    if (peer.destroyed || peer.eof) {
      cb(Object.assign(new Error('write after the other end closed (EPIPE)'), { code: 'EPIPE' }))
      return
    }
    if (peer.push(chunk)) cb()
    else peer.heldWrite = cb
  }

  override _read(): void {
    const cb = this.heldWrite
    this.heldWrite = undefined
    cb?.()
  }

  override _final(cb: (err?: Error | null) => void): void {
    this.peer.deliverEof()
    cb()
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    const peer = this.peer
    // Our peer's pending write can never complete now.
    const held = this.heldWrite
    this.heldWrite = undefined
    held?.(Object.assign(new Error('the other end closed (EPIPE)'), { code: 'EPIPE' }))
    peer.deliverEof()
    cb(err)
  }
}

/** Two connected in-memory duplex streams; see the module comment for the semantics. */
export function duplexPair(options: DuplexPairOptions = {}): [Duplex, Duplex] {
  const highWaterMark = options.highWaterMark ?? 16 * 1024
  const a = new MemoryEnd({ highWaterMark, allowHalfOpen: false })
  const b = new MemoryEnd({ highWaterMark, allowHalfOpen: false })
  a.peer = b
  b.peer = a
  return [a, b]
}

/**
 * Classification of socket errors: which ones a read or send loop should shrug off and retry
 * (geth's `netutil.IsTemporaryError`, `IsTimeout`), from Node's `code` strings. Pure.
 */

/** Node error codes that mean "try again": no buffer space, interrupted, would block, too big. */
const TEMPORARY_CODES: ReadonlySet<string> = new Set([
  'EAGAIN',
  'EWOULDBLOCK',
  'EINTR',
  'ENOBUFS',
  'ENOMEM',
  'EMSGSIZE',
  'WSAEMSGSIZE',
])

function errorCode(err: unknown): string | undefined {
  if (typeof err !== 'object' || err === null) return undefined
  const code: unknown = (err as { code?: unknown }).code
  return typeof code === 'string' ? code : undefined
}

/**
 * Whether a socket error is temporary: the socket is still usable and the operation may be
 * retried (an oversized UDP packet counts, as in geth, since only that packet is lost).
 */
export function isTemporaryError(err: unknown): boolean {
  const code = errorCode(err)
  return code !== undefined && TEMPORARY_CODES.has(code)
}

/** Whether `err` is a timeout: our `TimeoutError` or a Node `ETIMEDOUT`. */
export function isTimeout(err: unknown): boolean {
  if (err instanceof Error && err.name === 'TimeoutError') return true
  return errorCode(err) === 'ETIMEDOUT'
}

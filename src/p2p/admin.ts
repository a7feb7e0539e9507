/**
 * geth's `admin_*` JSON-RPC methods over a {@link Server}: `admin_nodeInfo`, `admin_peers`,
 * `admin_addPeer`, `admin_removePeer`, `admin_addTrustedPeer`, `admin_removeTrustedPeer`.
 * Transport-free: the CLI serves it over HTTP. Requests are JSON-RPC 2.0 objects (or batches).
 */
import { parseNode } from '../enode/index.js'
import type { Server } from './server.js'

/** A JSON-RPC 2.0 request. */
export interface RpcRequest {
  readonly jsonrpc?: unknown
  readonly id?: unknown
  readonly method?: unknown
  readonly params?: unknown
}

/** A JSON-RPC 2.0 response. */
export type RpcResponse =
  | { readonly jsonrpc: '2.0'; readonly id: unknown; readonly result: unknown }
  | {
      readonly jsonrpc: '2.0'
      readonly id: unknown
      readonly error: { readonly code: number; readonly message: string }
    }

/** Largest batch served. */
export const MAX_RPC_BATCH = 100

class RpcError extends Error {
  constructor(
    readonly code: number,
    message: string,
  ) {
    super(message)
  }
}

/** Server-side failure of a method (geth's default error code for errors a method returns). */
const METHOD_ERROR = -32000

/**
 * The node of `[url]`. A missing or non-string argument is an invalid-params error (-32602); a
 * string that is no enode/ENR is the method's own failure, as in geth (`invalid enode: ...`,
 * -32000).
 */
function nodeParam(params: unknown): ReturnType<typeof parseNode> {
  const url = Array.isArray(params) ? params[0] : undefined
  if (typeof url !== 'string') throw new RpcError(-32602, 'invalid params: expected [url]')
  try {
    return parseNode(url)
  } catch (e) {
    throw new RpcError(METHOD_ERROR, `invalid enode: ${(e as Error).message}`)
  }
}

/** The admin methods of `srv`. */
export function adminMethods(srv: Server): Readonly<Record<string, (params: unknown) => unknown>> {
  return {
    admin_nodeInfo: () => srv.nodeInfo(),
    admin_peers: () => srv.peersInfo(),
    admin_addPeer: (p) => {
      srv.addPeer(nodeParam(p))
      return true
    },
    admin_removePeer: (p) => {
      srv.removePeer(nodeParam(p))
      return true
    },
    admin_addTrustedPeer: (p) => {
      srv.addTrustedPeer(nodeParam(p))
      return true
    },
    admin_removeTrustedPeer: (p) => {
      srv.removeTrustedPeer(nodeParam(p))
      return true
    },
  }
}

function one(methods: Readonly<Record<string, (params: unknown) => unknown>>, req: unknown): RpcResponse {
  const r = (typeof req === 'object' && req !== null ? req : {}) as RpcRequest
  const id = r.id ?? null
  try {
    if (r.jsonrpc !== '2.0' || typeof r.method !== 'string') throw new RpcError(-32600, 'invalid request')
    const fn = Object.hasOwn(methods, r.method) ? methods[r.method] : undefined
    if (!fn) throw new RpcError(-32601, `the method ${r.method} does not exist/is not available`)
    return { jsonrpc: '2.0', id, result: fn(r.params ?? []) }
  } catch (e) {
    const code = e instanceof RpcError ? e.code : METHOD_ERROR
    return { jsonrpc: '2.0', id, error: { code, message: (e as Error).message } }
  }
}

/** Answer a parsed JSON-RPC body (a request or a batch). */
export function handleRpc(srv: Server, body: unknown): RpcResponse | RpcResponse[] {
  const methods = adminMethods(srv)
  if (Array.isArray(body)) {
    if (body.length === 0 || body.length > MAX_RPC_BATCH)
      return {
        jsonrpc: '2.0',
        id: null,
        error: { code: -32600, message: `batch of 1..${MAX_RPC_BATCH} required` },
      }
    return body.map((r) => one(methods, r))
  }
  return one(methods, body)
}

/**
 * The server's default discovery: discv4 on a UDP socket bound to the discovery address,
 * adapted to the {@link Discovery} interface the server and dial scheduler use.
 */
import { Discv4, type Discv4Config, listenUdp } from '../discv4/index.js'
import type { LocalNode, Node, NodeDB } from '../enode/index.js'
import type { Clock, Logger, RandomSource } from '../util/index.js'
import type { ServerConfig } from './config.js'

/** Discovery as the server uses it (implemented by discv4). */
export interface Discovery {
  /** Random nodes for the dialer; ends when `signal` aborts. */
  randomNodes(opts: { signal: AbortSignal }): AsyncIterable<Node>
  /** The newest record of `node` (for static nodes without an endpoint). */
  resolve(node: Node, opts: { signal: AbortSignal }): Promise<Node | undefined>
  /** Nodes in the table (for info and views). */
  tableSize(): number
  /** The UDP port discovery listens on. */
  readonly udpPort: number
  close(): void | Promise<void>
}

/** What a discovery factory gets from the server. */
export interface DiscoveryInit {
  readonly localNode: LocalNode
  readonly privateKey: Uint8Array
  readonly db: NodeDB
  readonly host: string
  readonly port: number
  readonly bootnodes: readonly Node[]
  readonly config: Readonly<ServerConfig>
  readonly clock: Clock
  readonly random: RandomSource
  readonly logger: Logger
}

/** A discv4 discovery as the server uses it; `discv4` gives the full API. */
export interface Discv4Discovery extends Discovery {
  readonly discv4: Discv4
}

/** Start discv4 for a server (the default `startDiscovery`). */
export async function startDiscv4(
  init: DiscoveryInit,
  config?: Partial<Discv4Config>,
): Promise<Discv4Discovery> {
  const conn = await listenUdp({ host: init.host, port: init.port, logger: init.logger })
  let d: Discv4
  try {
    d = await Discv4.start({
      privateKey: init.privateKey,
      localNode: init.localNode,
      conn,
      db: init.db,
      bootnodes: init.bootnodes,
      ...(init.config.netRestrict ? { netRestrict: init.config.netRestrict } : {}),
      clock: init.clock,
      random: init.random,
      logger: init.logger,
      ...(config ? { config } : {}),
    })
  } catch (e) {
    conn.close()
    throw e
  }
  return {
    discv4: d,
    udpPort: d.localAddress().port,
    randomNodes: (opts) => d.randomNodes(opts),
    resolve: async (node: Node, opts) => {
      try {
        return await d.resolve(node, opts)
      } catch {
        return undefined
      }
    },
    tableSize: () => d.tableNodes().length,
    close: () => d.close(),
  }
}

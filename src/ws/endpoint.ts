import websocket, { type WebsocketPluginOptions } from '@fastify/websocket'
import type { FastifyInstance } from 'fastify'
import { EventEmitter } from 'node:events'
import type { Server } from 'node:http'
import type { TokenVerifier } from '../auth/token.js'
import type { Config } from '../config.js'
import { CLOSE, RelayError } from '../errors.js'
import { helloFrame } from './frames.js'
import type { Hub } from '../hub/hub.js'
import { plainAddress } from '../http/client-address.js'
import type { UnauthenticatedLimit } from '../http/unauthenticated-limit.js'
import type { UpgradeDispatch } from '../http/upgrade.js'
import type { RefusalSummariser } from '../log-summary.js'
import type { RelayMetrics } from '../metrics.js'
import { Connection, nextConnectionId, type ConnectionLimits } from './connection.js'
import { startHeartbeat } from './heartbeat.js'
import { WriteBatch } from './write-batch.js'
import { handleFrame, type SessionContext } from './session.js'

/** What the WebSocket endpoint needs. */
export interface WsEndpointOptions {
  readonly config: Config
  readonly hub: Hub
  readonly verifier: TokenVerifier
  /** Open connections; shared with health, metrics and shutdown. */
  readonly connections: Set<Connection>
  readonly metrics: RelayMetrics
  /** Connections of the other protocol (socket.io): both count in max_connections. */
  readonly otherConnections?: () => number
  /** The server's one upgrade dispatcher: `/ws` registers there. */
  readonly upgrades: UpgradeDispatch
  /** Connections not subscribed yet, per client address; shared with socket.io. */
  readonly unauthenticated: UnauthenticatedLimit
  /** Where refusals are logged, bounded per address and reason. */
  readonly refusals: RefusalSummariser
}

/**
 * How long a closing socket may take to answer our close frame before it is destroyed
 * (ws's default is 30 s). A slow consumer closed with 4009 does not read, so its close
 * frame waits behind everything queued for it: without this bound the relay would hold
 * up to `slow_consumer_bytes` for it for 30 s more. A peer that reads answers in one RTT.
 */
export const CLOSE_HANDSHAKE_TIMEOUT_MS = 5000

/** Largest subscribe or token frame: a full-size subscriber token and 1 KiB of the rest. */
export function subscribeFrameBytes(config: Config): number {
  return Math.max(config.max_client_frame_bytes, config.max_subscriber_token_bytes + 1024)
}

/** Whether a browser upgrade from `origin` may proceed (cross-site WebSocket hijacking). */
export function originAllowed(allowed: readonly string[], origin: string | undefined): boolean {
  return allowed.length === 0 || origin === undefined || allowed.includes(origin)
}

/** `GET /ws`: the subscriber endpoint of docs/protocol.md §5. */
export async function wsEndpoint(app: FastifyInstance, opts: WsEndpointOptions): Promise<void> {
  const { config, hub, connections, metrics } = opts
  const hello = helloFrame(config.heartbeat_interval_ms)
  const limits: ConnectionLimits = {
    slowConsumerBytes: config.slow_consumer_bytes,
    expiredGraceMs: config.expired_grace_s * 1000,
    maxFramesPerSecond: config.max_frames_per_second,
    maxMalformedFrames: config.max_malformed_frames,
  }
  const ctx: SessionContext = {
    hub,
    verifier: opts.verifier,
    maxRooms: config.max_rooms_per_connection,
    maxFrameBytes: config.max_client_frame_bytes,
    now: Date.now,
    onSubscribed: (conn) => {
      conn.subscribed()
    },
    onFailure: (conn, err) => {
      conn.log.error({ err }, 'frame handling failed')
      conn.close(CLOSE.INTERNAL)
    },
  }

  // The plugin listens for 'upgrade' on this emitter, not on the server: the server's
  // UpgradeDispatch hands it only what `/ws` owns, so that every upgrade the plugin routes
  // reaches the `/ws` route, inside this plugin's encapsulation, where its hooks clean up.
  // (On the server itself it would take every upgrade request, and a request routed to
  // another path would keep its socket forever.)
  const forwarder = new EventEmitter()
  opts.upgrades.register({
    // RFC 6455 §4.1: the opening handshake is an HTTP/1.1 GET. Anything else is served
    // as plain HTTP (HTTP/1.0 GET /ws: 426, closed).
    owns: (request, pathname) =>
      pathname === '/ws' && request.method === 'GET' && request.httpVersion === '1.1',
    handle: (request, socket, head) => {
      forwarder.emit('upgrade', request, socket, head)
    },
  })
  // closeTimeout is a ws 8.23 server option that @types/ws does not declare yet.
  const serverOptions: WebsocketPluginOptions['options'] & { closeTimeout: number } = {
    // subscribe and token frames carry a subscriber token (docs/protocol.md §5); session.ts holds
    // every other frame to max_client_frame_bytes.
    maxPayload: subscribeFrameBytes(config),
    perMessageDeflate: false,
    clientTracking: false,
    closeTimeout: CLOSE_HANDSHAKE_TIMEOUT_MS,
    server: forwarder as unknown as Server,
  }
  await app.register(websocket, {
    options: serverOptions,
    // ws emits 'error' for a peer's protocol violation (invalid UTF-8, a frame over
    // maxPayload, a bad opcode) after it has itself started the close with the right code
    // (1007, 1009, 1002). The plugin's default handler terminates the socket at once, which
    // drops that close frame whenever a reply is still queued ahead of it: the client then
    // sees 1006 instead of the code docs/protocol.md §5.4 promises. Let ws finish the close (its
    // closeTimeout bounds it); the endpoint's own listener logs it. Anything else reaching
    // here (the handler threw) closes this connection alone with 1011.
    errorHandler(error, socket, request) {
      if (socket.readyState === socket.CLOSING || socket.readyState === socket.CLOSED) return
      request.log.error({ err: error }, 'WebSocket handler failed')
      try {
        socket.close(CLOSE.INTERNAL.code, CLOSE.INTERNAL.reason)
      } catch {
        socket.terminate()
      }
    },
    // The connections are closed by the shutdown order (src/shutdown.ts), before this runs.
    // (The plugin's default preClose would close a client list that clientTracking: false
    // does not keep, and call `done` twice.)
    preClose(done) {
      done()
    },
  })

  const batch = new WriteBatch()
  const heartbeat = startHeartbeat(connections, config.heartbeat_interval_ms)
  app.addHook('onClose', (_app, done) => {
    heartbeat.stop()
    done()
  })

  app.route({
    method: 'GET',
    url: '/ws',
    // The plugin hands the upgrade's socket to a ServerResponse so that Fastify can route
    // it; once the handler runs, nothing answers through that response (the reply is
    // hijacked and ws writes the 101 itself), yet the socket would keep the response, its
    // request, Fastify's Request/Reply and the request's logger alive for as long as the
    // connection lasts: about 3 KB per idle subscriber. Detach it at the last hook, after
    // every check that might still answer with an HTTP error.
    preHandler: (request, reply, done) => {
      if (request.ws) reply.raw.detachSocket(request.raw.socket)
      done()
    },
    // A plain GET (no upgrade) is answered with the catalogue's JSON, like every route.
    handler: async () => {
      throw new RelayError('RELAY_ERR_HTTP_UPGRADE_REQUIRED')
    },
    wsHandler: (socket, request) => {
      // request.ip: behind trusted_proxies, the client the proxy names.
      const address = plainAddress(request.ip)
      const conn = new Connection(nextConnectionId(), socket, app.log, limits, {
        address,
        refusals: opts.refusals,
        metrics,
        batching: { stream: request.raw.socket, batch },
      })
      // The plugin's 'error' listener closes over the Fastify request and reply (the
      // retention above): replaced by this one, which does its job. ws emits 'error' for a
      // peer's protocol violation once it has itself started the close with the right
      // code (see errorHandler above): log it and let that close finish.
      socket.removeAllListeners('error')
      socket.on('error', (err) => {
        conn.peerError(err)
        if (socket.readyState === socket.OPEN) conn.close(CLOSE.INTERNAL)
      })
      // Cross-site WebSocket hijacking: a browser page of another origin gets 1008
      // (docs/protocol.md §5.4: do not reconnect) before anything else, hello included.
      if (!originAllowed(config.allowed_origins, request.headers.origin)) {
        conn.close(CLOSE.POLICY_ORIGIN, `origin ${request.headers.origin ?? ''} is not allowed`)
        return
      }
      if (connections.size + (opts.otherConnections?.() ?? 0) >= config.max_connections) {
        conn.close(CLOSE.SERVER_FULL, `max_connections (${config.max_connections}) reached`)
        return
      }
      const release = opts.unauthenticated.admit(address)
      if (!release) {
        conn.close(
          CLOSE.RATE_LIMITED,
          `max_unauthenticated_per_address (${config.max_unauthenticated_per_address}) reached by ${address}`,
        )
        return
      }
      conn.holdUnauthenticated(release)
      connections.add(conn)
      socket.on('message', (data, isBinary) => {
        conn.markAlive()
        handleFrame(ctx, conn, data as Buffer, isBinary)
      })
      socket.on('pong', () => {
        conn.markAlive()
      })
      socket.on('close', (code) => {
        conn.closedByPeer()
        connections.delete(conn)
        hub.remove(conn)
        conn.log.debug({ close_code: code }, 'connection closed')
      })
      conn.log.debug('connection opened')
      conn.startAuthTimeout(config.auth_timeout_ms)
      conn.send(hello)
    },
  })
}

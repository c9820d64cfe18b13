import websocket from '@fastify/websocket'
import type { FastifyInstance } from 'fastify'
import type { TokenVerifier } from '../auth/token.js'
import type { Config } from '../config.js'
import { CLOSE, RelayError } from '../errors.js'
import { helloFrame } from '../hub/frames.js'
import type { Hub } from '../hub/hub.js'
import { Connection, nextConnectionId, type ConnectionLimits } from './connection.js'
import { startHeartbeat } from './heartbeat.js'
import { handleFrame, type SessionContext } from './session.js'

/** What the WebSocket endpoint needs. */
export interface WsEndpointOptions {
  readonly config: Config
  readonly hub: Hub
  readonly verifier: TokenVerifier
  /** Open connections; shared with health, metrics and shutdown. */
  readonly connections: Set<Connection>
}

/** Whether a browser upgrade from `origin` may proceed (cross-site WebSocket hijacking). */
export function originAllowed(allowed: readonly string[], origin: string | undefined): boolean {
  return allowed.length === 0 || origin === undefined || allowed.includes(origin)
}

/** `GET /ws`: the subscriber endpoint of PROTOCOL §5. */
export async function wsEndpoint(app: FastifyInstance, opts: WsEndpointOptions): Promise<void> {
  const { config, hub, connections } = opts
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
    now: Date.now,
    onSubscribed: (conn) => {
      conn.subscribed()
    },
    onFailure: (conn, err) => {
      conn.log.error({ err }, 'frame handling failed')
      conn.close(CLOSE.INTERNAL)
    },
  }

  await app.register(websocket, {
    options: {
      maxPayload: config.max_client_frame_bytes,
      perMessageDeflate: false,
      clientTracking: false,
    },
    preClose(done) {
      for (const conn of connections) conn.close(CLOSE.GOING_AWAY)
      done()
    },
  })

  const heartbeat = startHeartbeat(connections, config.heartbeat_interval_ms)
  app.addHook('onClose', (_app, done) => {
    heartbeat.stop()
    done()
  })

  app.get(
    '/ws',
    {
      websocket: true,
      preValidation: (request, _reply, done) => {
        if (!originAllowed(config.allowed_origins, request.headers.origin)) {
          done(
            new RelayError(
              'RELAY_ERR_WS_ORIGIN',
              `origin ${request.headers.origin ?? ''} is not allowed`,
            ),
          )
          return
        }
        done()
      },
    },
    (socket, request) => {
      const id = nextConnectionId()
      const conn = new Connection(id, socket, request.log.child({ conn: id }), limits)
      if (connections.size >= config.max_connections) {
        conn.close(CLOSE.SERVER_FULL, `max_connections (${config.max_connections}) reached`)
        return
      }
      connections.add(conn)
      socket.on('message', (data, isBinary) => {
        conn.alive = true
        handleFrame(ctx, conn, data as Buffer, isBinary)
      })
      socket.on('pong', () => {
        conn.alive = true
      })
      socket.on('close', (code) => {
        conn.closedByPeer()
        connections.delete(conn)
        hub.remove(conn)
        conn.log.debug({ close_code: code }, 'connection closed')
      })
      socket.on('error', (err) => {
        conn.log.info(
          { err: { message: err.message, code: (err as { code?: string }).code } },
          'socket error',
        )
      })
      conn.log.debug({ remote: request.ip }, 'connection opened')
      conn.startAuthTimeout(config.auth_timeout_ms)
      conn.send(hello)
    },
  )
}

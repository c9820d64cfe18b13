import Fastify, { LogController, type FastifyInstance } from 'fastify'
import type { Server as TlsServer } from 'node:tls'
import type { Logger } from 'pino'
import { createRekeyableVerifier, type RekeyableVerifier } from './auth/token.js'
import type { Broker } from './broker/broker.js'
import { createBroker } from './broker/create-broker.js'
import type { Config } from './config.js'
import { RelayError } from './errors.js'
import { createProxyTrust, forwardedHeaderHook } from './http/client-address.js'
import { clientErrorHandler, installErrorHandlers } from './http/error-handler.js'
import { healthRoute } from './http/health-route.js'
import {
  createPrometheusMetrics,
  metricsRoute,
  type PrometheusMetrics,
} from './http/metrics-route.js'
import { NO_METRICS, type RelayMetrics } from './metrics.js'

import { publishRoute } from './http/publish-route.js'
import { UnauthenticatedLimit } from './http/unauthenticated-limit.js'
import { UpgradeDispatch } from './http/upgrade.js'
import { RefusalSummariser } from './log-summary.js'
import { Hub } from './hub/hub.js'
import { createLogger, deferredRequestLogger } from './log.js'
import type { TlsFiles } from './tls.js'
import { startTicketKeys, type TicketKeys } from './tls-tickets.js'
import type { Connection } from './ws/connection.js'
import { wsEndpoint } from './ws/endpoint.js'
import { attachSocketIo } from './socketio/endpoint.js'
import { installShutdownOrder } from './shutdown.js'

/** The relay's parts, reachable from the fastify instance (health, metrics, tests). */
export interface Relay {
  readonly config: Config
  readonly broker: Broker
  readonly hub: Hub
  readonly connections: ReadonlySet<Connection>
  /**
   * The server's one `upgrade` dispatcher: an endpoint that takes over sockets (socket.io)
   * registers its paths here and never listens for `upgrade` itself.
   */
  readonly upgrades: UpgradeDispatch
  /** Token verification; its key is replaced by a reload (src/reload.ts). */
  readonly verifier: RekeyableVerifier
  /** The TLS session-ticket key's rotation (null without TLS); a reload rotates it too. */
  readonly tickets: TicketKeys | null
}

declare module 'fastify' {
  interface FastifyInstance {
    relay: Relay
  }
}

/** How to build the app; everything but the config has a default. */
export interface BuildOptions {
  /** Certificate and key; null serves plain HTTP (only allowed on loopback by the config). */
  readonly tls: TlsFiles | null
  readonly logger?: Logger
  /** Defaults to the broker of `config.broker` (createBroker). */
  readonly broker?: Broker
}

/**
 * What a slow or silent HTTP(S) client may hold, and for how long. No HTTP route streams
 * or long-polls (WebSockets leave these timeouts when they upgrade), so every request is
 * short and every bound can be tight.
 */
export const HTTP_LIMITS = {
  /** Largest request head (request line and headers); beyond it, 431. */
  maxHeaderSize: 16_384,
  /** The TLS handshake must complete within this; Node's default is 120 s. */
  handshakeTimeoutMs: 10_000,
  /** A socket idle (no byte either way) for this long is closed; fastify's default is 0. */
  idleTimeoutMs: 10_000,
  /** The request head must be complete this long after its first byte (slow headers). */
  headersTimeoutMs: 10_000,
  /** The whole request, body included, must arrive within this (slow bodies). */
  requestTimeoutMs: 30_000,
  /** An idle keep-alive socket is closed after this. */
  keepAliveTimeoutMs: 10_000,
  /**
   * How often Node enforces the headers and request timeouts. Its default, 30 s, lets a
   * slow client overstay either timeout by up to that much.
   */
  timeoutCheckIntervalMs: 1_000,
} as const

/**
 * ALPN as Node's https server does it by default (only HTTP/1.1; a client offering no
 * protocol the relay speaks fails the handshake), chosen by a callback instead of an
 * `ALPNProtocols` list: with a list, Node copies it into a 9-byte pooled Buffer for every
 * TLS socket, which pins an 8 KiB pool slab shared with short-lived buffers — about
 * 0.8 KB per idle subscriber (heap snapshots of `npm run bench -- --heap`).
 */
export function selectHttp11({ protocols }: { protocols: string[] }): string | undefined {
  return protocols.includes('http/1.1') ? 'http/1.1' : undefined
}

/** Live messages a member may have waiting behind its replay, as a multiple of history_size. */
const PENDING_PER_HISTORY = 10

/**
 * Build the relay as a fastify instance, not yet listening. The caller owns `listen`
 * and `close`; closing the app follows the shutdown order of src/shutdown.ts (every
 * subscriber first, the broker last).
 */
export async function buildApp(config: Config, options: BuildOptions): Promise<FastifyInstance> {
  const logger = options.logger ?? createLogger(config.log_level)
  // config.broker: memory, or Redis (rejects with BrokerStartError when unreachable).
  const broker = options.broker ?? (await createBroker(config, logger))
  // From a trusted reverse proxy, request.ip is the client it names (src/http/client-address.ts).
  const proxyTrust = createProxyTrust(config.trusted_proxies)
  const common = {
    trustProxy: proxyTrust ?? false,
    loggerInstance: logger,
    logController: new LogController({ disableRequestLogging: true }),
    childLoggerFactory: deferredRequestLogger,
    bodyLimit: config.max_publish_bytes,
    clientErrorHandler,
    // A slow-header, slow-body or silent client cannot hold a socket for long.
    connectionTimeout: HTTP_LIMITS.idleTimeoutMs,
    requestTimeout: HTTP_LIMITS.requestTimeoutMs,
    keepAliveTimeout: HTTP_LIMITS.keepAliveTimeoutMs,
    http2: false as const,
  }
  // Node's server options. requestTimeout must be given here as well: Node 20 enforces
  // the value the server was created with, and fastify only assigns its own afterwards
  // (alone, it left Node's default of 300 s in force).
  const server = {
    maxHeaderSize: HTTP_LIMITS.maxHeaderSize,
    headersTimeout: HTTP_LIMITS.headersTimeoutMs,
    requestTimeout: HTTP_LIMITS.requestTimeoutMs,
    connectionsCheckingInterval: HTTP_LIMITS.timeoutCheckIntervalMs,
    // Node would answer a missing Host with an empty 400; the onRequest hook below
    // answers it with the catalogue's JSON instead.
    requireHostHeader: false,
  }
  // One instance type for both transports: nothing below depends on which one it is.
  const app = (options.tls
    ? Fastify({
        ...common,
        https: {
          ...server,
          cert: options.tls.cert,
          key: options.tls.key,
          handshakeTimeout: HTTP_LIMITS.handshakeTimeoutMs,
          ALPNCallback: selectHttp11,
        },
      })
    : Fastify({ ...common, http: server })) as unknown as FastifyInstance

  // First of the onRequest hooks: every later one may read request.ip.
  if (proxyTrust) forwardedHeaderHook(app, proxyTrust)
  const verifier = createRekeyableVerifier(config.nodejs_server_jwt_private_key, {
    publishMaxLifetimeS: config.publish_token_max_lifetime_s,
    publishMaxBytes: config.max_publish_bytes,
    subscriberMaxBytes: config.max_subscriber_token_bytes,
  })
  const connections = new Set<Connection>()
  // Open connections of both protocols, what max_connections bounds: /ws and socket.io pages.
  const connectionCount = (): number => connections.size + socketIo.connectionCount()
  const prometheus: PrometheusMetrics | null = config.metrics
    ? createPrometheusMetrics({
        connections: connectionCount,
        rooms: (): number => hub.stats().rooms,
        broker: () => broker.counts,
        brokerReady: () => broker.ready,
      })
    : null
  const metrics: RelayMetrics = prometheus ?? NO_METRICS
  const hub = new Hub(
    broker,
    {
      presenceMaxMembers: config.presence_max_members,
      maxPending: config.history_size * PENDING_PER_HISTORY,
      metrics,
    },
    (err, member) => {
      logger.error({ err }, 'serving a subscriber failed')
      member.fail()
    },
  )
  const upgrades = new UpgradeDispatch()
  upgrades.attach(app.server, (request, response) => {
    app.routing(request, response)
  })
  const tickets = options.tls ? startTicketKeys(app.server as unknown as TlsServer) : null
  app.decorate('relay', { config, broker, hub, connections, upgrades, verifier, tickets })
  // Refusals are logged bounded per address and reason: a flood cannot flood the logs.
  const refusals = new RefusalSummariser(logger)
  app.addHook('onClose', (_app, done) => {
    refusals.close()
    done()
  })
  const unauthenticated = new UnauthenticatedLimit(config.max_unauthenticated_per_address)
  installErrorHandlers(app, metrics, refusals)
  // RFC 9112 §3.2: an HTTP/1.1 request without Host is a 400.
  app.addHook('onRequest', (request, _reply, done) => {
    if (request.raw.httpVersion === '1.1' && request.headers.host === undefined) {
      done(new RelayError('RELAY_ERR_HTTP_BAD_REQUEST', 'an HTTP/1.1 request must carry Host'))
    } else done()
  })
  await app.register(wsEndpoint, {
    config,
    hub,
    verifier,
    connections,
    metrics,
    upgrades,
    unauthenticated,
    refusals,
    otherConnections: () => socketIo.connectionCount(),
  })
  const socketIo = attachSocketIo(app, {
    config,
    hub,
    broker,
    verifier,
    metrics,
    upgrades,
    unauthenticated,
    refusals,
    proxyTrust,
    wsConnections: () => connections.size,
  })
  await app.register(publishRoute, { config, verifier, broker, metrics })
  await app.register(healthRoute, { broker, connectionCount })
  if (prometheus) {
    await app.register(metricsRoute, {
      metrics: prometheus,
      bearerToken: config.metrics_bearer_token,
    })
  }

  app.addHook('onClose', () => tickets?.stop())
  installShutdownOrder(app, { connections, socketIo }, broker)
  return app
}

import { timingSafeEqual } from 'node:crypto'
import type { FastifyInstance, FastifyRequest } from 'fastify'
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client'
import { isLoopbackAddress } from '../config.js'
import { RelayError } from '../errors.js'
import type { BrokerCounts } from '../broker/broker.js'
import type { RelayMetrics } from '../metrics.js'

/** Prometheus metrics of one relay, each backed by prom-client. */
export interface PrometheusMetrics extends RelayMetrics {
  readonly registry: Registry
}

/** Build the registry; `connections` and `rooms` are read at scrape time. */
export function createPrometheusMetrics(gauges: {
  connections: () => number
  rooms: () => number
  /** The broker's counts, read at scrape time; absent (memory broker): they stay at zero. */
  broker?: () => Readonly<BrokerCounts> | undefined
}): PrometheusMetrics {
  const registry = new Registry()
  collectDefaultMetrics({ register: registry, prefix: 'tuleap_realtime_' })
  new Gauge({
    name: 'tuleap_realtime_connections',
    help: 'Open WebSocket connections',
    registers: [registry],
    collect() {
      this.set(gauges.connections())
    },
  })
  new Gauge({
    name: 'tuleap_realtime_rooms',
    help: 'Rooms with at least one local subscriber',
    registers: [registry],
    collect() {
      this.set(gauges.rooms())
    },
  })
  const brokerCounter = (name: string, help: string, read: (c: BrokerCounts) => number): void => {
    new Counter({
      name,
      help,
      registers: [registry],
      collect() {
        const counts = gauges.broker?.()
        this.reset()
        this.inc(counts ? read(counts) : 0)
      },
    })
  }
  brokerCounter(
    'tuleap_realtime_redis_reconnects_total',
    'Times the connection to Redis was lost and came back',
    (c) => c.reconnects,
  )
  brokerCounter(
    'tuleap_realtime_redis_failovers_total',
    'Times Redis came back as another server (failover or restart: new run_id)',
    (c) => c.failovers,
  )
  brokerCounter(
    'tuleap_realtime_rooms_resynced_total',
    'Rooms with subscribers here that started a new epoch because Redis lost their state (fencing)',
    (c) => c.roomsResynced,
  )
  const published = new Counter({
    name: 'tuleap_realtime_messages_published_total',
    help: 'Messages accepted by POST /message',
    registers: [registry],
  })
  const delivered = new Counter({
    name: 'tuleap_realtime_messages_delivered_total',
    help: 'Message frames handed to subscribers',
    registers: [registry],
  })
  const refused = new Counter({
    name: 'tuleap_realtime_refusals_total',
    help: 'Refused requests and frames, by reason',
    labelNames: ['reason'],
    registers: [registry],
  })
  const slow = new Counter({
    name: 'tuleap_realtime_slow_consumer_closes_total',
    help: 'Connections closed as slow consumers (4009)',
    registers: [registry],
  })
  const latency = new Histogram({
    name: 'tuleap_realtime_publish_to_send_seconds',
    help: 'Time from a message being stored to its frame being handed to the sockets',
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1],
    registers: [registry],
  })
  const history = new Counter({
    name: 'tuleap_realtime_history_recoveries_total',
    help: 'Subscribes with since, by result (hit: recovered, miss: not)',
    labelNames: ['result'],
    registers: [registry],
  })
  return {
    registry,
    published: (n) => published.inc(n),
    delivered: (n) => delivered.inc(n),
    refused: (reason) => refused.inc({ reason }),
    slowConsumer: () => slow.inc(),
    latency: (ms) => latency.observe(ms / 1000),
    history: (hit) => history.inc({ result: hit ? 'hit' : 'miss' }),
  }
}

/** What the metrics route needs. */
export interface MetricsRouteOptions {
  readonly metrics: PrometheusMetrics
  /** When non-empty, `Authorization: Bearer <token>` also grants access. */
  readonly bearerToken: string
}

function allowed(request: FastifyRequest, bearerToken: string): boolean {
  const auth = request.headers.authorization
  if (bearerToken !== '' && auth !== undefined) {
    const given = Buffer.from(auth)
    const expected = Buffer.from(`Bearer ${bearerToken}`)
    return given.length === expected.length && timingSafeEqual(given, expected)
  }
  const proxied = ['forwarded', 'x-forwarded-for', 'x-real-ip'].some(
    (h) => request.headers[h] !== undefined,
  )
  return !proxied && isLoopbackAddress(request.socket.remoteAddress ?? '')
}

/** `GET /metrics`: Prometheus text, to loopback peers or with the configured bearer token. */
export async function metricsRoute(app: FastifyInstance, opts: MetricsRouteOptions): Promise<void> {
  app.get('/metrics', async (request, reply) => {
    if (!allowed(request, opts.bearerToken)) throw new RelayError('RELAY_ERR_METRICS_FORBIDDEN')
    return reply.type(opts.metrics.registry.contentType).send(await opts.metrics.registry.metrics())
  })
}

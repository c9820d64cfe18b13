import { timingSafeEqual } from 'node:crypto'
import type { FastifyInstance, FastifyRequest } from 'fastify'
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client'
import { isLoopbackAddress } from '../config.js'
import type { BrokerCounts } from '../broker/broker.js'
import { REFUSAL_REASONS, RelayError } from '../errors.js'
import type { RelayMetrics } from '../metrics.js'
import { RELAY_VERSION } from '../version.js'

/** Prometheus metrics of one relay, each backed by prom-client. */
export interface PrometheusMetrics extends RelayMetrics {
  readonly registry: Registry
}

/**
 * prom-client's default gauges whose names end in `_total`, which Prometheus reserves for
 * counters (`promtool check metrics` refuses them): dropped, their per-type twins stay.
 */
const GAUGES_NAMED_TOTAL = ['active_resources', 'active_handles', 'active_requests'] as const

export { RELAY_VERSION } from '../version.js'

/** Build the registry; `connections`, `rooms` and `brokerReady` are read at scrape time. */
export function createPrometheusMetrics(gauges: {
  connections: () => number
  rooms: () => number
  /** The broker's counts, read at scrape time; absent (memory broker): they stay at zero. */
  broker?: () => Readonly<BrokerCounts> | undefined
  brokerReady: () => boolean
}): PrometheusMetrics {
  const registry = new Registry()
  collectDefaultMetrics({ register: registry, prefix: 'tuleap_realtime_' })
  // prom-client also serves each as nodejs_<name>, labelled by type: that one stays.
  for (const name of GAUGES_NAMED_TOTAL) {
    registry.removeSingleMetric(`tuleap_realtime_nodejs_${name}_total`)
  }
  new Gauge({
    name: 'tuleap_realtime_build_info',
    help: 'Always 1; the labels say which relay and which Node.js run',
    labelNames: ['version', 'node'],
    registers: [registry],
  }).set({ version: RELAY_VERSION, node: process.versions.node }, 1)
  new Gauge({
    name: 'tuleap_realtime_broker_ready',
    help: '1 when the broker is ready (publish accepted), 0 when not (e.g. Redis unreachable)',
    registers: [registry],
    collect() {
      this.set(gauges.brokerReady() ? 1 : 0)
    },
  })
  new Gauge({
    name: 'tuleap_realtime_connections',
    help: 'Open connections: /ws and socket.io pages together, as max_connections counts them',
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
  // Every label value exists from the first scrape, at 0, so that rate() sees its start.
  for (const result of ['hit', 'miss']) history.inc({ result }, 0)
  for (const reason of REFUSAL_REASONS) refused.inc({ reason }, 0)
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

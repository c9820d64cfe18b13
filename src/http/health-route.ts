import type { FastifyInstance } from 'fastify'
import type { Broker } from '../broker/broker.js'

/** What /health reports on. */
export interface HealthOptions {
  readonly broker: Broker
  readonly connectionCount: () => number
}

/** The answer of `GET /health/live`: constant, built once. */
const LIVE = JSON.stringify({ status: 'ok', live: true })

/**
 * `GET /health`: liveness (the process answers) and readiness (the broker can take
 * publishes). 200 when ready, 503 when not. No secrets, nothing about users.
 *
 * `GET /health/live`: liveness alone, 200 whenever the process answers HTTP, whatever the
 * broker's state: what a liveness probe uses, so that a Redis outage (`/health` 503) does
 * not get every relay restarted.
 */
export async function healthRoute(app: FastifyInstance, opts: HealthOptions): Promise<void> {
  app.get('/health', async (_request, reply) => {
    const ready = opts.broker.ready
    return reply.code(ready ? 200 : 503).send({
      status: ready ? 'ok' : 'unavailable',
      live: true,
      ready,
      connections: opts.connectionCount(),
    })
  })
  app.get('/health/live', async (_request, reply) =>
    reply.type('application/json; charset=utf-8').send(LIVE),
  )
}

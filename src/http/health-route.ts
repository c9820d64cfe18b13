import type { FastifyInstance } from 'fastify'
import type { Broker } from '../broker/broker.js'

/** What /health reports on. */
export interface HealthOptions {
  readonly broker: Broker
  readonly connectionCount: () => number
}

/**
 * `GET /health`: liveness (the process answers) and readiness (the broker can take
 * publishes). 200 when ready, 503 when not. No secrets, nothing about users.
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
}

/**
 * What a `POST /message` costs the relay in CPU per request without sockets (fastify's
 * `inject`: no TLS, no HTTP parsing, no subscriber), against a bare fastify route, and
 * the parts the relay adds: the token check and the broker's publish. Each publish goes
 * to a room of its own among 1,000, as in the many-rooms scenario.
 * Run: `npm run -s build && tsc -p test/bench && node dist/test/bench/publish-cost.js`.
 */
import Fastify, { type FastifyInstance } from 'fastify'
import { buildApp } from '../../src/app.js'
import { signPublishToken } from '../../src/auth/sign.js'
import { createTokenVerifier } from '../../src/auth/token.js'
import { MemoryBroker } from '../../src/broker/memory-broker.js'
import { loadConfig } from '../../src/config.js'
import { parseMessage } from '../../src/protocol/message.js'
import { kanbanMessage, type KanbanMessage } from './common.js'

const CALLS = 5_000
const ROOMS = 1_000
const KEY = 'k'.repeat(64)

const message = (i: number): KanbanMessage =>
  kanbanMessage(`room-${i % ROOMS}`, { seq: i, phase: 0, t: 0 })

/** CPU µs per call of `f` over `CALLS` calls (each awaited), after a warm-up. */
async function cpuPerCall(f: (i: number) => unknown): Promise<number> {
  for (let i = 0; i < CALLS / 5; i++) await f(i)
  const start = process.cpuUsage()
  for (let i = 0; i < CALLS; i++) await f(i)
  const used = process.cpuUsage(start)
  return (used.user + used.system) / CALLS
}

const tokens = Array.from({ length: CALLS }, (_, i) => signPublishToken([message(i)], KEY))
const bodies = Array.from({ length: CALLS }, (_, i) => JSON.stringify(message(i)))

const config = loadConfig({
  values: {
    nodejs_server_jwt_private_key: KEY,
    log_level: 'info',
    publish_rate_per_minute: 1_000_000_000,
  },
})
const relay = await buildApp(config, { tls: null })
await relay.ready()
const bare: FastifyInstance = Fastify()
bare.removeAllContentTypeParsers()
bare.addContentTypeParser('application/jwt', { parseAs: 'string' }, (_req, body, done) => {
  done(null, body)
})
bare.post('/message', async () => ({}))
await bare.ready()

const verifier = createTokenVerifier(KEY, { publishMaxLifetimeS: 300, publishMaxBytes: 262_144 })
const broker = new MemoryBroker({ historySize: 100, historyTtlMs: 3_600_000 })
const post = (app: FastifyInstance, i: number): Promise<{ statusCode: number; body: string }> =>
  app.inject({
    method: 'POST',
    url: '/message',
    headers: { 'content-type': 'application/jwt', host: 'localhost' },
    payload: tokens[i % CALLS],
  })

// Measure accepted publishes, not an error path.
for (const app of [bare, relay]) {
  const answer = await post(app, 0)
  if (answer.statusCode !== 200)
    throw new Error(`expected 200, got ${answer.statusCode}: ${answer.body}`)
}

const rows: [string, (i: number) => unknown][] = [
  ['bare fastify POST answering {}', (i) => post(bare, i)],
  ['relay POST /message', (i) => post(relay, i)],
  ['  verifyPublish', (i) => verifier.verifyPublish(tokens[i % CALLS])],
  [
    '  message check + broker publish',
    (i) => broker.publish([parseMessage(JSON.parse(bodies[i % CALLS] ?? ''), 'message')]),
  ],
]
console.log(`${CALLS} calls each, ${ROOMS} rooms, no subscriber, Node ${process.version}`)
for (const [name, f] of rows) {
  console.log(`${name.padEnd(32)} ${(await cpuPerCall(f)).toFixed(1)} µs`)
}
await Promise.all([relay.close(), bare.close(), broker.close()])

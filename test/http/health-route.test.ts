/** GET /health (liveness and readiness) and GET /health/live (liveness alone). */
import t from 'tap'
import type { Broker } from '../../src/broker/broker.js'
import { MemoryBroker } from '../../src/broker/memory-broker.js'
import { startRelay } from '../helpers/relay.js'

/** The memory broker, reporting itself down while `up.value` is false (Redis unreachable). */
function switchableBroker(up: { value: boolean }): Broker {
  const memory = new MemoryBroker({ historySize: 10, historyTtlMs: 60_000 })
  return {
    get ready() {
      return up.value
    },
    publish: (m, i) => memory.publish(m, i),
    subscribe: (r, l) => memory.subscribe(r, l),
    unsubscribe: (r, l) => memory.unsubscribe(r, l),
    history: (r, s) => memory.history(r, s),
    close: () => memory.close(),
  }
}

t.test('broker ready: /health and /health/live both answer 200', async (t) => {
  const relay = await startRelay(t, {}, { broker: switchableBroker({ value: true }) })
  const health = await relay.request('GET', '/health')
  t.equal(health.status, 200)
  t.same(health.body, { status: 'ok', live: true, ready: true, connections: 0 })
  const live = await relay.request('GET', '/health/live')
  t.equal(live.status, 200)
  t.same(live.body, { status: 'ok', live: true })
})

t.test('broker down: /health is 503 (not ready), /health/live stays 200', async (t) => {
  const up = { value: true }
  const relay = await startRelay(t, {}, { broker: switchableBroker(up) })
  up.value = false
  const health = await relay.request('GET', '/health')
  t.equal(health.status, 503)
  t.same(health.body, { status: 'unavailable', live: true, ready: false, connections: 0 })
  const live = await relay.request('GET', '/health/live')
  t.equal(live.status, 200, 'a liveness probe does not restart the relay for a Redis outage')
  t.same(live.body, { status: 'ok', live: true })
  t.match(String(live.headers['content-type']), /^application\/json/)
})

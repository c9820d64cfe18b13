/**
 * Rooms cost nothing once empty: one valid token subscribing to and leaving 60,000
 * distinct room ids leaves no room behind, in the hub or the broker, and the heap comes
 * back within 10 % of where it started.
 */
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import t from 'tap'
import { MemoryBroker } from '../../src/broker/memory-broker.js'
import { startRelay, type TestClient } from '../helpers/relay.js'
import { subscriberToken } from '../helpers/tokens.js'

setFlagsFromString('--expose-gc')
const gc = runInNewContext('gc') as () => void

async function settledHeap(): Promise<number> {
  for (let i = 0; i < 3; i++) {
    gc()
    await new Promise((resolve) => setImmediate(resolve))
  }
  return process.memoryUsage().heapUsed
}

const ROOMS = 60_000
const BATCH = 500

async function flood(client: TestClient, from: number, count: number): Promise<void> {
  for (let start = from; start < from + count; start += BATCH) {
    for (const type of ['subscribe', 'unsubscribe']) {
      for (let i = start; i < start + BATCH; i++) client.send({ type, room_id: `flood-${i}` })
      for (let i = 0; i < BATCH; i++) {
        const f = await client.next(10_000)
        if (f.type !== `${type}d`) throw new Error(`unexpected ${JSON.stringify(f)}`)
      }
    }
  }
}

t.test(`${ROOMS} rooms named and left: nothing stays`, async (t) => {
  // About 5 s here; two minutes leaves room on a loaded machine, inside tap's per-file 180 s.
  t.setTimeout(120_000)
  const relay = await startRelay(t, {
    max_frames_per_second: 1_000_000,
    max_rooms_per_connection: BATCH + 1,
  })
  const client = await relay.connect()
  const first = await client.subscribe({
    room_id: 'home',
    token: subscriberToken(101, ['@site_active']),
  })
  t.equal(first.type, 'subscribed')
  await flood(client, 0, 2 * BATCH)
  const start = await settledHeap()
  await flood(client, 2 * BATCH, ROOMS)
  const broker = relay.app.relay.broker
  if (!(broker instanceof MemoryBroker)) throw new Error('the default broker is the memory one')
  t.same(relay.app.relay.hub.stats().rooms, 1, 'the hub holds the one room still joined')
  t.same(broker.stats().rooms, 1, 'and so does the broker')
  const end = await settledHeap()
  const growth = (end - start) / start
  t.ok(
    growth < 0.1,
    `heap ${(start / 1e6).toFixed(1)} MB → ${(end / 1e6).toFixed(1)} MB (${(growth * 100).toFixed(1)} %)`,
  )
})

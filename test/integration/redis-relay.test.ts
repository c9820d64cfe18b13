/**
 * The relay on Redis, in process (buildApp with `broker.type: redis`), seen through its
 * WebSocket clients and /metrics when Redis loses a room's state under a connected
 * subscriber (FLUSHALL, the room's keys evicted) and when Redis drops its connections
 * (CLIENT KILL). The broker contract (test/broker/contract.ts) covers the broker alone;
 * these check what a page and a dashboard see.
 */
import { randomUUID } from 'node:crypto'
import t, { type Test } from 'tap'
import { command, startRedis } from '../helpers/redis.js'
import { positionIn, startRelay, subscribeNew, type TestRelay } from '../helpers/relay.js'
import { subscriberToken } from '../helpers/tokens.js'
import { until } from '../helpers/wait.js'

/** The value of one sample line (`name{labels} value`) of a /metrics scrape. */
async function sample(relay: TestRelay, series: string): Promise<number | undefined> {
  const { text } = await relay.request('GET', '/metrics')
  const line = text.split('\n').find((l) => l.startsWith(`${series} `))
  return line === undefined ? undefined : Number(line.slice(series.length + 1))
}

const redis = await startRedis(t)
if (redis) {
  const ROOM = '42'
  const token = subscriberToken(7, ['@site_active'])
  const start = (t: Test, keyPrefix: string) =>
    startRelay(t, {
      metrics: true,
      broker: { type: 'redis', url: redis.url, key_prefix: keyPrefix },
    })

  const losses: Record<string, (keyPrefix: string) => Promise<void>> = {
    FLUSHALL: async () => {
      t.equal(await command(redis.port, 'FLUSHALL'), '+OK')
    },
    // What eviction (maxmemory) or expiry does to a room: its meta and history gone, the
    // rest of the dataset kept.
    "the room's keys evicted": async (keyPrefix) => {
      const deleted = await command(
        redis.port,
        `DEL ${keyPrefix}meta:${ROOM} ${keyPrefix}history:${ROOM}`,
      )
      t.equal(deleted, ':2', 'meta and history were there')
    },
  }

  for (const [what, lose] of Object.entries(losses)) {
    t.test(`${what} under a resumed subscriber: resync, then the new epoch`, async (t) => {
      const keyPrefix = `relay-${randomUUID()}:`
      const relay = await start(t, keyPrefix)
      const first = await relay.connect()
      const subscribed = await first.subscribe({ room_id: ROOM, token, uuid: 'first' })
      for (const cmd of ['m1', 'm2']) {
        t.equal((await relay.publish({ message: { room_id: ROOM, cmd } })).status, 200)
        t.match(await first.next(), { type: 'message', cmd, epoch: subscribed.epoch })
      }
      first.close()
      // A page that reconnects from where it was: complete, so recovered.
      const page = await relay.connect()
      t.match(
        await page.subscribe({
          room_id: ROOM,
          token,
          uuid: 'page',
          since: positionIn(subscribed, 2),
        }),
        { type: 'subscribed', epoch: subscribed.epoch, offset: 2, recovered: true },
      )
      t.equal(await sample(relay, 'tuleap_realtime_rooms_resynced_total'), 0)

      await lose(keyPrefix)
      const answer = await relay.publish({ message: { room_id: ROOM, cmd: 'm3' } })
      t.equal(answer.status, 200)
      const [at] = answer.body.accepted as { epoch: string; offset: number }[]
      t.not(at!.epoch, subscribed.epoch, 'a new epoch')
      t.equal(at!.offset, 1, 'from offset 1: nothing acknowledged before is given again')
      t.same(
        await page.next(),
        { type: 'resync', room_id: ROOM, epoch: at!.epoch, offset: 0 },
        'the connected page is told (docs/protocol.md §5.2), not fooled',
      )
      t.match(await page.next(), { type: 'message', cmd: 'm3', epoch: at!.epoch, offset: 1 })
      t.ok(await page.silentFor(200), 'nothing else')
      t.match(
        await subscribeNew(relay, {
          room_id: ROOM,
          token,
          uuid: 'late',
          since: positionIn(subscribed, 2),
        }),
        { type: 'subscribed', epoch: at!.epoch, offset: 1, recovered: false },
        'a resume from the lost state is not recovered',
      )
      t.equal(await sample(relay, 'tuleap_realtime_rooms_resynced_total'), 1)
    })
  }

  t.test('Redis drops the connections: redis_reconnects_total counts it', async (t) => {
    const relay = await start(t, `relay-${randomUUID()}:`)
    const page = await relay.connect()
    await page.subscribe({ room_id: ROOM, token, uuid: 'page' })
    t.equal(await sample(relay, 'tuleap_realtime_redis_reconnects_total'), 0, 'none yet')
    // The relay's command and subscriber connections (not this inline client's own).
    t.match(await command(redis.port, 'CLIENT KILL TYPE normal'), /^:[1-9]/)
    t.match(await command(redis.port, 'CLIENT KILL TYPE pubsub'), /^:[1-9]/)
    await until('the relay reconnected', async () => {
      const reconnects = await sample(relay, 'tuleap_realtime_redis_reconnects_total')
      const ready = await sample(relay, 'tuleap_realtime_broker_ready')
      return (reconnects ?? 0) > 0 && ready === 1
    })
    t.equal(await sample(relay, 'tuleap_realtime_redis_reconnects_total'), 1)
    t.equal(await sample(relay, 'tuleap_realtime_redis_failovers_total'), 0, 'the same server')
    const answer = await relay.publish({ message: { room_id: ROOM, cmd: 'after' } })
    t.equal(answer.status, 200, 'publishing works again')
    t.match(await page.next(), { type: 'message', cmd: 'after' }, 'to the page kept connected')
  })
}

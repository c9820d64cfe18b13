/**
 * Room floods cost the Redis broker nothing lasting: every key it writes (room meta,
 * history, generation, jti, presence) carries an expiry, so a room named once and left
 * is gone from Redis once its TTL passes. Starts its own redis-server (skipped without
 * one, failed under CI=true).
 */
import { randomUUID } from 'node:crypto'
import { Redis } from 'ioredis'
import t from 'tap'
import { RedisBroker } from '../../src/broker/redis-broker.js'
import { testMessage } from '../helpers/messages.js'
import { startRedis } from '../helpers/redis.js'

const redis = await startRedis(t)

if (redis) {
  t.test('every key the Redis broker writes has a TTL', async (t) => {
    const keyPrefix = `ttl-${randomUUID()}:`
    const broker = new RedisBroker({
      url: redis.url,
      keyPrefix,
      historySize: 10,
      historyTtlMs: 60_000,
      presenceHeartbeatMs: 100,
    })
    t.teardown(() => broker.close())
    await broker.whenReady(10_000)
    const listener = (): void => undefined
    for (let i = 0; i < 50; i++) {
      const room = `room-${i}`
      await broker.subscribe(room, listener)
      await broker.history(room)
      if (i % 2 === 0) {
        await broker.publish([testMessage(room, 'a')], { jti: `jti-${i}`, ttlMs: 300_000 })
      }
      await broker.history(room, { epoch: 'old', offset: 3 })
      broker.presence.share(
        room,
        { count: 1, members: [{ user_id: 1, uuid: 'u' }] },
        { event: 'join', member: { user_id: 1, uuid: 'u' } },
      )
      await broker.presence.others(room)
      broker.presence.share(room, { count: 0, members: [] }, null)
      await broker.unsubscribe(room, listener)
    }
    // Presence shares are written without waiting: let them land.
    await new Promise((resolve) => setTimeout(resolve, 500))
    const client = new Redis(redis.url, { maxRetriesPerRequest: 0 })
    client.on('error', () => undefined)
    t.teardown(() => client.disconnect())
    const keys: string[] = []
    let cursor = '0'
    do {
      const [next, batch] = await client.scan(cursor, 'MATCH', `${keyPrefix}*`, 'COUNT', 1000)
      cursor = next
      keys.push(...batch)
    } while (cursor !== '0')
    t.ok(keys.length >= 50, `${keys.length} keys written`)
    const without: string[] = []
    for (const key of keys) {
      const ttl = await client.pttl(key)
      if (ttl < 0) without.push(`${key} (${ttl})`)
    }
    t.same(without, [], 'no key without an expiry')
  })
}

/**
 * docs/protocol.md §7 across nodes: two hubs, each on its own RedisBroker, one Redis. Counts and
 * lists span the nodes, join/leave frames cross them, presence_max_members bounds the
 * whole room, and the members of a node that dies without cleaning up leave.
 */
import { randomUUID } from 'node:crypto'
import type { Redis } from 'ioredis'
import t, { type Test } from 'tap'
import { RedisBroker } from '../../src/broker/redis-broker.js'
import { Hub } from '../../src/hub/hub.js'
import { startRedis, type TestRedis } from '../helpers/redis.js'
import { StrictMember } from '../helpers/fakes.js'
import { until as waitUntil } from '../helpers/wait.js'

const WAIT_MS = 10_000

/** A member of @site_active; an overflow or a failure is a bug here. */
const member = (userId: number, uuid: string): StrictMember =>
  new StrictMember(userId, new Set(['@site_active']), uuid)

const until = (what: string, check: () => boolean): Promise<void> =>
  waitUntil(what, check, { timeoutMs: WAIT_MS, intervalMs: 20 })

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

const redis = await startRedis(t)
if (redis) tests(redis)

function tests(redis: TestRedis): void {
  /** Nodes on one key prefix, each a hub on its own broker; a short presence heartbeat. */
  function nodes(t: Test) {
    const keyPrefix = `presence-${randomUUID()}:`
    return async () => {
      const broker = new RedisBroker({
        url: redis.url,
        keyPrefix,
        historySize: 100,
        historyTtlMs: 300_000,
        presenceHeartbeatMs: 100,
        presenceStaleMs: 400,
      })
      t.teardown(() => broker.close())
      await broker.whenReady(WAIT_MS)
      const hub = new Hub(broker, { presenceMaxMembers: 2, maxPending: 1000 }, (err) => {
        throw err
      })
      return { broker, hub }
    }
  }

  t.test('counts, lists and join/leave frames span the nodes, bounded', async (t) => {
    const node = nodes(t)
    const a = await node()
    const b = await node()
    const a1 = member(1, 'a1')
    await a.hub.subscribe(a1, '42', { presence: true })
    t.match(a1.frames.shift(), {
      type: 'subscribed',
      presence_count: 1,
      presence: [{ uuid: 'a1' }],
    })

    const b1 = member(2, 'b1')
    await b.hub.subscribe(b1, '42', { presence: true })
    t.match(b1.frames.shift(), {
      type: 'subscribed',
      presence_count: 2,
      presence: [
        { user_id: 2, uuid: 'b1' },
        { user_id: 1, uuid: 'a1' },
      ],
    })
    await until('a1 sees b1 join', () => a1.presence().length === 1)
    t.same(a1.frames.shift(), {
      type: 'presence',
      room_id: '42',
      event: 'join',
      user_id: 2,
      uuid: 'b1',
    })

    const b2 = member(3, 'b2')
    await b.hub.subscribe(b2, '42', { presence: true })
    const answer = b2.frames.shift()
    t.match(answer, { type: 'subscribed', presence_count: 3 })
    t.notOk(answer && 'presence' in answer, 'three members over two nodes, max 2: no list')
    await pause(300)
    t.same(a1.presence(), [], 'no join frame on the other node either')

    b.hub.unsubscribe(b2, '42')
    await until('back to two: the leave crosses', () => a1.presence().length === 1)
    t.same(a1.presence(), ['leave:b2'])
  })

  t.test('the members of a node that dies without cleaning up leave', async (t) => {
    const node = nodes(t)
    const a = await node()
    const b = await node()
    const watcher = member(1, 'watcher')
    await a.hub.subscribe(watcher, '7', { presence: true })
    await b.hub.subscribe(member(2, 'doomed'), '7', { presence: false })
    await until('the join crosses', () => watcher.presence().length === 1)
    // Node b vanishes from Redis at once: no QUIT, no HDEL, no leave event (as SIGKILL).
    const connections = b.broker as unknown as { cmd: Redis; sub: Redis }
    connections.cmd.disconnect()
    connections.sub.disconnect()
    await until('its member expires', () => watcher.presence().length === 2)
    t.same(watcher.presence(), ['join:doomed', 'leave:doomed'])
    const late = member(3, 'late')
    await a.hub.subscribe(late, '7', { presence: true })
    t.match(late.frames[0], { type: 'subscribed', presence_count: 2 }, 'the count forgets it too')
  })
}

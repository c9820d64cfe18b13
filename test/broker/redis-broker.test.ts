/**
 * The Redis broker: the broker contract (a fresh key prefix per case), then what only a
 * shared broker has: channels held only for served rooms, several nodes on one Redis,
 * epochs in Redis, all-or-nothing batches, outages and presence across nodes. Starts
 * its own redis-server (skipped without one, failed under CI=true).
 */
import { randomUUID } from 'node:crypto'
import { Redis } from 'ioredis'
import t, { type Test } from 'tap'
import type { Broker, PresenceChange, StoredMessage } from '../../src/broker/broker.js'
import { RedisBroker, redactUrl, type RedisBrokerOptions } from '../../src/broker/redis-broker.js'
import type { Message } from '../../src/protocol/message.js'
import { startRedis, type TestRedis } from '../helpers/redis.js'
import { brokerContract } from './contract.js'
import { firstStored, testMessage } from '../helpers/messages.js'
import { until as waitUntil } from '../helpers/wait.js'

/** Upper bound of every wait in this file. */
const WAIT_MS = 10_000

const redis = await startRedis(t)

const message = (roomId: string, cmd: string): Message =>
  testMessage(roomId, cmd, { data: { cmd } })

const until = (what: string, check: () => boolean | Promise<boolean>): Promise<void> =>
  waitUntil(what, check, { timeoutMs: WAIT_MS, intervalMs: 20 })

if (redis) {
  const inspect = (): Redis => {
    const client = new Redis(redis.url, { maxRetriesPerRequest: 0 })
    client.on('error', () => undefined)
    return client
  }
  /** Run `fn` with a plain client to the test Redis, disconnected after. */
  const withClient = async (fn: (c: Redis) => Promise<unknown>): Promise<void> => {
    const client = inspect()
    try {
      await fn(client)
    } finally {
      client.disconnect()
    }
  }
  const same = (broker: Broker): Promise<Broker> => Promise.resolve(broker)
  const nothing = (): Promise<void> => Promise.resolve()
  brokerContract(
    t,
    'RedisBroker',
    async (opts) => {
      const broker = new RedisBroker({
        url: redis.url,
        keyPrefix: `test-${randomUUID()}:`,
        ...opts,
      })
      await broker.whenReady(WAIT_MS)
      return broker
    },
    {
      'Redis restarted from an older snapshot': {
        checkpoint: () => redis.snapshot(),
        lose: async (broker) => {
          await redis.kill()
          await redis.restart()
          return broker
        },
      },
      FLUSHALL: {
        checkpoint: nothing,
        lose: (broker) => withClient((c) => c.flushall()).then(() => same(broker)),
      },
      'room keys expired': {
        checkpoint: nothing,
        lose: async (broker) => {
          await withClient(async (c) => {
            const keys = await c.keys('test-*-fenced')
            if (keys.length === 0) throw new Error('no room keys to expire')
            for (const key of keys) await c.pexpire(key, 1)
            await until('they expired', async () => (await c.keys('test-*-fenced')).length === 0)
          })
          return broker
        },
      },
      'room keys evicted (maxmemory, allkeys-lru)': {
        checkpoint: nothing,
        lose: async (broker) => {
          await withClient(async (c) => {
            const used = Number(/used_memory:(\d+)/.exec(await c.info('memory'))?.[1])
            await c.config('SET', 'maxmemory-policy', 'allkeys-lru')
            await c.config('SET', 'maxmemory', String(used + 512 * 1024))
            try {
              // Newer keys push the relay's (least recently used) keys out.
              const junk = 'x'.repeat(1024)
              for (let i = 0; i < 4096; i++) {
                await c.set(`junk-${randomUUID()}`, junk).catch(() => undefined)
                if (i % 64 === 0 && (await c.keys('test-*-fenced')).length === 0) break
              }
              const left = await c.keys('test-*-fenced')
              if (left.length > 0) throw new Error(`not evicted: ${left.join(', ')}`)
            } finally {
              await c.config('SET', 'maxmemory', '0')
              const junk = await c.keys('junk-*')
              if (junk.length > 0) await c.del(...junk)
            }
          })
          return broker
        },
      },
    },
  )
  redisTests(redis)
}

function redisTests(redis: TestRedis): void {
  /** A plain client to look at Redis from outside, closed at teardown. */
  function inspector(t: Test): Redis {
    const client = new Redis(redis.url, { maxRetriesPerRequest: 0 })
    client.on('error', () => undefined)
    t.teardown(() => client.disconnect())
    return client
  }

  /** Brokers ("nodes") sharing one key prefix, closed at teardown. */
  function cluster(t: Test, opts: Partial<RedisBrokerOptions> = {}) {
    const keyPrefix = `test-${randomUUID()}:`
    const room = (suffix: string) => `room-${randomUUID()}-${suffix}`
    const node = async (more: Partial<RedisBrokerOptions> = {}): Promise<RedisBroker> => {
      const broker = new RedisBroker({
        url: redis.url,
        keyPrefix,
        historySize: 100,
        historyTtlMs: 300_000,
        ...opts,
        ...more,
      })
      t.teardown(() => broker.close())
      await broker.whenReady(WAIT_MS)
      return broker
    }
    return { keyPrefix, room, node }
  }

  t.test('a room channel is held only while the node has listeners in it', async (t) => {
    const { keyPrefix, room, node } = cluster(t)
    const a = await node()
    const b = await node()
    const redisOut = inspector(t)
    const served = room('served')
    const other = room('other')
    const numsub = async (roomId: string) =>
      Number((await redisOut.pubsub('NUMSUB', `${keyPrefix}room:${roomId}`))[1])

    const got: StoredMessage[] = []
    const first = (m: StoredMessage) => got.push(m)
    const second = (): void => undefined
    await a.subscribe(served, first)
    await a.subscribe(served, second)
    t.equal(await numsub(served), 1, 'one SUBSCRIBE for two listeners')
    t.equal(await numsub(other), 0, 'nobody subscribes to a room nobody serves')

    await b.publish([message(other, 'o1'), message(served, 's1')])
    await until('s1 reaches node a', () => got.length === 1)
    t.same(
      got.map((m) => m.cmd),
      ['s1'],
      'only the served room reaches node a',
    )

    await a.unsubscribe(served, second)
    t.equal(await numsub(served), 1, 'still one listener: still subscribed')
    await a.unsubscribe(served, first)
    await until('the channel is released', async () => (await numsub(served)) === 0)
    await b.publish([message(served, 's2')])
    t.ok(await new Promise((r) => setTimeout(() => r(got.length === 1), 200)), 'no more messages')
    t.equal(a.ready, true)
  })

  t.test('two nodes publishing at once: every listener sees 1..n in order, once', async (t) => {
    const { room, node } = cluster(t)
    const a = await node()
    const b = await node()
    const shared = room('shared')
    const seenA: number[] = []
    const seenB: number[] = []
    await a.subscribe(shared, (m) => seenA.push(m.offset))
    await b.subscribe(shared, (m) => seenB.push(m.offset))
    const publishes: Promise<unknown>[] = []
    for (let i = 0; i < 50; i++) {
      publishes.push(a.publish([message(shared, `a${i}`)]))
      publishes.push(b.publish([message(shared, `b${i}`), message(shared, `b${i}bis`)]))
    }
    await Promise.all(publishes)
    const all = Array.from({ length: 150 }, (_, i) => i + 1)
    await until('both nodes saw 150 messages', () => seenA.length >= 150 && seenB.length >= 150)
    t.same(seenA, all, 'node a: every offset once, in order')
    t.same(seenB, all, 'node b: every offset once, in order')
    const history = await a.history(shared, { epoch: (await b.history(shared)).epoch, offset: 100 })
    t.same(
      history.messages?.map((m) => m.offset),
      all.slice(100),
      'one history, shared by both nodes',
    )
  })

  t.test('the epoch lives in Redis: it survives a relay restart', async (t) => {
    const { room, node } = cluster(t)
    const first = await node()
    const r = room('restart')
    const m1 = await firstStored(first, [message(r, 'before')])
    await first.close()
    const second = await node()
    const after = await second.history(r, { epoch: m1.epoch, offset: 0 })
    t.equal(after.epoch, m1.epoch, 'same epoch on the restarted node')
    t.same(
      after.messages?.map((m) => m.cmd),
      ['before'],
      'history kept',
    )
    const m2 = await firstStored(second, [message(r, 'after')])
    t.same([m2.epoch, m2.offset], [m1.epoch, 2], 'offsets go on')
  })

  t.test('the epoch changes when Redis lost the room’s keys', async (t) => {
    const { room, node } = cluster(t)
    const broker = await node()
    const r = room('flushed')
    const m1 = await firstStored(broker, [message(r, 'm1'), message(r, 'm2')])
    await inspector(t).flushall()
    const after = await broker.history(r, { epoch: m1.epoch, offset: 2 })
    t.not(after.epoch, m1.epoch, 'a new epoch')
    t.equal(after.offset, 0, 'offsets start afresh')
    t.equal(after.messages, null, 'the old position is not covered')
    const m3 = await firstStored(broker, [message(r, 'm3')])
    t.same([m3.epoch, m3.offset], [after.epoch, 1], 'the first new message keeps the new epoch')
  })

  t.test('a batch across rooms is stored all or nothing', async (t) => {
    const { keyPrefix, room, node } = cluster(t)
    const broker = await node()
    const good = room('good')
    const broken = room('broken')
    const got: StoredMessage[] = []
    await broker.subscribe(good, (m) => got.push(m))
    // The second room's history key holds a string: the script must refuse before writing.
    await inspector(t).set(`${keyPrefix}history:${broken}`, 'not a list')
    await t.rejects(
      broker.publish([message(good, 'g1'), message(broken, 'b1'), message(good, 'g2')]),
      { code: 'RELAY_ERR_BROKER_UNAVAILABLE' },
    )
    const position = await broker.history(good)
    t.equal(position.offset, 0, 'nothing stored in the good room')
    t.same(
      await broker.history(good, { epoch: position.epoch, offset: 0 }),
      { epoch: position.epoch, offset: 0, messages: [] },
      'its history is empty',
    )
    await new Promise((resolve) => setTimeout(resolve, 100))
    t.same(got, [], 'nothing published')
    t.equal(broker.ready, true, 'a refused script leaves the broker ready')
  })

  t.test('jti claims are shared by every node', async (t) => {
    const { room, node } = cluster(t)
    const a = await node()
    const b = await node()
    const jti = `jti-${randomUUID()}`
    const first = await a.publish([message(room('jti'), 'm1')], { jti, ttlMs: 60_000 })
    t.equal(first.duplicate, false, 'node a publishes it')
    const again = await b.publish([message(room('jti'), 'm1')], { jti, ttlMs: 60_000 })
    t.same(again, { stored: [], accepted: first.accepted, duplicate: true }, 'node b: duplicate')
    const racing = `jti-${randomUUID()}`
    const both = await Promise.allSettled(
      [a, b].map((n) => n.publish([message(room('race'), 'm')], { jti: racing, ttlMs: 60_000 })),
    )
    const published = both.filter((r) => r.status === 'fulfilled' && !r.value.duplicate)
    t.equal(published.length, 1, 'racing nodes: one publishes')
  })

  t.test('a jti that could not be released is released once Redis is back', async (t) => {
    const { node } = cluster(t)
    const a = await node()
    // The claim and release steps of publish, reached directly to cut Redis between them.
    const steps = a as unknown as {
      claimJti(jti: string, ttlMs: number): Promise<unknown>
      settleJti(jti: string, accepted: null, ttlMs: number): Promise<void>
    }
    const jti = `jti-${randomUUID()}`
    t.equal(await steps.claimJti(jti, 60_000), null)
    // Drop the command connection (as a network cut) and release at once, while it is down.
    let released: unknown = null
    for (let attempt = 0; attempt < 5 && released === null; attempt++) {
      await until('ready', () => a.ready)
      await inspector(t).call('CLIENT', 'KILL', 'TYPE', 'normal')
      released = await steps.settleJti(jti, null, 60_000).then(
        () => null,
        (err: unknown) => err,
      )
    }
    t.match(released, { code: 'RELAY_ERR_BROKER_UNAVAILABLE' }, 'the release failed')
    await until('ready again', () => a.ready)
    await until('the release is done on reconnect', async () => {
      const answer = await steps.claimJti(jti, 60_000).catch(() => 'down')
      return answer === null
    })
    t.pass('a new claim: the backend may retry')
  })

  t.test('a claim stranded in flight answers 503, never an empty duplicate', async (t) => {
    const { room, node } = cluster(t)
    const a = await node()
    const b = await node()
    // A node that claimed, then lost Redis before storing or releasing (a failover).
    const stranded = a as unknown as { claimJti(jti: string, ttlMs: number): Promise<unknown> }
    const jti = `jti-${randomUUID()}`
    t.equal(await stranded.claimJti(jti, 300), null, 'claimed, never settled')
    await t.rejects(
      b.publish([message(room('stranded'), 'm')], { jti, ttlMs: 60_000 }),
      { code: 'RELAY_ERR_BROKER_UNAVAILABLE' },
      'the retry is told to retry, not that the message was published',
    )
    await new Promise((resolve) => setTimeout(resolve, 400))
    const retried = await b.publish([message(room('stranded'), 'm')], { jti, ttlMs: 60_000 })
    t.equal(retried.duplicate, false, 'once the in-flight claim lapses, the retry publishes')
    t.equal(retried.stored.length, 1)
  })

  t.test('a subscriber connection that dropped is caught up from history', async (t) => {
    const { room, node } = cluster(t)
    const a = await node()
    const b = await node()
    const r = room('dropped')
    const got: string[] = []
    await a.subscribe(r, (m) => got.push(`${m.offset}:${m.cmd}`))
    await b.publish([message(r, 'm1')])
    await until('m1 live', () => got.length === 1)
    // Kill every pub/sub connection; node a reconnects, node b publishes meanwhile.
    await inspector(t).call('CLIENT', 'KILL', 'TYPE', 'pubsub')
    await b.publish([message(r, 'm2'), message(r, 'm3')])
    await until('a is ready again', () => a.ready)
    await until('m2 and m3 arrive', () => got.length === 3)
    t.same(got, ['1:m1', '2:m2', '3:m3'], 'missed messages delivered from history, in order')
    await b.publish([message(r, 'm4')])
    await until('m4 live', () => got.length === 4)
    t.equal(got[3], '4:m4', 'the channel is subscribed again')
  })

  t.test('Redis down: not ready, commands fail fast, nothing crashes; back: ready', async (t) => {
    const { room, node } = cluster(t)
    const a = await node()
    const b = await node()
    const r = room('outage')
    const got: string[] = []
    await a.subscribe(r, (m) => got.push(`${m.epoch}:${m.offset}`))
    await b.publish([message(r, 'before')])
    await until('the message before the outage', () => got.length === 1)

    await redis.kill()
    await until('both nodes not ready', () => !a.ready && !b.ready)
    const started = Date.now()
    await t.rejects(b.publish([message(r, 'during')]), { code: 'RELAY_ERR_BROKER_UNAVAILABLE' })
    await t.rejects(a.history(r), { code: 'RELAY_ERR_BROKER_UNAVAILABLE' })
    await t.rejects(a.publish([message(r, 'j')], { jti: 'j', ttlMs: 1000 }), {
      code: 'RELAY_ERR_BROKER_UNAVAILABLE',
    })
    await t.rejects(
      a.subscribe(room('new'), () => undefined),
      {
        code: 'RELAY_ERR_BROKER_UNAVAILABLE',
      },
    )
    t.ok(Date.now() - started < 1000, 'failing is immediate, nothing waits for Redis')
    t.same(await a.presence.others(r), { count: 0, members: [] }, 'presence reads never reject')

    await redis.restart()
    await until('both nodes ready again', () => a.ready && b.ready)
    const fresh = await firstStored(b, [message(r, 'after')])
    t.not(fresh.epoch, got[0]!.split(':')[0], 'an empty Redis: a new epoch')
    await until('the message after the outage reaches node a', () => got.length === 2)
    t.equal(got[1], `${fresh.epoch}:1`, 're-subscribed: live again')
  })

  t.test('unreachable at start: whenReady rejects with a clear message', async (t) => {
    const port = redis.port + 1 === 65536 ? redis.port - 1 : redis.port + 1
    const broker = new RedisBroker({
      url: `redis://:s3cret@127.0.0.1:${port}`,
      keyPrefix: 'x:',
      historySize: 10,
      historyTtlMs: 1000,
      connectTimeoutMs: 300,
    })
    t.teardown(() => broker.close())
    const err = await broker.whenReady(500).then(
      () => null,
      (e: unknown) => e as Error,
    )
    t.match(
      err?.message,
      /^Redis at redis:\/\/:\*\*\*@127\.0\.0\.1:\d+\/? is unreachable after 500 ms: /,
    )
    t.notMatch(err?.message, /s3cret/, 'the password is not shown')
    t.equal(broker.ready, false)
    t.equal(redactUrl('redis://user:pw@host:1/2'), 'redis://user:***@host:1/2')
  })

  t.test('presence across nodes', async (t) => {
    const { keyPrefix, room, node } = cluster(t, { presenceHeartbeatMs: 100, presenceStaleMs: 400 })
    const a = await node()
    const b = await node()
    const r = room('presence')
    const changes: [PresenceChange, number][] = []
    const listener = (c: PresenceChange, n: number) => changes.push([c, n])
    await b.subscribe(r, () => undefined)
    b.presence.watch(r, listener)
    t.same(await b.presence.others(r), { count: 0, members: [] }, 'nobody elsewhere yet')

    await a.subscribe(r, () => undefined)
    const alice = { user_id: 101, uuid: 'tab-a' }
    a.presence.share(r, { count: 1, members: [alice] }, { event: 'join', member: alice })
    await until('the join reaches node b', () => changes.length === 1)
    t.same(changes[0], [{ event: 'join', member: alice }, 1])
    t.same(await b.presence.others(r), { count: 1, members: [alice] })

    // A share over presence_max_members carries the count only.
    a.presence.share(r, { count: 300, members: null }, null)
    await until('the count', async () => (await b.presence.others(r)).count === 300)
    t.same(await b.presence.others(r), { count: 300, members: null }, 'no list: bounded')
    a.presence.share(r, { count: 0, members: [] }, { event: 'leave', member: alice })
    await until('the leave reaches node b', () => changes.some(([c]) => c.event === 'leave'))
    t.same(changes.at(-1), [{ event: 'leave', member: alice }, 0])
    t.same(await b.presence.others(r), { count: 0, members: [] }, 'node a left')

    // A node that dies without cleaning up: its entry stops being refreshed and expires.
    changes.length = 0
    const ghost = { user_id: 7, uuid: 'ghost' }
    const [seconds, micros] = await inspector(t).time()
    const now = Number(seconds) * 1000 + Math.floor(Number(micros) / 1000)
    await inspector(t).hset(
      `${keyPrefix}presence:${r}`,
      'dead-node',
      `${now}|1|${JSON.stringify({ count: 1, members: [[7, 'ghost']] })}`,
    )
    await until('the dead node is seen', async () => (await b.presence.others(r)).count === 1)
    await until('and expires', () => changes.some(([c]) => c.event === 'leave'))
    t.same(changes.at(-1), [{ event: 'leave', member: ghost }, 0], 'its member leaves')
    t.same(await b.presence.others(r), { count: 0, members: [] })
  })
}

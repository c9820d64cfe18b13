/**
 * Several nodes end to end: two relay processes (`node dist/src/main.js`, TLS on loopback) on one
 * redis-server of this test. Publish on one node reaches the other's subscribers by their
 * rights; a client moving between nodes resumes with `since`; Redis killed and restarted;
 * a node killed. Every wait is bounded. Needs `npm run build` (npm test runs it).
 */
import { randomUUID } from 'node:crypto'
import t, { type Test } from 'tap'
import { dropToNobody, testConfigFile } from '../helpers/config.js'
import { requireBuild, spawnRelay, WAIT_MS } from '../helpers/process.js'
import { startRedis, type TestRedis } from '../helpers/redis.js'
import { positionIn, subscribeNew } from '../helpers/relay.js'
import { allReady, startRelayNode, type RelayNode } from '../helpers/relay-node.js'
import { kanbanRights, subscriberToken } from '../helpers/tokens.js'
import { until as waitUntil } from '../helpers/wait.js'

const until = (what: string, check: () => Promise<boolean>): Promise<void> =>
  waitUntil(what, check, { timeoutMs: WAIT_MS, intervalMs: 50 })

/** A relay node on `redis` under `keyPrefix` (a scenario's own), with `broker` merged. */
const startNode = (
  t: Test,
  redis: TestRedis,
  keyPrefix = `multi-${randomUUID()}:`,
  broker: Record<string, unknown> = {},
): Promise<RelayNode> => startRelayNode(t, { url: redis.url, key_prefix: keyPrefix, ...broker })

/** Two nodes on `redis` sharing a fresh key prefix. */
function twoNodes(t: Test, redis: TestRedis): Promise<[RelayNode, RelayNode]> {
  const keyPrefix = `multi-${randomUUID()}:`
  return Promise.all([startNode(t, redis, keyPrefix), startNode(t, redis, keyPrefix)])
}

// The file's own bound (tap's default is package.json's 180 s): six scenarios each start
// relay processes and Redis, every wait bounded by WAIT_MS.
t.setTimeout(300_000)

const redis = await startRedis(t)
if (redis && requireBuild(t)) {
  const ROOM = '42'
  const viewer = (userId: number, groups: string[]) => subscriberToken(userId, groups)

  t.test('a publish on node A reaches node B’s subscribers by their rights', async (t) => {
    const [a, b] = await twoNodes(t, redis)
    const onA = await a.connect()
    const allowed = await b.connect()
    const refused = await b.connect()
    const first = await onA.subscribe({
      room_id: ROOM,
      token: viewer(1, ['@site_active']),
      uuid: 'on-a',
      presence: true,
    })
    t.match(first, { type: 'subscribed', offset: 0, presence_count: 1 })
    const answer = await allowed.subscribe({
      room_id: ROOM,
      token: viewer(2, ['@site_active']),
      uuid: 'allowed',
      presence: true,
    })
    t.match(answer, { type: 'subscribed', epoch: first.epoch, presence_count: 2 }, 'one room')
    t.same(
      (answer.presence as { uuid: string }[]).map((p) => p.uuid).sort(),
      ['allowed', 'on-a'],
      'the presence list spans both nodes',
    )
    t.match(await onA.next(WAIT_MS), { type: 'presence', event: 'join', uuid: 'allowed' })
    t.match(
      await refused.subscribe({ room_id: ROOM, token: viewer(3, ['@other']), uuid: 'refused' }),
      { type: 'subscribed', presence_count: 3 },
    )
    t.match(await onA.next(WAIT_MS), { event: 'join', uuid: 'refused' }, 'node B’s joins reach A')

    const published = await a.publish({
      message: { room_id: ROOM, cmd: 'kanban_item:move', data: { id: 7 }, rights: kanbanRights() },
    })
    t.match(published, { status: 200, body: { accepted: [{ room_id: ROOM, offset: 1 }] } })
    const expected = { type: 'message', room_id: ROOM, offset: 1, cmd: 'kanban_item:move' }
    t.match(
      await allowed.nextExcept('presence', WAIT_MS),
      { ...expected, data: { id: 7 } },
      'node B delivers',
    )
    t.match(await onA.next(WAIT_MS), expected, 'node A too')
    t.ok(await refused.silentFor(300), 'not to a subscriber whose rights do not allow it')

    refused.close()
    t.match(await onA.next(WAIT_MS), { event: 'leave', uuid: 'refused' }, 'leaves cross too')
  })

  t.test('a client moved from node A to node B resumes with since, without loss', async (t) => {
    const [a, b] = await twoNodes(t, redis)
    const token = viewer(5, ['@site_active'])
    const first = await a.connect()
    const sub = await first.subscribe({ room_id: ROOM, token, uuid: 'mover' })
    await a.publish({ message: { room_id: ROOM, cmd: 'm1' } })
    const m1 = await first.next(WAIT_MS)
    t.match(m1, { type: 'message', offset: 1, cmd: 'm1', epoch: sub.epoch })
    first.close()
    await first.closed
    await a.publish({
      messages: [
        { room_id: ROOM, cmd: 'm2' },
        { room_id: ROOM, cmd: 'm3' },
      ],
    })

    const moved = await b.connect()
    t.match(
      await moved.subscribe({ room_id: ROOM, token, uuid: 'mover', since: positionIn(m1, 1) }),
      {
        type: 'subscribed',
        epoch: m1.epoch,
        offset: 3,
        recovered: true,
      },
    )
    t.match(await moved.next(WAIT_MS), { type: 'message', offset: 2, cmd: 'm2' })
    t.match(await moved.next(WAIT_MS), { type: 'message', offset: 3, cmd: 'm3' })
    await a.publish({ message: { room_id: ROOM, cmd: 'm4' } })
    t.match(await moved.next(WAIT_MS), { type: 'message', offset: 4, cmd: 'm4' }, 'then live')
  })

  t.test('Redis killed and restarted: 503 and not ready meanwhile, clients kept', async (t) => {
    const [a, b] = await twoNodes(t, redis)
    const token = viewer(6, ['@site_active'])
    const onA = await a.connect()
    const onB = await b.connect()
    await onA.subscribe({ room_id: ROOM, token, uuid: 'a' })
    const subscribed = await onB.subscribe({ room_id: ROOM, token, uuid: 'b' })
    await a.publish({ message: { room_id: ROOM, cmd: 'before' } })
    t.match(await onB.next(WAIT_MS), { cmd: 'before', offset: 1, epoch: subscribed.epoch })
    t.match(await onA.next(WAIT_MS), { cmd: 'before', offset: 1 })
    t.match(await a.health(), { status: 200, body: { ready: true } })

    await redis.kill()
    await until('node A answers 503', async () => {
      const answer = await a.publish({ message: { room_id: ROOM, cmd: 'lost' } })
      return answer.status === 503
    })
    t.match(
      await b.publish({ message: { room_id: ROOM, cmd: 'lost' } }),
      { status: 503, body: { error: 'RELAY_ERR_BROKER_UNAVAILABLE' } },
      'publish answers 503 on every node',
    )
    t.match(await a.health(), { status: 503, body: { ready: false, live: true } })
    t.match(await b.health(), { status: 503, body: { ready: false, live: true } })
    onA.send({ type: 'ping' })
    onB.send({ type: 'ping' })
    t.same(await onA.next(WAIT_MS), { type: 'pong' }, 'node A keeps its WebSocket clients')
    t.same(await onB.next(WAIT_MS), { type: 'pong' }, 'node B too')

    await redis.restart()
    await allReady([a, b], 'both nodes ready again')
    // This Redis keeps nothing on disk: it came back empty, so each room's history starts
    // afresh with a new epoch. docs/protocol.md §6: the clients are told (resync), not fooled.
    const after = await b.publish({ message: { room_id: ROOM, cmd: 'after' } })
    t.equal(after.status, 200)
    const accepted = (after.body.accepted as { epoch: string; offset: number }[])[0]!
    t.not(accepted.epoch, subscribed.epoch, 'a new epoch')
    t.equal(accepted.offset, 1, 'from offset 1')
    for (const client of [onA, onB]) {
      // Resync at the start of the new epoch, then what it holds: nothing is skipped.
      t.same(await client.next(WAIT_MS), {
        type: 'resync',
        room_id: ROOM,
        epoch: accepted.epoch,
        offset: 0,
      })
      t.match(await client.next(WAIT_MS), { cmd: 'after', epoch: accepted.epoch, offset: 1 })
    }
    await a.publish({ message: { room_id: ROOM, cmd: 'live' } })
    for (const client of [onA, onB]) {
      t.match(await client.next(WAIT_MS), { cmd: 'live', epoch: accepted.epoch, offset: 2 })
    }
    for (const node of [a, b]) {
      t.match(node.output(), /"level":"warn"[^\n]*"msg":"Redis unreachable: broker not ready/)
      t.match(node.output(), /"msg":"Redis reachable: broker ready"/)
      t.notMatch(node.output(), /unhandled rejection|uncaught exception/, 'nothing crashed')
      t.equal(node.child.exitCode, null, 'still running')
    }
    t.match(
      await subscribeNew(a, {
        room_id: ROOM,
        token,
        uuid: 'late',
        since: positionIn(subscribed, 1),
      }),
      { type: 'subscribed', epoch: accepted.epoch, offset: 2, recovered: false },
      'a client resuming from before the loss is told it was not recovered',
    )
  })

  t.test('Redis back from an older snapshot: fenced, no (epoch, offset) reused', async (t) => {
    const [a, b] = await twoNodes(t, redis)
    const token = viewer(9, ['@site_active'])
    const onB = await b.connect()
    const subscribed = await onB.subscribe({ room_id: ROOM, token, uuid: 'b' })
    const acknowledged = new Map<string, string>()
    const publish = async (n: number): Promise<{ epoch: string; offset: number }> => {
      const answer = await a.publish({ message: { room_id: ROOM, cmd: `m${n}` } })
      t.equal(answer.status, 200, `m${n} answered 200`)
      const [at] = answer.body.accepted as { epoch: string; offset: number }[]
      const key = `${at!.epoch}/${at!.offset}`
      t.notOk(acknowledged.has(key), `m${n}: (epoch, offset) ${key} not given before`)
      acknowledged.set(key, `m${n}`)
      return at!
    }
    for (let n = 1; n <= 6; n++) {
      await publish(n)
      t.match(await onB.next(WAIT_MS), { cmd: `m${n}`, epoch: subscribed.epoch, offset: n })
      if (n === 3) await redis.snapshot()
    }

    await redis.kill()
    await redis.restart()
    await allReady([a, b], 'both nodes ready again')
    const after = [await publish(7), await publish(8), await publish(9)]
    const epoch = after[0]!.epoch
    t.not(epoch, subscribed.epoch, 'a new epoch')
    t.same(
      after.map((at) => at.offset),
      [1, 2, 3],
    )
    t.same(await onB.next(WAIT_MS), { type: 'resync', room_id: ROOM, epoch, offset: 0 })
    for (let n = 7; n <= 9; n++) {
      t.match(await onB.next(WAIT_MS), { type: 'message', cmd: `m${n}`, epoch, offset: n - 6 })
    }
    t.ok(await onB.silentFor(300), 'nothing else')
    t.match(
      await subscribeNew(a, {
        room_id: ROOM,
        token,
        uuid: 'page',
        since: positionIn(subscribed, 6),
      }),
      { type: 'subscribed', epoch, offset: 3, recovered: false },
      'a resume from the lost state is not recovered',
    )
    for (const node of [a, b]) {
      t.match(node.output(), /"msg":"Redis came back as another server/)
    }
  })

  t.test('a node killed with SIGKILL: its clients resume on the other node', async (t) => {
    const [a, b] = await twoNodes(t, redis)
    const token = viewer(8, ['@site_active'])
    const onA = await a.connect()
    await onA.subscribe({ room_id: ROOM, token, uuid: 'survivor' })
    await b.publish({ message: { room_id: ROOM, cmd: 'm1' } })
    const m1 = await onA.next(WAIT_MS)
    t.match(m1, { type: 'message', offset: 1 })

    await a.kill()
    const closed = await Promise.race([
      onA.closed,
      new Promise<null>((resolve) => setTimeout(() => resolve(null), WAIT_MS)),
    ])
    t.ok(closed, 'the client sees its connection drop')
    await b.publish({ message: { room_id: ROOM, cmd: 'm2' } })

    const resumed = await b.connect()
    t.match(
      await resumed.subscribe({ room_id: ROOM, token, uuid: 'survivor', since: positionIn(m1, 1) }),
      { type: 'subscribed', recovered: true, offset: 2 },
    )
    t.match(await resumed.next(WAIT_MS), { type: 'message', offset: 2, cmd: 'm2' })
    t.match(await b.health(), { status: 200, body: { ready: true } }, 'node B unaffected')
  })

  t.test('Redis unreachable at start: a clear error and exit 1', async (t) => {
    const file = testConfigFile(t, {
      port: 0,
      ...dropToNobody,
      broker: {
        type: 'redis',
        url: `redis://:hunter2@127.0.0.1:${redis.port}`,
        connect_timeout_ms: 500,
      },
    })
    await redis.kill()
    t.teardown(() => (redis.running ? undefined : redis.restart()))
    const relay = spawnRelay(t, [`--config=${file}`])
    const { code } = await relay.exited()
    const stderr = relay.stderr()
    t.equal(code, 1, 'exit 1')
    t.match(
      stderr,
      /broker error: broker\.url: Redis at redis:\/\/:\*\*\*@127\.0\.0\.1:\d+\/? is unreachable/,
    )
    t.match(stderr, /broker\.wait_for_redis/, 'says how to start without Redis')
    t.notMatch(stderr, /hunter2/, 'never shows the password')
  })

  t.test('broker.wait_for_redis: starts without Redis, ready once it answers', async (t) => {
    await redis.kill()
    t.teardown(() => (redis.running ? undefined : redis.restart()))
    const node = await startNode(t, redis, undefined, {
      wait_for_redis: true,
      connect_timeout_ms: 500,
    })
    t.match(await node.health(), { status: 503, body: { ready: false, live: true } })
    t.match(await node.publish({ message: { room_id: '1', cmd: 'early' } }), {
      status: 503,
      body: { error: 'RELAY_ERR_BROKER_UNAVAILABLE' },
    })
    await redis.restart()
    await allReady([node], 'ready once Redis answers')
    t.match(await node.publish({ message: { room_id: '1', cmd: 'late' } }), {
      status: 200,
      body: { accepted: [{ room_id: '1', offset: 1 }] },
    })
  })
}

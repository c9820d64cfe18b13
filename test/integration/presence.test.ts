/** docs/protocol.md §7 over the real server, and no leftovers once everyone is gone. */
import t from 'tap'
import { MemoryBroker } from '../../src/broker/memory-broker.js'
import { startRelay, type TestClient } from '../helpers/relay.js'
import { subscriberToken } from '../helpers/tokens.js'

const ROOM = '42'

/** Subscribe `client` as user `userId` of @a to ROOM, asking for the presence list. */
const withPresence = (client: TestClient, userId: number, uuid: string) =>
  client.subscribe({ room_id: ROOM, token: subscriberToken(userId, ['@a']), uuid, presence: true })

t.test('presence is opt-in: list and join/leave only for those who ask', async (t) => {
  const relay = await startRelay(t)
  const watcher = await relay.connect()
  t.same(await withPresence(watcher, 101, 'w'), {
    type: 'subscribed',
    room_id: ROOM,
    epoch: (await relay.app.relay.broker.history(ROOM)).epoch,
    offset: 0,
    presence_count: 1,
    presence: [{ user_id: 101, uuid: 'w' }],
  })
  const quiet = await relay.connect()
  const answer = await quiet.subscribe({
    room_id: ROOM,
    token: subscriberToken(102, ['@a']),
    uuid: 'q',
  })
  t.equal(answer.presence_count, 2)
  t.notOk('presence' in answer, 'no list unless asked')
  t.same(await watcher.next(), {
    type: 'presence',
    room_id: ROOM,
    event: 'join',
    user_id: 102,
    uuid: 'q',
  })

  const second = await relay.connect()
  const list = await withPresence(second, 103, 's')
  t.same(
    (list.presence as { user_id: number }[]).map((p) => p.user_id).sort(),
    [101, 102, 103],
    'every member, the subscriber included',
  )
  t.match(await watcher.next(), { event: 'join', user_id: 103 })
  quiet.close()
  t.same(await watcher.next(), {
    type: 'presence',
    room_id: ROOM,
    event: 'leave',
    user_id: 102,
    uuid: 'q',
  })
  t.match(await second.next(), { event: 'leave', user_id: 102 })
})

t.test('rooms larger than presence_max_members: count only, no join/leave', async (t) => {
  const relay = await startRelay(t, { presence_max_members: 2 })
  const watcher = await relay.connect()
  await withPresence(watcher, 1, 'a')
  const b = await relay.connect()
  await b.subscribe({ room_id: ROOM, token: subscriberToken(2, ['@a']), uuid: 'b' })
  t.match(await watcher.next(), { event: 'join', user_id: 2 })
  const c = await relay.connect()
  const answer = await withPresence(c, 3, 'c')
  t.equal(answer.presence_count, 3)
  t.notOk('presence' in answer, 'no list in a room over the limit')
  t.ok(await watcher.silentFor(150), 'no join frame in a room over the limit')
})

t.test('nothing is left behind once connections are gone and history expired', async (t) => {
  let now = Date.now()
  const broker = new MemoryBroker({ historySize: 10, historyTtlMs: 1000, now: () => now })
  const relay = await startRelay(t, {}, { broker })
  const clients = []
  for (let i = 0; i < 5; i++) {
    const c = await relay.connect()
    await c.subscribe({
      room_id: `room-${i % 2}`,
      token: subscriberToken(i, ['@a']),
      uuid: `u${i}`,
      presence: true,
    })
    clients.push(c)
  }
  await relay.publish({
    jti: 'j1',
    messages: [
      { room_id: 'room-0', cmd: 'x' },
      { room_id: 'room-1', cmd: 'y' },
    ],
  })
  t.same(relay.app.relay.hub.stats(), { rooms: 2, members: 5 })
  for (const c of clients) {
    c.close()
    await c.closed
  }
  await new Promise((resolve) => setTimeout(resolve, 50))
  t.same(
    relay.app.relay.hub.stats(),
    { rooms: 0, members: 0 },
    'the hub forgets rooms and members at once',
  )
  t.equal(relay.app.relay.connections.size, 0)
  broker.sweep()
  t.equal(broker.stats().rooms, 2, 'history is kept a while after the last member left')
  now += 5 * 60 * 1000 + 1
  broker.sweep()
  t.same(broker.stats(), { rooms: 0, jtis: 0 }, 'and forgotten once expired')
})

/**
 * Two relays in this process on one redis-server of this test: pages on the websocket
 * transport (polling needs sticky sessions behind a load balancer) receive what is
 * published on the other node, and Test Management presence follows across nodes.
 */
import t from 'tap'
import { startRedis } from '../helpers/redis.js'
import { startRelay, type TestRelay } from '../helpers/relay.js'
import { kanbanRights, subscriberToken } from '../helpers/tokens.js'
import { sleep } from '../helpers/wait.js'
import { hubMembers, page, publishUnsigned, subscription } from './pages.js'

async function members(relay: TestRelay, n: number): Promise<void> {
  await hubMembers(relay, n)
  // A Kanban page gets no answer to its subscription: give the Redis subscribe its turn.
  await sleep(300)
}

void t.test('two nodes on Redis: Kanban and Test Management pages', async (t) => {
  const redis = await startRedis(t)
  if (!redis) return
  const values = {
    allow_unsigned_loopback_publish: true,
    broker: { type: 'redis', url: redis.url, key_prefix: `sio-${process.pid}:` },
  }
  const a = await startRelay(t, values)
  const b = await startRelay(t, values)
  const ws = ['websocket']

  const kanban = page(t, b, { transports: ws })
  kanban.socket.emit('subscription', subscription(42, subscriberToken(1, ['@site_active']), 'k'))
  await members(b, 1)
  await publishUnsigned(a, {
    sender_user_id: 9,
    sender_uuid: null,
    room_id: 42,
    rights: kanbanRights(),
    cmd: 'kanban_item:move',
    data: { artifact_id: 3 },
  })
  t.same(await kanban.next('kanban_item:move', 10_000), { artifact_id: 3 }, 'A → page on B')

  const onA = page(t, a, { nsp: '/testmanagement', transports: ws })
  const onB = page(t, b, { nsp: '/testmanagement', transports: ws })
  onA.socket.emit(
    'subscription',
    subscription('testmanagement_1', subscriberToken(1, ['@site_active']), 'ua'),
  )
  t.same(await onA.next('presences', 10_000), {})
  onB.socket.emit(
    'subscription',
    subscription('testmanagement_1', subscriberToken(2, ['@site_active']), 'ub'),
  )
  t.same(await onB.next('presences', 10_000), {})
  await publishUnsigned(a, {
    sender_user_id: 1,
    sender_uuid: 'ua',
    room_id: 'testmanagement_1',
    rights: kanbanRights(),
    cmd: 'testmanagement_user:presence',
    data: { presence: { execution_id: 5, uuid: 'ua', remove_from: '', user: { id: 1 } } },
  })
  t.same(
    await onB.next('testmanagement_user:presence', 10_000),
    {
      user: { id: 1, uuid: 'ua' },
      execution_to_add: 5,
      execution_presences_to_add: [{ id: 1, uuid: 'ua' }],
    },
    'rewritten on B as on A',
  )
  onA.socket.close()
  t.equal(await onB.next('user:leave', 10_000), 'ua', 'a page leaving A is seen on B')
})

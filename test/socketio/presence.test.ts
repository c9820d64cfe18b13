/**
 * Presence and connection counts cover both protocols (docs/tuleap.md: "presence counts
 * both"): a room with `/ws` subscribers and socket.io pages, as `subscribed`, the presence
 * frames, Test Management's `user:leave`, /health and the /metrics gauges see it.
 */
import t from 'tap'
import { io as io475 } from 'socket.io-client-4.7.5'
import { startRelay, type TestRelay } from '../helpers/relay.js'
import { subscriberToken } from '../helpers/tokens.js'
import { until } from '../helpers/wait.js'
import { page, subscription, type Io } from './pages.js'

/** The value of one sample line (`name value`) of a /metrics answer. */
function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `))
  return line === undefined ? undefined : Number(line.slice(series.length + 1))
}

/** What /health and /metrics count now. */
async function counts(relay: TestRelay): Promise<{ health: unknown; gauge: unknown }> {
  const health = (await relay.request('GET', '/health')).body
  const metrics = (await relay.request('GET', '/metrics')).text
  return {
    health: health.connections,
    gauge: sample(metrics, 'tuleap_realtime_connections'),
  }
}

const members = (relay: TestRelay, n: number): Promise<void> =>
  until(`${n} member(s) in the hub`, () => relay.app.relay.hub.stats().members === n)

void t.test('one room, /ws and socket.io: presence and counts include both', async (t) => {
  const relay = await startRelay(t, { metrics: true })
  const kanban = page(t, relay, { transports: ['websocket'] })
  kanban.socket.emit('subscription', subscription(42, subscriberToken(1, ['@a']), 'page-a'))
  await members(relay, 1)

  const ws = await relay.connect()
  const sub = await ws.subscribe({
    room_id: '42',
    token: subscriberToken(2, ['@a']),
    uuid: 'ws',
    presence: true,
  })
  t.match(sub, { type: 'subscribed', presence_count: 2 }, 'the page is counted')
  const listed = [...(sub.presence as { uuid: string }[])].sort((a, b) =>
    a.uuid.localeCompare(b.uuid),
  )
  t.same(
    listed,
    [
      { user_id: 1, uuid: 'page-a' },
      { user_id: 2, uuid: 'ws' },
    ],
    'and listed',
  )

  // A second page, polling first (Tuleap's pinned client): its join reaches /ws.
  const polling = page(t, relay, { io: io475 as unknown as Io })
  polling.socket.emit('subscription', subscription(42, subscriberToken(3, ['@a']), 'page-b'))
  t.same(await ws.next(), {
    type: 'presence',
    room_id: '42',
    event: 'join',
    user_id: 3,
    uuid: 'page-b',
  })
  t.same(await counts(relay), { health: 3, gauge: 3 }, '/health and the gauge: 1 /ws + 2 pages')

  polling.socket.close()
  t.same(await ws.next(), {
    type: 'presence',
    room_id: '42',
    event: 'leave',
    user_id: 3,
    uuid: 'page-b',
  })
  await until('the page’s connection counted out', async () => {
    const now = await counts(relay)
    return now.health === 2 && now.gauge === 2
  })
  t.pass('a page that went is counted out')
})

void t.test(
  'a /ws subscriber leaving a campaign: Test Management pages get user:leave',
  async (t) => {
    const relay = await startRelay(t)
    const tm = page(t, relay, { nsp: '/testmanagement', transports: ['websocket'] })
    tm.socket.emit(
      'subscription',
      subscription('testmanagement_5', subscriberToken(1, ['@a']), 'page'),
    )
    t.same(await tm.next('presences'), {})
    const ws = await relay.connect()
    const sub = await ws.subscribe({
      room_id: 'testmanagement_5',
      token: subscriberToken(2, ['@a']),
      uuid: 'ws',
    })
    t.match(sub, { type: 'subscribed', presence_count: 2 })
    ws.close()
    t.equal(await tm.next('user:leave'), 'ws')
  },
)

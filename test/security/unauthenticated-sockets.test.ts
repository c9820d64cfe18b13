/**
 * Unauthenticated WebSockets are bounded per client address
 * (`max_unauthenticated_per_address`): one address cannot fill `max_connections` with
 * sockets that never subscribe, on /ws or on socket.io, and a subscribe or a close gives
 * the place back.
 */
import t from 'tap'
import { io, type Socket as ClientSocket } from 'socket.io-client'
import { testCert } from '../helpers/certs.js'
import { startRelay, type TestClient } from '../helpers/relay.js'
import { subscriberToken } from '../helpers/tokens.js'
import { until, within } from '../helpers/wait.js'
import { subscription } from '../socketio/pages.js'

const token = subscriberToken(101, ['@site_active'])

t.test('/ws: the next unsubscribed socket of the address is closed with 4008', async (t) => {
  const relay = await startRelay(t, { max_unauthenticated_per_address: 3 })
  const held: TestClient[] = []
  for (let i = 0; i < 3; i++) held.push(await relay.connect())
  const refused = relay.open()
  const closed = await within(refused.closed, 5000, 'the fourth is closed')
  t.equal(closed.code, 4008)
  t.equal(refused.frames.length, 0, 'closed before hello')

  const subscribed = await held[0]!.subscribe({ room_id: '42', token })
  t.equal(subscribed.type, 'subscribed')
  const afterSubscribe = await relay.connect()
  t.ok(afterSubscribe, 'a subscribe gives its place back')

  held[1]!.close()
  await held[1]!.closed
  await until('the close is seen', () => relay.app.relay.connections.size === 3)
  t.ok(await relay.connect(), 'a close gives its place back')
  const again = relay.open()
  t.equal((await within(again.closed, 5000, 'refused again')).code, 4008, 'and no more')
})

t.test('/ws behind a trusted proxy: counted per real client address', async (t) => {
  const relay = await startRelay(t, {
    max_unauthenticated_per_address: 2,
    trusted_proxies: ['127.0.0.1'],
  })
  const from = (address: string): { headers: Record<string, string> } => ({
    headers: { 'x-forwarded-for': `${address}, 127.0.0.1` },
  })
  await relay.connect(from('192.0.2.1'))
  await relay.connect(from('192.0.2.1'))
  const third = relay.open(from('192.0.2.1'))
  t.equal((await within(third.closed, 5000, 'refused')).code, 4008, 'the same client: refused')
  t.ok(await relay.connect(from('192.0.2.2')), 'another client behind the same proxy: served')
})

t.test('socket.io shares the bound with /ws', async (t) => {
  const relay = await startRelay(t, { max_unauthenticated_per_address: 2 })
  const cert = testCert()
  const open = (transports = ['websocket']): ClientSocket => {
    const socket = io(relay.url, {
      path: '/local-socket.io',
      ca: cert.cert,
      reconnection: false,
      transports,
      forceNew: true,
    } as never)
    t.teardown(() => socket.close())
    return socket
  }
  const connected = (socket: ClientSocket): Promise<boolean> =>
    new Promise((resolve) => {
      socket.once('connect', () => {
        resolve(true)
      })
      socket.once('connect_error', () => {
        resolve(false)
      })
      socket.once('disconnect', () => {
        resolve(false)
      })
    })
  await relay.connect()
  const first = open()
  t.ok(await connected(first), 'one /ws and one socket.io socket: within the bound')
  const second = open()
  t.notOk(await within(connected(second), 5000, 'refused'), 'the third is refused')
  const polling = open(['polling'])
  t.notOk(await within(connected(polling), 5000, 'refused'), 'over long-polling too')

  first.emit('subscription', subscription(42, token, 'tab-a'))
  await until('subscribed', () => relay.app.relay.hub.stats().members === 1)
  const third = open()
  t.ok(await connected(third), 'a socket.io subscription gives its place back')
})

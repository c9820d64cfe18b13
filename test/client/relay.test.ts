/**
 * The client library against the real relay (TLS, port 0), with `ws` standing in for
 * the browser's WebSocket and real timers: the protocol as the server speaks it.
 */
import t from 'tap'
import { WebSocket } from 'ws'
import { RealtimeClient, type ConnectionState } from '../../src/client/index.js'
import { testCert } from '../helpers/certs.js'
import { startRelay } from '../helpers/relay.js'
import { kanbanRights, nowS, subscriberToken } from '../helpers/tokens.js'
import { until } from '../helpers/wait.js'

/** Poll `check` until it holds, or fail after `ms`. */

/** `ws` with the test CA, recording its sockets so that a test can cut one. */
function tlsWebSocket(sockets: WebSocket[]): new (url: string) => WebSocket {
  const ca = testCert().cert
  return class extends WebSocket {
    constructor(url: string) {
      super(url, { ca })
      sockets.push(this)
    }
  }
}

t.test(
  'live, then a lost connection: re-subscribed with since, nothing lost or doubled',
  async (t) => {
    const relay = await startRelay(t)
    const sockets: WebSocket[] = []
    const states: ConnectionState[] = []
    const got: string[] = []
    let subscribedCount = 0
    const client = new RealtimeClient({
      url: `wss://127.0.0.1:${relay.port}/ws`,
      getToken: () => subscriberToken(101, ['@site_active']),
      WebSocket: tlsWebSocket(sockets),
      backoff: { baseMs: 20, maxMs: 100 },
    })
    t.teardown(() => {
      client.close()
    })
    client.on('state', (s) => states.push(s))
    client.subscribe('42', {
      onMessage: (m) => got.push(m.cmd),
      onSubscribed: () => (subscribedCount += 1),
    })
    await until('subscribed', () => subscribedCount === 1)
    await relay.publish({ message: { room_id: '42', cmd: 'one' } })
    await until('the live message', () => got.length === 1)

    sockets[0]?.terminate()
    // The states seen, not the current one: with a 0–20 ms backoff the client may be open
    // again before a poll sees it reconnecting.
    await until('reconnecting', () => states.includes('reconnecting'))

    await relay.publish({
      messages: [
        { room_id: '42', cmd: 'two' },
        { room_id: '42', cmd: 'hidden', rights: kanbanRights({ tracker: ['@ug_secret'] }) },
        { room_id: '42', cmd: 'three' },
      ],
    })
    await until('the second subscribed', () => subscribedCount === 2)
    await until('the replay', () => got.length === 3)
    await relay.publish({ message: { room_id: '42', cmd: 'four' } })
    await until('live again', () => got.length === 4)
    t.same(got, ['one', 'two', 'three', 'four'])
    t.same(states, ['connecting', 'open', 'reconnecting', 'open'])
    t.equal(sockets.length, 2)
  },
)

t.test('a subscribe refused as expired is retried with a fresh token', async (t) => {
  const relay = await startRelay(t)
  const tokens = [
    subscriberToken(101, ['@site_active'], { exp: nowS() - 3600 }),
    subscriberToken(101, ['@site_active']),
  ]
  let calls = 0
  const got: string[] = []
  let subscribed = false
  const client = new RealtimeClient({
    url: `wss://127.0.0.1:${relay.port}/ws`,
    getToken: () => tokens[Math.min(calls++, 1)] ?? '',
    WebSocket: tlsWebSocket([]),
  })
  t.teardown(() => {
    client.close()
  })
  const errors: unknown[] = []
  client.on('error', (e) => errors.push(e))
  client.subscribe('42', {
    onMessage: (m) => got.push(m.cmd),
    onSubscribed: () => (subscribed = true),
  })
  await until('subscribed with the second token', () => subscribed)
  t.equal(calls, 2)
  await relay.publish({ message: { room_id: '42', cmd: 'one' } })
  await until('the message', () => got.length === 1)
  t.same(errors, [])
})

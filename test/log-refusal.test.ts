/**
 * Refusals are logged at info with the client's address and a reason code, through one
 * function; connections open and close at debug; and no token, key or signature ever
 * reaches the log, even at debug (docs/operations.md, "Logs").
 */
import t from 'tap'
import { logRefusal } from '../src/log-refusal.js'
import { TEST_KEY } from './helpers/config.js'
import { logSink } from './helpers/logs.js'
import { startRelay } from './helpers/relay.js'
import { nowS, publishToken, subscriberToken } from './helpers/tokens.js'
import { page, subscription } from './socketio/pages.js'
import { until } from './helpers/wait.js'

const OTHER_KEY = 'another-key-that-is-not-the-relay-key-0123456789abcdef0123456789abcdef'

t.test('logRefusal: one info line, bounded detail', async (t) => {
  const { logger, lines } = logSink('info')
  logRefusal(logger, {
    address: '192.0.2.1',
    reason: 'RELAY_ERR_AUTH_INVALID',
    endpoint: 'publish',
  })
  logRefusal(logger, {
    address: '192.0.2.2',
    reason: 'BadRequest',
    endpoint: 'ws',
    detail: 'x'.repeat(500),
    room_id: '42',
  })
  t.match(lines, [
    {
      level: 'info',
      msg: 'refused',
      address: '192.0.2.1',
      reason: 'RELAY_ERR_AUTH_INVALID',
      endpoint: 'publish',
    },
    { level: 'info', msg: 'refused', address: '192.0.2.2', reason: 'BadRequest', room_id: '42' },
  ])
  t.equal((lines[1]?.detail as string).length, 201, 'detail cut at 200 characters and an ellipsis')
  t.notOk('detail' in (lines[0] ?? {}), 'no detail key when none is given')
})

t.test('refusals of every door are logged; no secret ever is', async (t) => {
  const { logger, lines, text } = logSink('debug')
  const relay = await startRelay(t, { log_level: 'debug' }, { logger })
  const refusals = () => lines.filter((l) => l.msg === 'refused')

  // Secrets the clients send: none may appear in the log, whole or in part.
  const wrongKey = subscriberToken(5, ['@site_active'], {}, OTHER_KEY)
  const expired = subscriberToken(5, ['@site_active'], { exp: nowS() - 3600 })
  const badSignature = `${subscriberToken(5, ['@site_active']).slice(0, -8)}AAAAAAAA`
  const publishWrongKey = publishToken({ message: { room_id: '1', cmd: 'x' } }, OTHER_KEY)
  const publishExpired = publishToken({ message: { room_id: '1', cmd: 'x' }, exp: nowS() - 60 })
  const secrets = [wrongKey, expired, badSignature, publishWrongKey, publishExpired]

  // /ws: a connection, three refused subscribes, a close.
  const client = await relay.connect()
  for (const token of [wrongKey, expired, badSignature]) {
    const answer = await client.subscribe({ room_id: '7', token })
    t.equal(answer.type, 'error')
  }
  client.close()
  await client.closed
  // POST /message: wrong key, expired.
  t.equal((await relay.post(publishWrongKey)).status, 401)
  t.equal((await relay.post(publishExpired)).status, 401)
  // socket.io: a page subscribing with a token of another key is disconnected.
  const sio = page(t, relay)
  sio.socket.emit('subscription', subscription(7, wrongKey, 'uuid-1'))
  await sio.next('disconnect')

  // The third /ws refusal repeats the first's address, door and reason within the minute:
  // the summariser counts it instead of writing it (src/log-summary.ts).
  await until('every refusal logged', () => refusals().length >= 5, {
    timeoutMs: 5000,
    intervalMs: 20,
  })
  t.match(refusals(), [
    {
      level: 'info',
      endpoint: 'ws',
      address: '127.0.0.1',
      reason: 'RELAY_ERR_AUTH_INVALID',
      room_id: '7',
    },
    { level: 'info', endpoint: 'ws', address: '127.0.0.1', reason: 'RELAY_ERR_AUTH_EXPIRED' },
    { level: 'info', endpoint: 'publish', address: '127.0.0.1', reason: 'RELAY_ERR_AUTH_INVALID' },
    { level: 'info', endpoint: 'publish', address: '127.0.0.1', reason: 'RELAY_ERR_AUTH_EXPIRED' },
    {
      level: 'info',
      endpoint: 'socket.io',
      address: '127.0.0.1',
      reason: 'RELAY_ERR_AUTH_INVALID',
    },
  ])
  await until(
    'the /ws close logged',
    () => lines.some((l) => l.msg === 'connection closed' && l.conn !== undefined),
    { timeoutMs: 5000, intervalMs: 20 },
  )
  t.match(
    lines.filter((l) => l.msg === 'connection opened' || l.msg === 'connection closed'),
    [
      { level: 'debug', msg: 'connection opened', address: '127.0.0.1' },
      { level: 'debug', msg: 'connection closed', address: '127.0.0.1' },
      { level: 'debug', msg: 'connection opened', address: '127.0.0.1', nsp: '/' },
    ],
  )

  const log = text()
  for (const secret of secrets) {
    const [header = '', payload = '', signature = ''] = secret.split('.')
    t.notOk(log.includes(payload), 'no token payload in the log')
    t.notOk(log.includes(signature), 'no signature in the log')
    t.notOk(log.includes(`${header}.${payload}`), 'no token in the log')
  }
  for (const key of [TEST_KEY, OTHER_KEY]) t.notOk(log.includes(key), 'no key in the log')
})

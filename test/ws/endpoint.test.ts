/** GET /ws over real TLS: docs/protocol.md §5 frame by frame, and every refusal. */
import type { IncomingMessage } from 'node:http'
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import t from 'tap'
import { startRelay } from '../helpers/relay.js'
import { publishToken, subscriberToken } from '../helpers/tokens.js'

const token = (userId = 101) => subscriberToken(userId, ['@site_active'])

t.test('hello, subscribe, ping, unsubscribe', async (t) => {
  const relay = await startRelay(t, { heartbeat_interval_ms: 25000 })
  const client = relay.open()
  await client.opened
  t.same(await client.next(), { type: 'hello', protocol: 1, heartbeat_ms: 25000 })
  const sub = await client.subscribe({ room_id: 42, token: token(), uuid: 'tab' })
  t.same(
    sub,
    { type: 'subscribed', room_id: '42', epoch: sub.epoch, offset: 0, presence_count: 1 },
    'integer room ids are normalised; no recovered without since; no presence unless asked',
  )
  t.type(sub.epoch, 'string')
  client.send({ type: 'ping' })
  t.same(await client.next(), { type: 'pong' })
  client.send({ type: 'unsubscribe', room_id: '42' })
  t.same(await client.next(), { type: 'unsubscribed', room_id: '42' })
  await relay.publish({ message: { room_id: '42', cmd: 'x' } })
  t.ok(await client.silentFor(100), 'nothing after unsubscribe')
})

t.test('the first subscribe needs a token; later ones may omit it', async (t) => {
  const relay = await startRelay(t)
  const client = await relay.connect()
  t.match(await client.subscribe({ room_id: '1', uuid: 'tab' }), {
    type: 'error',
    code: 'Unauthorized',
    room_id: '1',
  })
  t.match(await client.subscribe({ room_id: '1', token: 'not.a.token', uuid: 'tab' }), {
    type: 'error',
    code: 'Unauthorized',
  })
  t.match(
    await client.subscribe({ room_id: '1', token: publishToken({ message: {} }), uuid: 'tab' }),
    {
      type: 'error',
      code: 'Unauthorized',
    },
    'a publish token cannot subscribe',
  )
  t.match(await client.subscribe({ room_id: '1', token: token(), uuid: 'tab' }), {
    type: 'subscribed',
  })
  t.match(await client.subscribe({ room_id: '2' }), { type: 'subscribed', room_id: '2' })
  t.match(
    await client.subscribe({ room_id: '3', uuid: 'other-tab' }),
    {
      type: 'error',
      code: 'BadRequest',
      room_id: '3',
    },
    'the uuid stays the same',
  )
  t.match(
    await client.subscribe({ room_id: '3', token: token(999) }),
    {
      type: 'error',
      code: 'Unauthorized',
    },
    'a later token must be for the same user',
  )
})

t.test('an expired token on subscribe is JWTExpired', async (t) => {
  const relay = await startRelay(t)
  const client = await relay.connect()
  const expired = subscriberToken(1, ['@a'], { exp: Math.floor(Date.now() / 1000) - 3600 })
  t.match(await client.subscribe({ room_id: '1', token: expired, uuid: 'u' }), {
    type: 'error',
    code: 'JWTExpired',
    room_id: '1',
  })
})

t.test('token refresh: same user only, answered with its exp', async (t) => {
  const relay = await startRelay(t)
  const client = await relay.connect()
  await client.subscribe({ room_id: '1', token: token(), uuid: 'u' })
  const exp = Math.floor(Date.now() / 1000) + 3600
  client.send({ type: 'token', token: subscriberToken(101, ['@x'], { exp }) })
  t.same(await client.next(), { type: 'token', exp })
  client.send({ type: 'token', token: token(102) })
  t.match(await client.next(), { type: 'error', code: 'Unauthorized' })
})

t.test('no successful subscribe within auth_timeout_ms: 4001', async (t) => {
  const relay = await startRelay(t, { auth_timeout_ms: 200 })
  const idle = await relay.connect()
  const refused = await relay.connect()
  refused.send({ type: 'subscribe', room_id: '1', token: 'bad', uuid: 'u' })
  const good = await relay.connect()
  await good.subscribe({ room_id: '1', token: token(), uuid: 'u' })
  t.equal((await idle.closed).code, 4001)
  t.equal((await refused.closed).code, 4001, 'a refused subscribe does not count')
  t.ok(await good.silentFor(300), 'a subscribed connection stays open')
  t.equal(good.ws.readyState, good.ws.OPEN)
})

t.test('max_rooms_per_connection: RoomLimit', async (t) => {
  const relay = await startRelay(t, { max_rooms_per_connection: 2 })
  const client = await relay.connect()
  await client.subscribe({ room_id: 'a', token: token(), uuid: 'u' })
  await client.subscribe({ room_id: 'b' })
  t.match(await client.subscribe({ room_id: 'c' }), {
    type: 'error',
    code: 'RoomLimit',
    room_id: 'c',
  })
  t.match(
    await client.subscribe({ room_id: 'a' }),
    { type: 'subscribed', room_id: 'a' },
    'resubscribing is no new room',
  )
  client.send({ type: 'unsubscribe', room_id: 'b' })
  await client.next()
  t.match(await client.subscribe({ room_id: 'c' }), { type: 'subscribed', room_id: 'c' })
})

t.test('malformed frames: BadRequest, then 4000', async (t) => {
  const relay = await startRelay(t, { max_malformed_frames: 3 })
  const client = await relay.connect()
  client.ws.send('{')
  t.match(await client.next(), { type: 'error', code: 'BadRequest' })
  client.ws.send('[]')
  t.match(await client.next(), { type: 'error', code: 'BadRequest' })
  client.send({ type: 'nope' })
  t.match(await client.next(), { type: 'error', code: 'BadRequest', message: /type/ })
  client.ws.send(Buffer.from('{"type":"ping"}'), { binary: true })
  t.match(await client.next(), { type: 'error', code: 'BadRequest', message: /binary/ })
  t.equal((await client.closed).code, 4000)

  const fresh = await relay.connect()
  fresh.send({ type: 'ping' })
  t.same(await fresh.next(), { type: 'pong' }, 'others are still served')
})

t.test('frames over max_client_frame_bytes: 1009', async (t) => {
  const relay = await startRelay(t, { max_client_frame_bytes: 1024 })
  const client = await relay.connect()
  client.send({ type: 'ping', pad: 'x'.repeat(2000) })
  t.equal((await client.closed).code, 1009)
  const huge = await relay.connect()
  huge.send({ type: 'subscribe', room_id: '1', pad: 'x'.repeat(66 * 1024) })
  t.equal((await huge.closed).code, 1009, 'past max_subscriber_token_bytes + 1 KiB, subscribe too')
})

t.test('a Tuleap user with 1,000 groups subscribes (subscribe and token frames)', async (t) => {
  const relay = await startRelay(t, { max_client_frame_bytes: 1024 })
  const groups = Array.from({ length: 1000 }, (_, i) => `@gpig_project_${i}_members`)
  const big = subscriberToken(101, ['@site_active', ...groups])
  t.ok(big.length > 16_384, `a token of ${big.length} bytes`)
  const client = await relay.connect()
  t.match(await client.subscribe({ room_id: '1', token: big }), { type: 'subscribed' })
  client.send({ type: 'token', token: big })
  t.match(await client.next(), { type: 'token' })
})

t.test('bad field values are BadRequest naming the room when valid', async (t) => {
  const relay = await startRelay(t)
  const client = await relay.connect()
  t.match(await client.subscribe({ room_id: 'a\u0001b', token: token() }), {
    type: 'error',
    code: 'BadRequest',
  })
  t.match(await client.subscribe({ room_id: 'x'.repeat(129), token: token() }), {
    type: 'error',
    code: 'BadRequest',
  })
  t.match(
    await client.subscribe({ room_id: '1', token: token(), since: { epoch: 'e', offset: -1 } }),
    {
      type: 'error',
      code: 'BadRequest',
      room_id: '1',
    },
  )
  t.match(await client.subscribe({ room_id: '1', token: token(), presence: 'yes' }), {
    type: 'error',
    code: 'BadRequest',
  })
})

t.test('max_connections: 4010', async (t) => {
  const relay = await startRelay(t, { max_connections: 2 })
  await relay.connect()
  await relay.connect()
  const third = relay.open()
  t.equal((await third.closed).code, 4010)
})

t.test('allowed_origins: a browser upgrade from another origin is refused', async (t) => {
  const relay = await startRelay(t, { allowed_origins: ['https://tuleap.example.com'] })
  const good = await relay.connect({ origin: 'https://tuleap.example.com' })
  good.send({ type: 'ping' })
  t.same(await good.next(), { type: 'pong' })
  const evil = relay.open({ origin: 'https://evil.example.net' })
  t.equal(
    (await evil.closed).code,
    1008,
    'closed with 1008 (docs/protocol.md §5.4), nothing sent before',
  )
  t.same(evil.frames, [])

  const noOrigin = await relay.connect()
  t.ok(noOrigin, 'non-browser clients send no Origin and are allowed')
})

t.test('shutdown closes sockets with 1001', async (t) => {
  const relay = await startRelay(t)
  const client = await relay.connect()
  await client.subscribe({ room_id: '1', token: token(), uuid: 'u' })
  const closing = relay.app.close()
  t.equal((await client.closed).code, 1001)
  await closing
})

t.test('a plain GET /ws is answered 426 in the catalogue JSON', async (t) => {
  const relay = await startRelay(t)
  const res = await relay.request('GET', '/ws')
  t.equal(res.status, 426)
  t.same(res.body, {
    error: 'RELAY_ERR_HTTP_UPGRADE_REQUIRED',
    message: 'GET /ws is a WebSocket endpoint: send an Upgrade: websocket request',
  })
})

t.test('the uuid is fixed by the first subscribe, even when it gives none', async (t) => {
  const relay = await startRelay(t)
  const client = await relay.connect()
  t.match(await client.subscribe({ room_id: '1', token: token() }), { type: 'subscribed' })
  t.match(await client.subscribe({ room_id: '2', uuid: 'late' }), {
    type: 'error',
    code: 'BadRequest',
    room_id: '2',
  })
  t.match(await client.subscribe({ room_id: '2' }), { type: 'subscribed' }, 'omitting it is fine')
})

t.test('an open connection does not keep its upgrade request alive', async (t) => {
  // What an idle subscriber costs matters at 10,000 of them: the plugin's ServerResponse
  // and its own 'error' listener would otherwise hold the upgrade's request, response and
  // Fastify Request/Reply for the whole life of the connection.
  setFlagsFromString('--expose-gc')
  const gc = runInNewContext('gc') as () => void
  const relay = await startRelay(t)
  const upgrades: WeakRef<IncomingMessage>[] = []
  relay.app.server.on('upgrade', (req: IncomingMessage) => upgrades.push(new WeakRef(req)))
  const clients = await Promise.all([relay.connect(), relay.connect(), relay.connect()])
  for (const [i, c] of clients.entries()) {
    await c.subscribe({ room_id: '7', token: token(200 + i), uuid: `tab-${i}` })
  }
  t.equal(upgrades.length, 3)
  for (let i = 0; i < 5 && upgrades.some((r) => r.deref() !== undefined); i++) {
    await new Promise((resolve) => setImmediate(resolve))
    gc()
  }
  t.equal(upgrades.filter((r) => r.deref() !== undefined).length, 0, 'all collected')
  const answer = await relay.publish({ message: { room_id: '7', cmd: 'after_gc' } })
  t.equal(answer.status, 200)
  for (const c of clients) t.match(await c.next(), { type: 'message', cmd: 'after_gc' })
})

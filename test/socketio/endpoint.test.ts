import t from 'tap'
import { io as ioLatest } from 'socket.io-client'
import { io as io475 } from 'socket.io-client-4.7.5'
import { startRelay } from '../helpers/relay.js'
import { kanbanRights, nowS, subscriberToken } from '../helpers/tokens.js'
import { hubMembers, page, publishUnsigned, subscription, type Io } from './pages.js'

const clients: [string, Io, string[]][] = [
  ['socket.io-client 4.7.5, polling first', io475 as unknown as Io, ['polling', 'websocket']],
  ['socket.io-client latest, websocket only', ioLatest, ['websocket']],
]

for (const [name, io, transports] of clients) {
  void t.test(`Kanban page (${name}): numeric room, rights, sender exclusion`, async (t) => {
    const relay = await startRelay(t, { allow_unsigned_loopback_publish: true })
    const viewer = page(t, relay, { io, transports })
    const mover = page(t, relay, { io, transports, path: '/socket.io' })
    const outsider = page(t, relay, { io, transports })
    viewer.socket.emit(
      'subscription',
      subscription(42, subscriberToken(101, ['@site_active']), 'tab-a'),
    )
    mover.socket.emit(
      'subscription',
      subscription(42, subscriberToken(102, ['@site_active']), 'tab-b'),
    )
    outsider.socket.emit(
      'subscription',
      subscription(42, subscriberToken(103, ['@other']), 'tab-c'),
    )
    await hubMembers(relay, 3)
    const answer = await publishUnsigned(relay, {
      sender_user_id: 102,
      sender_uuid: 'tab-b',
      room_id: 42,
      rights: { ...kanbanRights(), field: [] },
      cmd: 'kanban_item:move',
      data: { artifact_id: 7, in_column: 2, from_column: 1 },
    })
    t.equal(answer.status, 200)
    t.same(await viewer.next('kanban_item:move'), { artifact_id: 7, in_column: 2, from_column: 1 })
    if (transports[0] === 'polling') {
      // Polling first, then the upgrade to WebSocket, as Tuleap's pages do.
      const engine = viewer.socket.io.engine
      if (engine.transport.name !== 'websocket') {
        await new Promise<void>((resolve) => engine.once('upgrade', () => resolve()))
      }
      t.equal(engine.transport.name, 'websocket', 'upgraded from polling')
    }
    await publishUnsigned(relay, {
      sender_user_id: null,
      sender_uuid: null,
      room_id: '42',
      rights: kanbanRights(),
      cmd: 'kanban:edit',
      data: 5,
    })
    t.equal(await mover.next('kanban:edit'), 5, 'the sender gets the next message, not its own')
    t.equal(await viewer.next('kanban:edit'), 5)
    t.notOk(
      mover.events.some(([n]) => n === 'kanban_item:move'),
      'the sender tab is excluded',
    )
    t.notOk(
      outsider.events.some(([n]) => n.startsWith('kanban')),
      'no rights, nothing received',
    )
  })
}

void t.test('any JSON data: "", null, a number, an array', async (t) => {
  const relay = await startRelay(t, { allow_unsigned_loopback_publish: true })
  const p = page(t, relay, { transports: ['websocket'] })
  p.socket.emit('subscription', subscription(9, subscriberToken(1, ['@a']), 'u'))
  await hubMembers(relay, 1)
  for (const data of ['', null, 0, [1, 'x']]) {
    await publishUnsigned(relay, {
      sender_user_id: 2,
      sender_uuid: null,
      room_id: 9,
      rights: kanbanRights({ tracker: ['@a'] }),
      cmd: 'kanban:edit',
      data,
    })
    t.same(await p.next('kanban:edit'), data)
  }
})

void t.test(
  'a refused subscription disconnects the page, as the historic server did',
  async (t) => {
    const relay = await startRelay(t)
    for (const bad of [
      subscription(42, 'not-a-token', 'u'),
      { ...subscription(42, subscriberToken(1, ['@a']), 'u'), nodejs_server_version: '1.0.0' },
      { token: subscriberToken(1, ['@a']) },
    ]) {
      const p = page(t, relay, { transports: ['websocket'] })
      p.socket.emit('subscription', bad)
      await p.next('disconnect')
    }
    const expired = page(t, relay, { transports: ['websocket'] })
    expired.socket.emit(
      'subscription',
      subscription(42, subscriberToken(1, ['@a'], { exp: nowS() - 60 }), 'u'),
    )
    t.equal(await expired.next('error-jwt'), 'JWTExpired')
    await expired.next('disconnect')
  },
)

void t.test('expiry: error-jwt, a new subscription, nothing lost', async (t) => {
  const relay = await startRelay(t, { allow_unsigned_loopback_publish: true })
  const p = page(t, relay, { transports: ['websocket'] })
  // Expires one second from now, with the 30 s clock tolerance.
  p.socket.emit(
    'subscription',
    subscription(42, subscriberToken(1, ['@site_active'], { exp: nowS() - 29 }), 'u'),
  )
  t.equal(await p.next('error-jwt', 4000), 'JWTExpired')
  const publish = (n: number) =>
    publishUnsigned(relay, {
      sender_user_id: null,
      sender_uuid: null,
      room_id: 42,
      rights: kanbanRights(),
      cmd: 'kanban_item:update',
      data: { artifact_id: n },
    })
  await publish(1)
  await publish(2)
  t.notOk(
    p.events.some(([n]) => n === 'kanban_item:update'),
    'nothing live while expired',
  )
  p.socket.emit('subscription', subscription(42, subscriberToken(1, ['@site_active']), 'u'))
  t.same(await p.next('kanban_item:update'), { artifact_id: 1 })
  t.same(await p.next('kanban_item:update'), { artifact_id: 2 })
  await publish(3)
  t.same(await p.next('kanban_item:update'), { artifact_id: 3 })
})

void t.test('one room, both protocols: same messages, same order', async (t) => {
  const relay = await startRelay(t, { allow_unsigned_loopback_publish: true })
  const p = page(t, relay, { transports: ['websocket'] })
  p.socket.emit('subscription', subscription(42, subscriberToken(1, ['@site_active']), 'u'))
  const ws = await relay.connect()
  ws.send({
    type: 'subscribe',
    room_id: '42',
    token: subscriberToken(2, ['@site_active']),
    uuid: 'w',
    presence: true,
  })
  const sub = await ws.next()
  t.equal(sub.type, 'subscribed')
  await hubMembers(relay, 2)
  for (let i = 0; i < 5; i++) {
    await publishUnsigned(relay, {
      sender_user_id: null,
      sender_uuid: null,
      room_id: 42,
      rights: kanbanRights(),
      cmd: 'kanban_item:move',
      data: i,
    })
  }
  for (let i = 0; i < 5; i++) {
    t.equal(await p.next('kanban_item:move'), i)
    let frame = await ws.next()
    // Presence counts both protocols: the page's join reaches the /ws watcher.
    while (frame.type === 'presence') frame = await ws.next()
    t.match(frame, { type: 'message', cmd: 'kanban_item:move', data: i })
  }
})

void t.test('Test Management: presences, rewriting, user:leave, deleted executions', async (t) => {
  const relay = await startRelay(t, { allow_unsigned_loopback_publish: true })
  const rights = kanbanRights()
  const a = page(t, relay, { nsp: '/testmanagement', transports: ['websocket'] })
  const b = page(t, relay, { nsp: '/testmanagement', io: io475 as unknown as Io })
  a.socket.emit(
    'subscription',
    subscription('testmanagement_5', subscriberToken(1, ['@site_active']), 'ua'),
  )
  t.same(await a.next('presences'), {})
  b.socket.emit(
    'subscription',
    subscription('testmanagement_5', subscriberToken(2, ['@site_active']), 'ub'),
  )
  t.same(await b.next('presences'), {})
  const presence = (user: number, uuid: string, execution: number, from: string) =>
    publishUnsigned(relay, {
      sender_user_id: user,
      sender_uuid: uuid,
      room_id: 'testmanagement_5',
      rights,
      cmd: 'testmanagement_user:presence',
      data: { presence: { execution_id: execution, uuid, remove_from: from, user: { id: user } } },
    })
  await presence(1, 'ua', 10, '')
  t.same(await b.next('testmanagement_user:presence'), {
    user: { id: 1, uuid: 'ua' },
    execution_to_add: 10,
    execution_presences_to_add: [{ id: 1, uuid: 'ua' }],
  })
  await presence(1, 'ua', 11, '10')
  t.same(await b.next('testmanagement_user:presence'), {
    user: { id: 1, uuid: 'ua' },
    execution_to_add: 11,
    execution_presences_to_add: [{ id: 1, uuid: 'ua' }],
    execution_to_remove: '10',
    execution_presences_to_remove: [],
  })
  await presence(2, 'ub', 11, '')
  t.same(await a.next('testmanagement_user:presence'), {
    user: { id: 2, uuid: 'ub' },
    execution_to_add: 11,
    execution_presences_to_add: [
      { id: 1, uuid: 'ua' },
      { id: 2, uuid: 'ub' },
    ],
  })
  const c = page(t, relay, { nsp: '/testmanagement', transports: ['websocket'] })
  c.socket.emit(
    'subscription',
    subscription('testmanagement_5', subscriberToken(3, ['@site_active']), 'uc'),
  )
  t.same(await c.next('presences'), {
    10: [],
    11: [
      { id: 1, uuid: 'ua' },
      { id: 2, uuid: 'ub' },
    ],
  })
  b.socket.close()
  t.equal(await a.next('user:leave'), 'ub')
  t.equal(await c.next('user:leave'), 'ub')
  await publishUnsigned(relay, {
    sender_user_id: 1,
    sender_uuid: 'ua',
    room_id: 'testmanagement_5',
    rights,
    cmd: 'testmanagement_execution:delete',
    data: { artifact_id: 11 },
  })
  t.same(await c.next('testmanagement_execution:delete'), { artifact_id: 11 })
  const d = page(t, relay, { nsp: '/testmanagement', transports: ['websocket'] })
  d.socket.emit(
    'subscription',
    subscription('testmanagement_5', subscriberToken(4, ['@site_active']), 'ud'),
  )
  // A leave drops every execution left without viewers, as the historic server did.
  t.same(await d.next('presences'), {})
})

void t.test('/ws still works and unknown upgrade paths are still refused', async (t) => {
  const relay = await startRelay(t)
  const ws = await relay.connect()
  t.ok(ws)
  const stray = relay.open({ path: '/nowhere' })
  await t.rejects(stray.opened)
  const polling = await relay.request('GET', '/socket.io/?EIO=3&transport=polling')
  t.equal(polling.status, 400, 'Engine.IO 3 clients get the standard refusal')
})

void t.test('socketio_paths [] turns socket.io off', async (t) => {
  const relay = await startRelay(t, { socketio_paths: [] })
  const answer = await relay.request('GET', '/socket.io/?EIO=4&transport=polling')
  t.equal(answer.status, 404)
})

void t.test('CORS with credentials only for the origins allowed_origins lists', async (t) => {
  const handshake = '/socket.io/?EIO=4&transport=polling'
  const open = await startRelay(t)
  const plain = await open.request('GET', handshake, undefined, {
    origin: 'https://tuleap.example.com',
  })
  t.equal(plain.status, 200)
  t.notOk(plain.headers['access-control-allow-origin'], 'no allowed_origins: no CORS')

  const relay = await startRelay(t, { allowed_origins: ['https://tuleap.example.com'] })
  const tuleap = await relay.request('GET', handshake, undefined, {
    origin: 'https://tuleap.example.com',
  })
  t.equal(tuleap.status, 200)
  t.equal(tuleap.headers['access-control-allow-origin'], 'https://tuleap.example.com')
  t.equal(tuleap.headers['access-control-allow-credentials'], 'true')
  const other = await relay.request('GET', handshake, undefined, {
    origin: 'https://elsewhere.example.com',
  })
  t.equal(other.status, 403, 'another origin is refused')
})

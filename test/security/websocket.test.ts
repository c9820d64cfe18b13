/**
 * Hostile WebSocket peers (docs/protocol.md §5): oversize frames, invalid UTF-8, binary frames,
 * floods of malformed or valid frames, prototype-pollution keys, hostile room ids, idle
 * connections, and a failure inside frame handling. Each case asserts the exact refusal
 * (error frame or close code) and that the relay keeps serving a legitimate client.
 */
import { createSecureContext } from 'node:tls'
import t, { type Test } from 'tap'
import type { Relay } from '../../src/app.js'
import { MemoryBroker } from '../../src/broker/memory-broker.js'
import type { HistoryResult, RoomPosition } from '../../src/broker/broker.js'
import { testCert } from '../helpers/certs.js'
import { startRelay, type Frame, type TestClient, type TestRelay } from '../helpers/relay.js'
import { nowS, signRaw, subscriberToken } from '../helpers/tokens.js'
import { until } from '../helpers/wait.js'
import { maskedFrame, within } from './hostile.js'

const token = (userId = 101): string => subscriberToken(userId, ['@site_active'])

/** The relay's parts, as the app decorates them. */
const parts = (relay: TestRelay): Relay => relay.app.relay

/** A fresh legitimate client subscribes, a message is published, and it arrives. */
async function stillServes(t: Test, relay: TestRelay, after: string): Promise<void> {
  const client = await relay.connect()
  const room = `serve-${Math.random().toString(36).slice(2)}`
  t.match(
    await client.subscribe({ room_id: room, token: token(), uuid: 'legit' }),
    { type: 'subscribed', room_id: room },
    `a legitimate subscribe succeeds after: ${after}`,
  )
  const res = await relay.publish({ message: { room_id: room, cmd: 'legit:ping', data: after } })
  t.equal(res.status, 200)
  t.match(await client.next(), { type: 'message', room_id: room, cmd: 'legit:ping', data: after })
  client.close()
  await within(client.closed, 3000, 'legit client close')
}

/** Poll until `check` holds (the server side of a close lands a moment after the client's). */
/** Whether `check()` comes to hold within `ms` (for `t.ok`, which then names what failed). */
const eventually = (check: () => boolean, ms = 3000): Promise<boolean> =>
  until('a condition', check, { timeoutMs: ms }).then(
    () => true,
    () => false,
  )

/** Every frame until the socket closes, and the close. */
async function drain(client: TestClient, ms = 5000): Promise<{ frames: Frame[]; code: number }> {
  const { code } = await within(client.closed, ms, 'close')
  return { frames: client.frames.splice(0), code }
}

t.test('a frame over max_client_frame_bytes: 1009', async (t) => {
  const relay = await startRelay(t)
  const client = await relay.connect()
  client.send({ type: 'ping', pad: 'x'.repeat(relay.config.max_client_frame_bytes) })
  t.equal((await within(client.closed, 3000, '1009')).code, 1009)
  for (let i = 0; i < 5; i++) {
    const busy = await relay.connect()
    for (let k = 0; k < 3; k++) busy.ws.send('{')
    busy.send({ type: 'ping', pad: 'x'.repeat(relay.config.max_client_frame_bytes) })
    t.equal(
      (await within(busy.closed, 3000, '1009 behind replies')).code,
      1009,
      'even behind replies',
    )
  }
  const justUnder = await relay.connect()
  const pad = relay.config.max_client_frame_bytes - JSON.stringify({ type: 'ping', pad: '' }).length
  justUnder.send({ type: 'ping', pad: 'x'.repeat(pad) })
  t.same(await justUnder.next(), { type: 'pong' }, 'a frame of exactly the cap is served')
  await stillServes(t, relay, 'an oversize frame')
})

t.test('invalid UTF-8 in a text frame: ws closes with 1007', async (t) => {
  const relay = await startRelay(t)
  const client = await relay.connect()
  const bystander = await relay.connect()
  await bystander.subscribe({ room_id: 'utf8', token: token(102), uuid: 'b' })
  // {"type":"ping","x":"<0xC3 0x28>"}: a two-byte sequence with a bad continuation byte.
  const payload = Buffer.concat([
    Buffer.from('{"type":"ping","x":"'),
    Buffer.from([0xc3, 0x28]),
    Buffer.from('"}'),
  ])
  const socket = (client.ws as unknown as { _socket: { write(b: Buffer): boolean } })._socket
  socket.write(maskedFrame(0x1, payload))
  t.equal((await within(client.closed, 3000, '1007')).code, 1007)
  t.same(client.frames, [], 'nothing was answered to the invalid frame')

  // With replies still queued ahead of the close frame, the code must survive too (the
  // plugin's default error handler used to terminate the socket: the client saw 1006).
  for (let i = 0; i < 5; i++) {
    const busy = await relay.connect()
    for (let k = 0; k < 3; k++) busy.ws.send('{')
    const raw = (busy.ws as unknown as { _socket: { write(b: Buffer): boolean } })._socket
    raw.write(maskedFrame(0x1, payload))
    t.equal((await within(busy.closed, 3000, '1007 behind replies')).code, 1007)
  }
  const res = await relay.publish({ message: { room_id: 'utf8', cmd: 'still:here' } })
  t.equal(res.status, 200)
  t.match(await bystander.next(), { type: 'message', cmd: 'still:here' }, 'others are served')
  await stillServes(t, relay, 'invalid UTF-8')
})

t.test('binary frames: BadRequest, the connection stays', async (t) => {
  const relay = await startRelay(t)
  const client = await relay.connect()
  client.ws.send(Buffer.from(JSON.stringify({ type: 'ping' })), { binary: true })
  t.match(await client.next(), { type: 'error', code: 'BadRequest', message: /binary/ })
  client.ws.send(Buffer.from([0xff, 0x00, 0xfe]), { binary: true })
  t.match(await client.next(), { type: 'error', code: 'BadRequest', message: /binary/ })
  client.send({ type: 'ping' })
  t.same(await client.next(), { type: 'pong' }, 'text frames are still answered')
  await stillServes(t, relay, 'binary frames')
})

t.test('10,000 malformed frames: closed early, the process stays healthy', async (t) => {
  t.test('defaults: 4000 after max_malformed_frames, before the rate limit', async (t) => {
    const relay = await startRelay(t)
    const { max_malformed_frames: maxMalformed, max_frames_per_second: perSecond } = relay.config
    t.ok(maxMalformed < perSecond * 10, 'the malformed cap is below the 10 s frame allowance')
    const client = await relay.connect()
    const started = Date.now()
    for (let i = 0; i < 10_000; i++) client.ws.send('{')
    const { frames, code } = await drain(client)
    t.equal(code, 4000, '4000: too many malformed frames')
    t.equal(frames.length, maxMalformed + 1, 'one BadRequest per frame up to the close, no more')
    t.ok(
      frames.every((f) => f.type === 'error' && f.code === 'BadRequest'),
      'all of them BadRequest',
    )
    t.ok(Date.now() - started < 5000, `closed in ${Date.now() - started} ms`)
    t.ok(await eventually(() => parts(relay).connections.size === 0), 'the server dropped it')
    t.equal((await relay.request('GET', '/health')).status, 200)
    await stillServes(t, relay, '10,000 malformed frames')
  })

  t.test('a malformed cap above the rate limit: 4008 once the allowance is spent', async (t) => {
    const relay = await startRelay(t, { max_malformed_frames: 100_000 })
    const allowance = relay.config.max_frames_per_second * 10
    const client = await relay.connect()
    for (let i = 0; i < 10_000; i++) client.ws.send('{')
    const { frames, code } = await drain(client)
    t.equal(code, 4008, '4008: rate limited')
    t.equal(frames.length, allowance + 1, `${allowance} BadRequest frames, then RateLimited`)
    t.match(frames.at(-1), { type: 'error', code: 'RateLimited' })
    t.ok(frames.slice(0, -1).every((f) => f.code === 'BadRequest'))
    t.ok(await eventually(() => parts(relay).connections.size === 0))
    await stillServes(t, relay, '10,000 malformed frames past the rate limit')
  })
})

t.test('a subscribe flood: RateLimited error frame, then 4008', async (t) => {
  const relay = await startRelay(t)
  const allowance = relay.config.max_frames_per_second * 10
  const client = await relay.connect()
  const subscribe = JSON.stringify({
    type: 'subscribe',
    room_id: 'flood',
    token: token(),
    uuid: 'f',
  })
  for (let i = 0; i < allowance * 3; i++) client.ws.send(subscribe)
  const { frames, code } = await drain(client)
  t.equal(code, 4008)
  const limited = frames.filter((f) => f.code === 'RateLimited')
  t.equal(limited.length, 1, 'one RateLimited error frame')
  t.same(frames.at(-1), limited[0], 'it is the last frame before the close')
  t.ok(
    frames.slice(0, -1).every((f) => f.type === 'subscribed'),
    `${frames.length - 1} subscribed answers before it, nothing else`,
  )
  t.ok(frames.length - 1 <= allowance)
  t.ok(await eventually(() => parts(relay).connections.size === 0))
  t.same(parts(relay).hub.stats(), { rooms: 0, members: 0 }, 'the hub kept nothing of it')
  await stillServes(t, relay, 'a subscribe flood')
})

t.test('__proto__, constructor and prototype keys: passed through, no pollution', async (t) => {
  const relay = await startRelay(t)
  const before = Object.getOwnPropertyNames(Object.prototype).sort()
  const client = await relay.connect()
  await client.subscribe({ room_id: 'proto', token: token(), uuid: 'p' })

  const data =
    '{"__proto__":{"polluted":"data"},"constructor":{"prototype":{"polluted":"data"}},' +
    '"prototype":{"polluted":"data"},"list":[{"__proto__":{"polluted":"data"}}],"toString":1}'
  const payload =
    `{"exp":${nowS() + 60},"__proto__":{"polluted":"claims"},"message":{"room_id":"proto",` +
    `"cmd":"proto:test","__proto__":{"polluted":"message"},"data":${data}}}`
  const res = await relay.post(signRaw({ alg: 'HS512' }, payload))
  t.equal(res.status, 200)
  const frame = await client.next()
  t.match(frame, { type: 'message', room_id: 'proto', cmd: 'proto:test' })
  t.equal(JSON.stringify(frame.data), data, 'data is delivered byte for byte as published')
  t.ok(Object.hasOwn(frame.data as object, '__proto__'), '__proto__ arrives as an own key')

  // Keys a frame smuggles through __proto__ are not read as the frame's own fields.
  client.ws.send('{"__proto__":{"type":"ping"}}')
  t.match(await client.next(), { type: 'error', code: 'BadRequest', message: /type/ })
  const fresh = await relay.connect()
  fresh.ws.send(
    JSON.stringify({ type: 'subscribe', room_id: 'proto', uuid: 'q' }).replace(
      '}',
      `,"__proto__":{"token":"${token()}"}}`,
    ),
  )
  t.match(await fresh.next(), { type: 'error', code: 'Unauthorized', message: /required/ })
  const protoClaims = `{"exp":${nowS() + 60},"__proto__":{"data":{"user_id":1,"user_rights":["@a"]}}}`
  t.match(
    await fresh.subscribe({ room_id: 'proto', token: signRaw({ alg: 'HS512' }, protoClaims) }),
    { type: 'error', code: 'Unauthorized', message: /not a subscriber token/ },
    'claims hidden under __proto__ are not claims',
  )

  const probe: Record<string, unknown> = {}
  t.equal(probe.polluted, undefined, '({}).polluted is undefined in the server process')
  t.same(Object.getOwnPropertyNames(Object.prototype).sort(), before, 'Object.prototype untouched')
  t.equal(typeof probe.toString, 'function')
  await stillServes(t, relay, 'prototype keys')
})

t.test('hostile room ids: BadRequest on subscribe, 400 on publish', async (t) => {
  const relay = await startRelay(t)
  const rooms = [
    ['NUL', 'a\u0000b'],
    ['ESC sequence', '\u001b[31mred'],
    ['newline', 'a\nb'],
    ['DEL', 'a\u007f'],
    ['C1 control', 'a\u0085'],
    ['line separator', 'a\u2028b'],
    ['lone surrogate', 'a\ud800'],
    ['10 KB long', 'x'.repeat(10 * 1024)],
    ['129 characters', 'x'.repeat(129)],
    ['empty', ''],
  ] as const
  for (const [name, room] of rooms) {
    const client = await relay.connect()
    const answer = await client.subscribe({ room_id: room, token: token(), uuid: 'r' })
    t.match(
      answer,
      { type: 'error', code: 'BadRequest', message: /room_id/ },
      `subscribe, ${name}: BadRequest`,
    )
    t.notOk('room_id' in answer, 'the invalid room id is not echoed back')
    client.close()
    const res = await relay.publish({ message: { room_id: room, cmd: 'x' } })
    t.equal(res.status, 400, `publish, ${name}: 400`)
    t.equal(res.body.error, 'RELAY_ERR_PUBLISH_BAD_MESSAGE')
    t.match(res.body.message, /room_id/)
  }
  t.same(parts(relay).hub.stats(), { rooms: 0, members: 0 }, 'no room was created')
  await stillServes(t, relay, 'hostile room ids')
})

t.test(
  '1,000 idle connections that never subscribe: all closed with 4001',
  { timeout: 90_000 },
  async (t) => {
    const authTimeout = 2000
    // All from one address: above max_unauthenticated_per_address, to test the timeout alone.
    const relay = await startRelay(t, {
      auth_timeout_ms: authTimeout,
      max_unauthenticated_per_address: 2000,
    })
    // One TLS context for all clients, no deflate offer: the clients' cost, not the relay's.
    const options = {
      secureContext: createSecureContext({ ca: testCert().cert }),
      perMessageDeflate: false,
    }
    const started = Date.now()
    const records: { opened: number; closed: number; code: number }[] = []
    for (let batch = 0; batch < 10; batch++) {
      const clients = Array.from({ length: 100 }, () => relay.open(options))
      for (const client of clients) {
        const record = { opened: 0, closed: 0, code: 0 }
        records.push(record)
        void client.opened.then(() => (record.opened = Date.now()))
        void client.closed.then(({ code }) => {
          record.code = code
          record.closed = Date.now()
        })
      }
      await within(Promise.all(clients.map((c) => c.opened)), 20_000, `batch ${batch} of 100`)
    }
    t.comment(`1,000 connections opened in ${Date.now() - started} ms`)
    t.ok(
      await eventually(() => records.every((r) => r.closed > 0), authTimeout + 20_000),
      'all 1,000 were closed',
    )
    t.equal(records.filter((r) => r.code === 4001).length, 1000, 'every one with 4001')
    const lifetimes = records.map((r) => r.closed - r.opened)
    const [shortest, longest] = [Math.min(...lifetimes), Math.max(...lifetimes)]
    t.ok(shortest >= authTimeout - 250, `none closed early (shortest ${shortest} ms)`)
    t.ok(longest < authTimeout + 5000, `none held long (longest ${longest} ms)`)
    t.ok(await eventually(() => parts(relay).connections.size === 0), 'the server holds none')
    await stillServes(t, relay, '1,000 idle connections')
  },
)

t.test('max_connections and allowed_origins refuse without disturbing others', async (t) => {
  const relay = await startRelay(t, {
    max_connections: 3,
    allowed_origins: ['https://tuleap.example.com'],
  })
  const first = await relay.connect({ origin: 'https://tuleap.example.com' })
  const evil = relay.open({ origin: 'https://evil.example.net' })
  const hijack = await within(evil.closed, 3000, '1008')
  t.equal(hijack.code, 1008, 'cross-site WebSocket hijacking: 1008, do not reconnect')
  t.same(evil.frames, [], 'not even hello')

  const second = await relay.connect()
  const third = await relay.connect()
  const fourth = relay.open()
  t.equal((await within(fourth.closed, 3000, '4010')).code, 4010, 'over max_connections: 4010')
  first.send({ type: 'ping' })
  t.same(await first.next(), { type: 'pong' }, 'the connections already open are served')
  second.close()
  third.close()
  await Promise.all([second.closed, third.closed])
  t.ok(await eventually(() => parts(relay).connections.size === 1))
  await stillServes(t, relay, 'max_connections')
})

/** A broker whose history read fails with a plain (non-Relay) error for one room. */
class FailingBroker extends MemoryBroker {
  override history(roomId: string, since?: RoomPosition): Promise<HistoryResult> {
    if (roomId === 'boom') return Promise.reject(new Error('history store on fire'))
    return super.history(roomId, since)
  }
}

t.test(
  'an exception inside frame handling: that connection gets 1011, the process lives',
  async (t) => {
    const unhandled: unknown[] = []
    const onUnhandled = (reason: unknown): void => {
      unhandled.push(reason)
    }
    process.on('unhandledRejection', onUnhandled)
    t.teardown(() => process.off('unhandledRejection', onUnhandled))
    const broker = new FailingBroker({ historySize: 100, historyTtlMs: 300_000 })
    const relay = await startRelay(t, {}, { broker })
    const bystander = await relay.connect()
    await bystander.subscribe({ room_id: 'fine', token: token(102), uuid: 'b' })
    const victim = await relay.connect()
    victim.send({ type: 'subscribe', room_id: 'boom', token: token(), uuid: 'v' })
    t.equal((await within(victim.closed, 3000, '1011')).code, 1011)
    t.same(victim.frames, [], 'no subscribed frame for the failed subscribe')
    const res = await relay.publish({ message: { room_id: 'fine', cmd: 'still:here' } })
    t.equal(res.status, 200)
    t.match(await bystander.next(), { type: 'message', cmd: 'still:here' })
    t.ok(await eventually(() => parts(relay).connections.size === 1))
    t.same(parts(relay).hub.stats(), { rooms: 1, members: 1 }, 'the failed member left no trace')
    await stillServes(t, relay, 'a failing frame handler')
    t.same(unhandled, [], 'no unhandled rejection')
  },
)

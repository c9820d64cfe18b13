import { readdirSync, readFileSync } from 'node:fs'
import t from 'tap'
import {
  CLOSE_ACTIONS,
  closeAction,
  parseServerFrame,
  type WebSocketConstructor,
} from '../../src/client/index.js'
import { randomUuid } from '../../src/client/uuid.js'
import { CLOSE } from '../../src/errors.js'

// Compile-time: the browser's WebSocket is an acceptable `WebSocket` option.
export const domWebSocketFits: WebSocketConstructor | null = null as typeof WebSocket | null

t.test('parseServerFrame accepts every frame of docs/protocol.md §5.2', async (t) => {
  const frames = [
    { type: 'hello', protocol: 1, heartbeat_ms: 25000 },
    { type: 'subscribed', room_id: '42', epoch: 'e', offset: 18, presence_count: 3 },
    {
      type: 'subscribed',
      room_id: '42',
      epoch: 'e',
      offset: 0,
      recovered: false,
      presence_count: 1,
    },
    { type: 'message', room_id: '42', epoch: 'e', offset: 19, cmd: 'kanban_item:move', data: null },
    { type: 'presence', room_id: '42', event: 'join', user_id: 101, uuid: 'u' },
    { type: 'presence', room_id: '42', event: 'leave', user_id: 101, uuid: null },
    { type: 'unsubscribed', room_id: '42' },
    { type: 'token', exp: 1767225600 },
    { type: 'resync', room_id: '42', epoch: 'e', offset: 18 },
    { type: 'pong' },
    { type: 'error', code: 'RoomLimit', message: 'at most 16', room_id: '42' },
    { type: 'error', code: 'JWTExpired', message: 'expired' },
  ]
  for (const f of frames) t.same(parseServerFrame(JSON.stringify(f)), f, f.type)
})

t.test('parseServerFrame refuses what the client could not act on', async (t) => {
  const bad: unknown[] = [
    'not json',
    '[]',
    'null',
    '"hello"',
    JSON.stringify({ protocol: 1 }),
    JSON.stringify({ type: 'hello', heartbeat_ms: '25000' }),
    JSON.stringify({ type: 'subscribed', room_id: 42, epoch: 'e', offset: 1 }),
    JSON.stringify({ type: 'message', room_id: '42', epoch: 'e', offset: -1, cmd: 'x' }),
    JSON.stringify({ type: 'message', room_id: '42', epoch: 'e', offset: 1.5, cmd: 'x' }),
    JSON.stringify({ type: 'message', room_id: '42', epoch: 'e', offset: 1 }),
    JSON.stringify({ type: 'resync', room_id: '42', offset: 1 }),
    JSON.stringify({ type: 'presence', room_id: '42', event: 'wave' }),
    JSON.stringify({ type: 'error', message: 'no code' }),
    JSON.stringify({ type: 'token', exp: 'soon' }),
    JSON.stringify({ type: 'someday' }),
    new ArrayBuffer(4),
  ]
  for (const b of bad) t.equal(parseServerFrame(b), null, String(b))
})

t.test('close codes: the docs/protocol.md §5.4 table from the client side', async (t) => {
  t.same(
    Object.fromEntries(
      [1000, 1001, 1006, 1008, 1009, 1011, 4000, 4001, 4008, 4009, 4010, 4321].map((c) => [
        c,
        closeAction(c),
      ]),
    ),
    {
      1000: 'reconnect',
      1001: 'reconnect',
      1006: 'reconnect',
      1008: 'stop',
      1009: 'stop',
      1011: 'reconnect',
      4000: 'stop',
      4001: 'reauthenticate',
      4008: 'reconnect',
      4009: 'reconnect',
      4010: 'reconnect',
      4321: 'reconnect',
    },
  )
})

t.test("the client agrees with the relay's close-code table (src/errors.ts)", async (t) => {
  for (const row of Object.values(CLOSE)) {
    // 1000 is the only code the relay itself never sends: a 1000 the client did not ask
    // for comes from a proxy, and the page wants to stay live.
    if (row.code === 1000) continue
    t.equal(CLOSE_ACTIONS[row.code] !== 'stop', row.reconnect, `${row.code} ${row.reason}`)
  }
})

t.test('src/client imports nothing but its own files (it runs in browsers)', async (t) => {
  const dir = new URL('../../src/client/', import.meta.url)
  for (const name of readdirSync(dir).filter((n) => n.endsWith('.ts'))) {
    const source = readFileSync(new URL(name, dir), 'utf8')
    const specifiers = [...source.matchAll(/from\s+'([^']+)'/g)].map((m) => m[1] ?? '')
    t.same(
      specifiers.filter((s) => !/^\.\/[a-z-]+\.js$/.test(s)),
      [],
      `${name} imports only ./*.js`,
    )
    t.notMatch(source, /\bprocess\.|\bBuffer\b|\brequire\(/, `${name} uses no Node globals`)
  }
})

t.test('randomUuid: crypto.randomUUID, else getRandomValues, else the random source', async (t) => {
  const v4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/
  t.equal(randomUuid(Math.random, { randomUUID: () => 'from-crypto' }), 'from-crypto')
  const filled = randomUuid(Math.random, {
    getRandomValues: (a: Uint8Array) => a.fill(0xff),
  })
  t.equal(filled, 'ffffffff-ffff-4fff-bfff-ffffffffffff')
  const fromRandom = randomUuid(() => 0, {})
  t.equal(fromRandom, '00000000-0000-4000-8000-000000000000')
  t.match(randomUuid(), v4, 'the platform default')
})

/**
 * Connection against a fake socket. Timers are real but short (tens of ms, driven
 * through `nowMs` so that a token "expires" right away), with generous waits.
 */
import t, { type Test } from 'tap'
import type { SubscriberClaims } from '../../src/auth/token.js'
import { CLOSE } from '../../src/errors.js'
import { RefusalSummariser } from '../../src/log-summary.js'
import { BATCH_FLUSH_BYTES, Connection, nextConnectionId } from '../../src/ws/connection.js'
import { WriteBatch } from '../../src/ws/write-batch.js'
import { FakeSocket, recordingLog, silentLog } from '../helpers/fakes.js'
import { sleep, until as waitUntil } from '../helpers/wait.js'

const log = silentLog
const LIMITS = {
  slowConsumerBytes: 1000,
  expiredGraceMs: 40,
  maxFramesPerSecond: 2,
  maxMalformedFrames: 3,
}

function setup(t: Test, limits: Partial<typeof LIMITS> = {}): { conn: Connection; ws: FakeSocket } {
  const ws = new FakeSocket()
  const conn = new Connection(nextConnectionId(), ws, log, { ...LIMITS, ...limits })
  t.teardown(() => {
    conn.close(CLOSE.NORMAL)
  })
  return { conn, ws }
}

const claims = (exp: number, userId = 101, groups = ['@site_active']): SubscriberClaims => ({
  userId,
  groups: new Set(groups),
  exp,
})

/** Wait until `cond()` holds, polling; fails after `timeoutMs`. */
const until = (cond: () => boolean, timeoutMs = 3000): Promise<void> =>
  waitUntil('condition', cond, { timeoutMs, intervalMs: 5 })

/** `nowMs` at which a token with `exp` has `ms` left before it expires (tolerance included). */
const msBeforeExpiry = (exp: number, ms: number): number => (exp + 30) * 1000 - ms

t.test('connection ids are unique and growing', async (t) => {
  const a = nextConnectionId()
  const b = nextConnectionId()
  t.ok(b > a)
})

t.test('send writes text frames', async (t) => {
  const { conn, ws } = setup(t)
  const frame = Buffer.from('{"type":"pong"}')
  conn.send(frame)
  t.equal(ws.sent[0], frame, 'the very Buffer, not a copy')
  conn.sendError('BadRequest', 'nope', '42')
  t.strictSame(ws.frames()[1], {
    type: 'error',
    code: 'BadRequest',
    message: 'nope',
    room_id: '42',
  })
})

t.test('backpressure: a slow consumer is closed with 4009, then never written to', async (t) => {
  const { conn, ws } = setup(t)
  ws.bufferedAmount = 1000
  conn.send(Buffer.from('{}'))
  t.equal(ws.sent.length, 1, 'exactly at the limit: still sent')
  ws.bufferedAmount = 1001
  conn.send(Buffer.from('{}'))
  t.equal(ws.sent.length, 1, 'over the limit: not sent')
  t.same(ws.closes, [{ code: 4009, reason: 'slow consumer' }])
  t.ok(conn.closed)
  ws.bufferedAmount = 0
  conn.send(Buffer.from('{}'))
  conn.sendError('BadRequest', 'x')
  t.equal(ws.sent.length, 1, 'nothing is sent after the close')
  t.equal(ws.closes.length, 1, 'closed once')
})

t.test('overflow closes with 4009', async (t) => {
  const { conn, ws } = setup(t)
  conn.overflow()
  conn.overflow()
  t.same(
    ws.closes.map((c) => c.code),
    [4009],
  )
})

t.test('close is idempotent and falls back to terminate', async (t) => {
  const { conn, ws } = setup(t)
  conn.close(CLOSE.MALFORMED, 'detail')
  conn.close(CLOSE.NORMAL)
  t.same(ws.closes, [{ code: 4000, reason: 'too many malformed frames' }])
  const other = setup(t)
  other.ws.closeThrows = true
  other.conn.close(CLOSE.GOING_AWAY)
  t.equal(other.ws.terminated, 1)
  t.ok(other.conn.closed)
})

t.test('closedByPeer: nothing sent afterwards', async (t) => {
  const { conn, ws } = setup(t)
  conn.closedByPeer()
  conn.send(Buffer.from('{}'))
  t.same(ws.sent, [])
})

t.test('countFrame: maxFramesPerSecond averaged over a 10 s window', async (t) => {
  const { conn } = setup(t, { maxFramesPerSecond: 2 })
  const start = 1_767_225_600_000
  for (let i = 1; i <= 20; i++) t.ok(conn.countFrame(start + i), `frame ${i} of 20`)
  t.notOk(conn.countFrame(start + 100), 'the 21st within the window is refused')
  // The window opened with the first frame, at start + 1.
  t.notOk(conn.countFrame(start + 10_000), 'still the same window')
  t.ok(conn.countFrame(start + 10_001), 'a new window starts 10 s after the first frame')
  for (let i = 2; i <= 20; i++) t.ok(conn.countFrame(start + 10_001 + i))
  t.notOk(conn.countFrame(start + 10_500), 'and has the same allowance')
})

t.test('countMalformed: maxMalformedFrames allowed, then refused', async (t) => {
  const { conn } = setup(t, { maxMalformedFrames: 3 })
  t.ok(conn.countMalformed())
  t.ok(conn.countMalformed())
  t.ok(conn.countMalformed())
  t.notOk(conn.countMalformed())
  t.notOk(conn.countMalformed())
})

t.test('applyToken takes identity and reports whether it was expired', async (t) => {
  const { conn } = setup(t)
  const now = Date.now()
  const exp = Math.floor(now / 1000) + 3600
  t.equal(conn.applyToken(claims(exp, 101, ['@a']), now), false)
  t.equal(conn.userId, 101)
  t.same([...conn.groups], ['@a'])
  t.equal(conn.exp, exp)
  t.ok(conn.authenticated)
  t.notOk(conn.expired)
  t.equal(conn.applyToken(claims(exp + 10, 101, ['@b']), now), false, 'a refresh before expiry')
  t.same([...conn.groups], ['@b'], 'the new rights replace the old ones')
})

t.test('expiry: JWTExpired once, then 4001 after the grace', async (t) => {
  const { conn, ws } = setup(t, { expiredGraceMs: 40 })
  const exp = 1_767_225_600
  conn.applyToken(claims(exp), msBeforeExpiry(exp, 10))
  t.notOk(conn.expired, 'not yet')
  await until(() => conn.expired)
  const errors = ws.frames().filter((f) => f.type === 'error')
  t.match(errors, [{ type: 'error', code: 'JWTExpired' }])
  t.equal(ws.closes.length, 0, 'still open during the grace')
  await until(() => ws.closes.length > 0)
  t.same(
    ws.closes.map((c) => c.code),
    [4001],
  )
  t.equal(ws.frames().filter((f) => f.code === 'JWTExpired').length, 1, 'JWTExpired was sent once')
})

t.test('a refresh during the grace keeps the connection and reports the expiry', async (t) => {
  const { conn, ws } = setup(t, { expiredGraceMs: 60 })
  const exp = 1_767_225_600
  conn.applyToken(claims(exp), msBeforeExpiry(exp, 5))
  await until(() => conn.expired)
  const next = exp + 3600
  t.equal(conn.applyToken(claims(next), msBeforeExpiry(next, 3_600_000)), true, 'wasExpired')
  t.notOk(conn.expired)
  await sleep(150)
  t.same(ws.closes, [], 'the grace timer was cancelled')
  t.equal(ws.frames().filter((f) => f.code === 'JWTExpired').length, 1)
})

t.test('a refresh before expiry cancels the pending expiry', async (t) => {
  const { conn, ws } = setup(t)
  const exp = 1_767_225_600
  conn.applyToken(claims(exp), msBeforeExpiry(exp, 30))
  conn.applyToken(claims(exp + 3600), msBeforeExpiry(exp, 30))
  await sleep(100)
  t.notOk(conn.expired)
  t.same(ws.sent, [])
})

t.test('an expiry beyond the timer range does not fire early', async (t) => {
  const { conn, ws } = setup(t)
  const now = Date.now()
  conn.applyToken(claims(Math.floor(now / 1000) + 40 * 86400), now)
  await sleep(50)
  t.notOk(conn.expired, '40 days away is more than 2^31 ms: not expired now')
  t.same(ws.sent, [])
})

t.test('close stops the expiry timers', async (t) => {
  const { conn, ws } = setup(t)
  const exp = 1_767_225_600
  conn.applyToken(claims(exp), msBeforeExpiry(exp, 10))
  conn.close(CLOSE.NORMAL)
  await sleep(80)
  t.notOk(conn.expired)
  t.same(ws.sent, [], 'no JWTExpired after close')
  t.equal(ws.closes.length, 1)
})

t.test('auth timeout: 4001 unless subscribed in time', async (t) => {
  const late = setup(t)
  late.conn.startAuthTimeout(20)
  await until(() => late.ws.closes.length > 0)
  t.same(
    late.ws.closes.map((c) => c.code),
    [4001],
  )
  const onTime = setup(t)
  onTime.conn.startAuthTimeout(20)
  onTime.conn.subscribed()
  await sleep(80)
  t.same(onTime.ws.closes, [])
})

t.test('fail closes with 1011, once', async (t) => {
  const { conn, ws } = setup(t)
  conn.fail()
  conn.fail()
  t.same(ws.closes, [{ code: 1011, reason: 'internal error' }])
})

t.test('batching: one cork per turn, flushed after it or once it holds enough', async (t) => {
  const ws = new FakeSocket()
  const stream = { corks: 0, uncorks: 0 }
  const batch = new WriteBatch()
  const conn = new Connection(
    nextConnectionId(),
    ws,
    log,
    { ...LIMITS, slowConsumerBytes: 1 << 20 },
    {
      batching: {
        stream: { cork: () => void (stream.corks += 1), uncork: () => void (stream.uncorks += 1) },
        batch,
      },
    },
  )
  t.teardown(() => {
    conn.close(CLOSE.NORMAL)
  })
  conn.send(Buffer.from('{"a":1}'))
  conn.send(Buffer.from('{"a":2}'))
  t.same([stream.corks, stream.uncorks, ws.sent.length], [1, 0, 2], 'both frames held in one cork')
  await new Promise((resolve) => setImmediate(resolve))
  t.same([stream.corks, stream.uncorks], [1, 1], 'released after the turn')

  const frame = Buffer.from('{"a":3}')
  ws.bufferedAmount = BATCH_FLUSH_BYTES - frame.length // held already
  conn.send(frame)
  t.same([stream.corks, stream.uncorks], [2, 1], 'exactly BATCH_FLUSH_BYTES held: still held')
  conn.send(Buffer.from('{"a":3.5}'))
  t.same(
    [stream.corks, stream.uncorks],
    [2, 2],
    'more than BATCH_FLUSH_BYTES held: flushed at once',
  )
  ws.bufferedAmount = 0
  conn.send(Buffer.from('{"a":4}'))
  t.equal(stream.corks, 3, 'the next frame of the same turn is held again')
  await new Promise((resolve) => setImmediate(resolve))
  t.ok(stream.uncorks >= 3, 'and released')
  t.same(
    ws.frames().map((f) => f.a),
    [1, 2, 3, 3.5, 4],
    'every frame written, in order',
  )
})

t.test('batching holds less than half of slow_consumer_bytes', async (t) => {
  const ws = new FakeSocket()
  let uncorks = 0
  const conn = new Connection(
    nextConnectionId(),
    ws,
    log,
    { ...LIMITS, slowConsumerBytes: 1000 },
    {
      batching: {
        stream: { cork: () => undefined, uncork: () => void (uncorks += 1) },
        batch: new WriteBatch(),
      },
    },
  )
  t.teardown(() => {
    conn.close(CLOSE.NORMAL)
  })
  ws.bufferedAmount = 501
  conn.send(Buffer.from('{}'))
  t.equal(uncorks, 1, 'flushed at once')
  t.same(ws.closes, [], 'and not taken for a slow consumer')
})

t.test('the uuid is fixed once, by the first subscribe', async (t) => {
  const { conn } = setup(t)
  t.notOk(conn.uuidFixed)
  t.equal(conn.uuid, null)
  conn.fixUuid('tab-a')
  t.ok(conn.uuidFixed)
  conn.fixUuid('tab-b')
  t.equal(conn.uuid, 'tab-a', 'a later subscribe does not change it')
  const none = setup(t).conn
  none.fixUuid(null)
  none.fixUuid('tab-c')
  t.equal(none.uuid, null, 'no uuid at the first subscribe: none for the connection')
})

t.test('ping: a peer that answered is pinged, a silent one terminated', async (t) => {
  const { conn, ws } = setup(t)
  conn.ping()
  t.equal(ws.pings, 1)
  t.notOk(conn.alive)
  conn.markAlive()
  conn.ping()
  t.equal(ws.pings, 2)
  conn.ping()
  t.equal(ws.terminated, 1, 'no answer to the previous ping')
  conn.terminate()
  t.equal(ws.terminated, 2, 'terminate() destroys the socket at once')
})

t.test('refusals go to the summariser it was made with, under its address', async (t) => {
  const { lines, log: summaryLog } = recordingLog()
  const refusals = new RefusalSummariser(summaryLog)
  t.teardown(() => refusals.close())
  const conn = new Connection(nextConnectionId(), new FakeSocket(), log, LIMITS, {
    address: '192.0.2.7',
    refusals,
  })
  t.equal(conn.address, '192.0.2.7')
  conn.sendError('BadRequest', 'not JSON')
  conn.sendError('BadRequest', 'not JSON')
  conn.close(CLOSE.MALFORMED)
  refusals.flush()
  t.match(lines, [
    { msg: 'refused', address: '192.0.2.7', reason: 'BadRequest', endpoint: 'ws' },
    { msg: 'refused', address: '192.0.2.7', reason: 'close_4000', endpoint: 'ws' },
    { msg: 'refusals summarised', address: '192.0.2.7', reason: 'BadRequest', count: 2 },
  ])
  t.equal(lines.length, 3)
})

t.test('a thousand connections of one address failing every way: six lines', async (t) => {
  const { lines, log: recorded } = recordingLog('info')
  const refusals = new RefusalSummariser(recorded)
  t.teardown(() => refusals.close())
  const utf8 = Object.assign(new Error('Invalid UTF-8 sequence'), { code: 'WS_ERR_INVALID_UTF8' })
  let terminated = 0
  for (let i = 0; i < 1000; i++) {
    const ws = new FakeSocket()
    const conn = new Connection(nextConnectionId(), ws, recorded, LIMITS, {
      address: '192.0.2.7',
      refusals,
    })
    if (i % 3 === 0) {
      conn.peerError(utf8)
    } else if (i % 3 === 1) {
      conn.close(i % 2 === 0 ? CLOSE.SLOW_CONSUMER : CLOSE.INTERNAL)
    } else {
      conn.ping()
      conn.ping() // no pong in between: terminated
      terminated += ws.terminated
    }
  }
  t.equal(terminated, 333, 'silent peers terminated, at debug')
  refusals.flush()
  t.same(
    lines.map((l) => [l.msg, l.address, l.reason, l.count]),
    [
      ['refused', '192.0.2.7', 'WS_ERR_INVALID_UTF8', undefined],
      ['refused', '192.0.2.7', 'close_1011', undefined],
      ['refused', '192.0.2.7', 'close_4009', undefined],
      ['refusals summarised', '192.0.2.7', 'WS_ERR_INVALID_UTF8', 334],
      ['refusals summarised', '192.0.2.7', 'close_1011', 167],
      ['refusals summarised', '192.0.2.7', 'close_4009', 166],
    ],
  )
})

/** A socket.io socket as a hub member, on a fake socket: deliveries, control frames, limits, expiry. */
import { Clock } from '@tapjs/clock'
import t from 'tap'
import { RefusalSummariser } from '../../src/log-summary.js'
import { messageFrame, presenceFrame, resyncFrame } from '../../src/protocol/server-frames.js'
import type { MemberContext, SocketIoMember } from '../../src/socketio/member.js'
import { WriteBatch } from '../../src/ws/write-batch.js'
import { recordingLog } from '../helpers/fakes.js'
import { nowS } from '../helpers/tokens.js'
import { nextStored } from '../helpers/messages.js'
import { fakeMember } from './sio-fakes.js'

const claims = (userId: number, exp: number) => ({
  userId,
  groups: new Set(['@site_active']),
  exp,
})

void t.test('a message is written once encoded, as emit(cmd, data)', async (t) => {
  const a = fakeMember()
  const b = fakeMember()
  const m = nextStored('42', 'kanban_item:move', { artifact_id: 7 })
  a.member.send(messageFrame(m))
  b.member.send(messageFrame(m))
  t.same(a.socket.written, ['2["kanban_item:move",{"artifact_id":7}]'])
  t.same(b.socket.written, a.socket.written)
  t.same(a.socket.emitted, [], 'written to Engine.IO, not emitted per socket')
  const tm = fakeMember('/testmanagement')
  tm.member.send(messageFrame(m))
  t.same(tm.socket.written, ['2/testmanagement,["kanban_item:move",{"artifact_id":7}]'])
})

void t.test('a WebSocket page’s writes of one turn leave together (corked)', async (t) => {
  const { member, socket, ctx } = fakeMember()
  ;(ctx as { batch?: MemberContext['batch'] }).batch = new WriteBatch()
  const stream = { corks: 0, uncorks: 0 }
  Object.assign(socket.conn.transport.socket, {
    _socket: {
      cork: () => (stream.corks += 1),
      uncork: () => (stream.uncorks += 1),
    },
  })
  member.send(messageFrame(nextStored('42', 'kanban:edit', 1)))
  member.send(messageFrame(nextStored('42', 'kanban:edit', 2)))
  t.same(stream, { corks: 1, uncorks: 0 }, 'corked once for the turn')
  t.equal(socket.written.length, 2)
  await new Promise((resolve) => setImmediate(resolve))
  t.same(stream, { corks: 1, uncorks: 1 }, 'uncorked at the end of the turn')
  member.send(messageFrame(nextStored('42', 'kanban:edit', 3)))
  t.same(stream, { corks: 2, uncorks: 1 }, 'a new turn, a new batch')
  await new Promise((resolve) => setImmediate(resolve))
  t.equal(stream.uncorks, 2)
})

void t.test('nothing is written to a closed, disconnected or closing socket', async (t) => {
  const m = nextStored('42', 'kanban:edit', 1)
  const gone = fakeMember()
  gone.socket.connected = false
  gone.member.send(messageFrame(m))
  const closing = fakeMember()
  closing.socket.conn.readyState = 'closing'
  closing.member.send(messageFrame(m))
  const closed = fakeMember()
  closed.member.closedByPeer()
  closed.member.send(messageFrame(m))
  t.same(
    [gone, closing, closed].flatMap((x) => x.socket.written),
    [],
  )
})

void t.test('a slow consumer is closed and counted', async (t) => {
  const { member, socket, ctx } = fakeMember('/', { slowConsumerBytes: 100 })
  socket.conn.transport.socket.bufferedAmount = 90
  member.send(messageFrame(nextStored('42', 'kanban:edit', 1)))
  t.equal(socket.written.length, 1, 'under the bound: written')
  socket.conn.writeBuffer.push({ data: 'x'.repeat(20) })
  member.send(messageFrame(nextStored('42', 'kanban:edit', 2)))
  t.equal(socket.written.length, 1, 'over it: not written')
  t.equal(ctx.slow, 1)
  t.equal(socket.disconnects, 1)
  t.ok(member.closed)
  member.overflow()
  t.equal(socket.disconnects, 1, 'closing twice disconnects once')
})

void t.test(
  'presence leave: state forgotten everywhere, user:leave for Test Management',
  async (t) => {
    const leave = presenceFrame('testmanagement_5', 'leave', { user_id: 2, uuid: 'ub' })
    const tm = fakeMember('/testmanagement')
    tm.member.send(leave)
    t.same(tm.ctx.leaves, [['testmanagement_5', 'ub']])
    t.same(tm.socket.emitted, [['user:leave', 'ub']])
    const kanban = fakeMember('/')
    kanban.member.send(leave)
    t.same(kanban.ctx.leaves, [['testmanagement_5', 'ub']])
    t.same(kanban.socket.emitted, [], 'Kanban pages do not listen to user:leave')
    tm.member.send(presenceFrame('testmanagement_5', 'join', { user_id: 3, uuid: 'uc' }))
    t.same(tm.socket.emitted.length, 1, 'joins are not events of the pages')
  },
)

void t.test('resync: Test Management reloads through error-jwt, Kanban is closed', async (t) => {
  const tm = fakeMember('/testmanagement')
  tm.member.send(resyncFrame('testmanagement_5', 'e', 9))
  t.same(tm.socket.emitted, [['error-jwt', 'JWTExpired']])
  t.equal(tm.socket.disconnects, 0)
  const kanban = fakeMember('/')
  kanban.member.send(resyncFrame('42', 'e', 9))
  t.equal(kanban.socket.disconnects, 1)
})

void t.test('events are rate-limited over a window; malformed ones are counted', async (t) => {
  const { member } = fakeMember('/', { maxEventsPerSecond: 2, maxMalformed: 2 })
  const start = 1_767_225_600_000
  let ok = 0
  for (let i = 0; i < 25; i++) if (member.countEvent(start + i)) ok += 1
  t.equal(ok, 20, '2/s averaged over 10 s')
  t.ok(member.countEvent(start + 10_000), 'a new window')
  t.ok(member.countMalformed())
  t.ok(member.countMalformed())
  t.notOk(member.countMalformed(), 'the third is one too many')
})

void t.test('auth timeout, expiry, grace, renewal (fake clock)', async (t) => {
  const clock = new Clock()
  t.teardown(clock.enter())

  const late = fakeMember()
  late.member.startAuthTimeout(1000)
  clock.advance(999)
  t.equal(late.socket.disconnects, 0)
  clock.advance(1)
  t.equal(late.socket.disconnects, 1, 'no subscription in time: closed')
  t.same(late.ctx.refusals, ['close_4001'])

  const ok = fakeMember()
  ok.member.startAuthTimeout(1000)
  ok.member.subscribed()
  clock.advance(2000)
  t.equal(ok.socket.disconnects, 0, 'subscribed: no timeout')
  t.ok(ok.member.everSubscribed)

  // Expires in 10 s, plus the 30 s clock tolerance.
  const { member, socket, ctx } = fakeMember('/', { expiredGraceMs: 5000 })
  t.equal(member.applyToken(claims(1, nowS() + 10), Date.now()), false)
  t.ok(member.authenticated)
  clock.advance(39_000)
  t.same(socket.emitted, [])
  clock.advance(1_000)
  t.same(socket.emitted, [['error-jwt', 'JWTExpired']], 'the historic event')
  t.ok(member.expired)
  t.same(ctx.refusals, ['JWTExpired'])
  t.equal(member.applyToken(claims(1, nowS() + 10), Date.now()), true, 'was expired: resume')
  t.notOk(member.expired)
  clock.advance(5_000)
  t.equal(socket.disconnects, 0, 'renewed within the grace: kept')
  clock.advance(35_000)
  t.equal(socket.emitted.length, 2, 'the new token expires in turn')
  clock.advance(5_000)
  t.equal(socket.disconnects, 1, 'not renewed within the grace: closed')
  t.same(ctx.refusals, ['JWTExpired', 'JWTExpired', 'close_4001'], 'counted as /ws counts it')
})

void t.test('closes for cause count as refusals exactly where /ws counts them', async (t) => {
  const cases: [string, string, string[]][] = [
    ['close_4000', 'malformed', ['close_4000']],
    ['close_4008', 'rate limited', ['close_4008']],
    ['close_4009', 'slow consumer', []],
    ['close_1011', 'internal error', []],
    ['resync', 'messages were lost', []],
  ]
  for (const [code, why, counted] of cases) {
    const { member, ctx } = fakeMember()
    member.close(why, code)
    member.close(why, code)
    t.same(ctx.refusals, counted, `${code}: once, if a refusal`)
  }
})

void t.test('a token expiring beyond the timer range is re-armed, not fired', async (t) => {
  const clock = new Clock()
  t.teardown(clock.enter())
  const { member, socket } = fakeMember()
  member.applyToken(claims(1, nowS() + 40 * 86_400), Date.now())
  clock.advance(2 ** 31 - 1)
  t.same(socket.emitted, [], 'after 24.8 days: re-armed')
  clock.advance(40 * 86_400_000 - (2 ** 31 - 1) + 30_000)
  t.same(socket.emitted, [['error-jwt', 'JWTExpired']])
})

void t.test('a thousand pages of one address closed for cause: six lines', async (t) => {
  const { lines, log } = recordingLog('info')
  const refusals = new RefusalSummariser(log)
  t.teardown(() => refusals.close())
  const causes: ((m: SocketIoMember) => void)[] = [
    (m) => m.overflow(),
    (m) => m.fail(),
    (m) => m.send(resyncFrame('42', 'e', 9)),
    (m) => m.close('a subscription refused (logged as such)'),
  ]
  let closed = 0
  for (let i = 0; i < 1000; i++) {
    const { member } = fakeMember('/', {}, { log, refusalLog: refusals, address: '192.0.2.9' })
    causes[i % causes.length]!(member)
    if (member.closed) closed += 1
  }
  t.equal(closed, 1000)
  refusals.flush()
  t.same(
    lines.map((l) => [l.msg, l.address, l.reason, l.count]),
    [
      ['refused', '192.0.2.9', 'close_4009', undefined],
      ['refused', '192.0.2.9', 'close_1011', undefined],
      ['refused', '192.0.2.9', 'resync', undefined],
      ['refusals summarised', '192.0.2.9', 'close_4009', 250],
      ['refusals summarised', '192.0.2.9', 'close_1011', 250],
      ['refusals summarised', '192.0.2.9', 'resync', 250],
    ],
  )
})

import { Clock } from '@tapjs/clock'
import t from 'tap'
import { decodeTokenExp } from '../../src/client/index.js'
import {
  MAX_TIMER_DELAY_MS,
  MIN_REFRESH_DELAY_MS,
  refreshDelay,
  TokenSource,
} from '../../src/client/token.js'
import {
  flush,
  harness,
  helloIn42,
  makeToken,
  subscribed,
  T0,
  TOKEN_LIFETIME_S,
} from './harness.js'

const MINUTE = 60_000

t.test('decodeTokenExp reads exp from a base64url payload, without verifying', async (t) => {
  t.equal(decodeTokenExp(makeToken({ exp: 1767225600 })), 1767225600)
  t.equal(decodeTokenExp(makeToken({ exp: 1767225600.5 })), 1767225600.5, 'fractional')
  // "?>?" encodes to base64 "Pz4/" which base64url spells "Pz4_"; UTF-8 names decode too.
  const token = makeToken({ s: '?>?>>', name: 'Édouard 東京', exp: 42 })
  t.match(token.split('.')[1], /[-_]/, 'the payload uses the base64url alphabet')
  t.equal(decodeTokenExp(token), 42)
  for (const bad of [
    '',
    'abc',
    'a..c',
    'a.!!!.c',
    `a.${Buffer.from('[1]').toString('base64url')}.c`,
    `a.${Buffer.from('null').toString('base64url')}.c`,
    makeToken({ exp: '1767225600' }),
    makeToken({ data: { user_id: 1 } }),
  ]) {
    t.equal(decodeTokenExp(bad), null, `null for ${JSON.stringify(bad)}`)
  }
})

t.test(
  'refreshDelay: 5 minutes before exp, halfway for short tokens, never under 30 s',
  async (t) => {
    const now = T0
    t.equal(refreshDelay(now + 30 * MINUTE, now, 5 * MINUTE), 25 * MINUTE)
    t.equal(refreshDelay(now + 8 * MINUTE, now, 5 * MINUTE), 4 * MINUTE)
    t.equal(refreshDelay(now + 10_000, now, 5 * MINUTE), MIN_REFRESH_DELAY_MS)
    t.equal(refreshDelay(now - MINUTE, now, 5 * MINUTE), MIN_REFRESH_DELAY_MS, 'already expired')
    t.equal(
      refreshDelay(now + 365 * 24 * 60 * MINUTE, now, 5 * MINUTE),
      MAX_TIMER_DELAY_MS,
      'a far exp does not overflow the timer (which would fire at once, in a loop)',
    )
  },
)

t.test(
  'TokenSource: one getToken call for concurrent fetches; a throw does not stick',
  async (t) => {
    const clock = new Clock()
    let calls = 0
    const source = new TokenSource(
      () => {
        calls += 1
        if (calls === 2) throw new Error('sync failure')
        if (calls === 3) return ''
        return `t${calls}`
      },
      clock,
      5 * MINUTE,
      () => undefined,
    )
    t.same(await Promise.all([source.fetch(), source.fetch()]), ['t1', 't1'])
    t.equal(calls, 1)
    await t.rejects(source.fetch(), { message: 'sync failure' })
    await t.rejects(source.fetch(), TypeError, 'an empty token is refused')
    t.equal(await source.fetch(), 't4', 'each failure lets the next fetch ask again')
    t.equal(source.token, 't4')
    t.ok(source.usable(30_000), 'a token without exp is usable')
    source.invalidate()
    t.notOk(source.usable(30_000))
  },
)

t.test('the token is refreshed 5 minutes before exp with a token frame', async (t) => {
  const h = harness(t)
  const ws = await h.connect('42')
  ws.deliver(subscribed('42', 0))
  await h.tick(TOKEN_LIFETIME_S * 1000 - 5 * MINUTE - 1)
  t.equal(h.tokens.length, 1, 'not yet')
  t.same(ws.sentOf('token'), [])
  await h.tick(1)
  t.equal(h.tokens.length, 2, 'getToken called 5 minutes before exp')
  t.same(ws.sentOf('token'), [{ type: 'token', token: h.tokens[1] }])
  ws.deliver({ type: 'token', exp: h.clock.now() / 1000 + TOKEN_LIFETIME_S })
  await h.tick(25 * MINUTE)
  t.equal(h.tokens.length, 3, 'and again 25 minutes after, from the new exp')
  t.equal(h.sockets.length, 1, 'on the same connection')
  t.equal(h.client.state, 'open')
  t.same(h.errors, [])
})

t.test('the refresh follows the option refreshBeforeExpiryMs', async (t) => {
  const h = harness(t, { refreshBeforeExpiryMs: 2 * MINUTE })
  const ws = await h.connect('42')
  ws.deliver(subscribed('42', 0))
  await h.tick(28 * MINUTE - 1)
  t.equal(h.tokens.length, 1)
  await h.tick(1)
  t.equal(h.tokens.length, 2)
})

t.test(
  'JWTExpired: refresh at once; a subscribe refused as expired goes again after',
  async (t) => {
    const h = harness(t)
    const ws = await h.connect('42')
    ws.deliver(subscribed('42', 0))
    h.client.subscribe('43', { onMessage: () => undefined })
    t.same(ws.sentOf('subscribe')[1], { type: 'subscribe', room_id: '43', uuid: 'tab-1' })
    ws.deliver({ type: 'error', code: 'JWTExpired', message: 'token expired', room_id: '43' })
    await flush()
    t.equal(h.tokens.length, 2, 'getToken called')
    t.same(ws.sentOf('token'), [{ type: 'token', token: h.tokens[1] }])
    t.equal(ws.sentOf('subscribe').length, 2, 'waits for the relay to accept the token')
    ws.deliver({ type: 'token', exp: T0 / 1000 + 3600 })
    t.same(ws.sentOf('subscribe')[2], { type: 'subscribe', room_id: '43', uuid: 'tab-1' })
    t.same(h.errors, [], 'handled, not reported')
  },
)

t.test('JWTExpired twice while a refresh is under way sends one token frame', async (t) => {
  const h = harness(t)
  const ws = await h.connect('42')
  ws.deliver(subscribed('42', 0))
  ws.deliver({ type: 'error', code: 'JWTExpired', message: 'token expired' })
  ws.deliver({ type: 'error', code: 'JWTExpired', message: 'token expired' })
  await flush()
  t.equal(h.tokens.length, 2)
  t.equal(ws.sentOf('token').length, 1)
})

t.test('a failed refresh is a TokenUnavailable error; the connection stays', async (t) => {
  let calls = 0
  const h = harness(t, {
    getToken: () => {
      calls += 1
      return calls === 1
        ? makeToken({ exp: T0 / 1000 + 1800 })
        : Promise.reject(new Error('session ended'))
    },
  })
  const ws = await h.connect('42')
  ws.deliver(subscribed('42', 0))
  ws.deliver({ type: 'error', code: 'JWTExpired', message: 'token expired' })
  await flush()
  t.equal(calls, 2)
  t.match(h.errors, [{ code: 'TokenUnavailable', message: /session ended/ }])
  t.same(ws.sentOf('token'), [])
  t.equal(h.client.state, 'open')
})

t.test('a token that expires within 30 s is not presented on a new connection', async (t) => {
  let calls = 0
  const h = harness(t, {
    getToken: () => {
      calls += 1
      // The first token expires in 40 s; the next ones in 30 min.
      return makeToken({ exp: (h.clock.now() + (calls === 1 ? 40_000 : 30 * MINUTE)) / 1000 })
    },
  })
  const ws = await h.connect('42')
  ws.deliver(subscribed('42', 0))
  await h.tick(15_000)
  ws.serverClose(1001)
  await h.nextSocket()
  t.equal(calls, 2, 'a fresh token for the new connection')
})

t.test('a token refreshed before the first subscribed is sent once authenticated', async (t) => {
  const h = harness(t)
  const ws = await helloIn42(h)
  ws.deliver({ type: 'error', code: 'JWTExpired', message: 'expired' })
  await flush()
  t.same(ws.sentOf('token'), [], 'not authenticated yet: no token frame')
  ws.deliver(subscribed('42', 0))
  t.same(ws.sentOf('token'), [{ type: 'token', token: h.tokens[1] }])
})

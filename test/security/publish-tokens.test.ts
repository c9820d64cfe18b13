/**
 * Hostile publish tokens (POST /message, docs/protocol.md §1, §3): each one gets its exact
 * refusal (status and catalogue code), is never broadcast, and the relay keeps serving
 * a legitimate publish → subscribe round trip right after it.
 */
import { request as httpsRequest } from 'node:https'
import t, { type Test } from 'tap'
import { testCert } from '../helpers/certs.js'
import { startRelay, type Frame } from '../helpers/relay.js'
import { kanbanRights, nowS, publishToken, signRaw, subscriberToken } from '../helpers/tokens.js'
import { hostileTokens, validToken, type Refusal } from './hostile.js'

const ROOM = 'security-publish'
const CODES: Record<Refusal, string> = {
  invalid: 'RELAY_ERR_AUTH_INVALID',
  expired: 'RELAY_ERR_AUTH_EXPIRED',
  'not-yet-valid': 'RELAY_ERR_AUTH_NOT_YET_VALID',
}

const relay = await startRelay(t, { publish_rate_per_minute: 100_000 })
const watcher = await relay.connect()
await watcher.subscribe({
  room_id: ROOM,
  token: subscriberToken(1, ['@site_active', '@ug_9999']),
  uuid: 'watcher',
})
let sequence = 0

/**
 * A legitimate publish is accepted and is the very next frame the watcher gets: the
 * relay still serves, and nothing refused before it was broadcast.
 */
async function stillServes(t: Test, after: string): Promise<void> {
  sequence += 1
  const res = await relay.publish({
    message: { room_id: ROOM, cmd: 'legit:after', data: { sequence, after } },
  })
  t.equal(res.status, 200, `a legitimate publish is accepted after: ${after}`)
  const frame = await watcher.next()
  t.match(
    frame,
    { type: 'message', room_id: ROOM, cmd: 'legit:after', data: { sequence } },
    `the next frame is that legitimate message (nothing leaked from: ${after})`,
  )
}

async function refused(
  t: Test,
  name: string,
  body: string,
  status: number,
  error: string,
  reason: RegExp = /./,
): Promise<void> {
  const res = await relay.post(body)
  t.equal(res.status, status, `${name}: HTTP ${status}`)
  t.equal(res.body.error, error, `${name}: ${error}`)
  t.match(res.body.message, reason, `${name}: refused because ${String(reason)}`)
  await stillServes(t, name)
}

const message = { room_id: ROOM, cmd: 'attack:inject', data: { evil: true } }

t.test('every hostile token variant is refused with its code', async (t) => {
  const control = await relay.post(validToken({ message }))
  t.equal(control.status, 200, 'control: the untampered token is accepted')
  t.match(await watcher.next(), { type: 'message', cmd: 'attack:inject' })
  const cases = hostileTokens({ message })
  t.ok(cases.length > 50, `${cases.length} variants`)
  for (const c of cases) await refused(t, c.name, c.token, 401, CODES[c.refusal], c.reason)
})

t.test('a missing token and wrong content types', async (t) => {
  await refused(t, 'empty body', '', 401, 'RELAY_ERR_AUTH_MISSING')
  const res = await relay.post(publishToken({ message }), 'application/json')
  t.equal(res.status, 415, 'application/json is not a token (unsigned mode is off)')
  t.equal(res.body.error, 'RELAY_ERR_PUBLISH_CONTENT_TYPE')
  const form = await relay.post(publishToken({ message }), 'application/x-www-form-urlencoded')
  t.equal(form.status, 415)
  await stillServes(t, 'wrong content types')
})

t.test('publish token lifetime', async (t) => {
  await refused(
    t,
    'exp an hour away (cap 300 s)',
    signRaw({ alg: 'HS512' }, { exp: nowS() + 3600, message }),
    401,
    'RELAY_ERR_AUTH_LIFETIME',
  )
  await refused(
    t,
    'exp a year away',
    signRaw({ alg: 'HS512' }, { exp: nowS() + 365 * 86400, message }),
    401,
    'RELAY_ERR_AUTH_LIFETIME',
  )
  const atCap = await relay.post(signRaw({ alg: 'HS512' }, { exp: nowS() + 300, message }))
  t.equal(atCap.status, 200, 'exp exactly at the cap is accepted')
  t.match(await watcher.next(), { type: 'message', cmd: 'attack:inject' })
  await stillServes(t, 'lifetime at the cap')
})

t.test('a subscriber token cannot publish', async (t) => {
  await refused(
    t,
    'subscriber token',
    subscriberToken(101, ['@site_active']),
    401,
    'RELAY_ERR_AUTH_WRONG_KIND',
  )
})

t.test('bodies over max_publish_bytes: 413, declared or chunked', async (t) => {
  const big = publishToken({ message: { ...message, data: 'x'.repeat(300 * 1024) } })
  t.ok(big.length > relay.config.max_publish_bytes)
  await refused(t, 'declared Content-Length', big, 413, 'RELAY_ERR_PUBLISH_TOO_LARGE')

  // Chunked, without Content-Length: refused once the limit is crossed, not read whole.
  const cert = testCert()
  const answer = await new Promise<{ status: number; body: string }>((resolve, reject) => {
    const req = httpsRequest(
      {
        host: '127.0.0.1',
        port: relay.port,
        path: '/message',
        method: 'POST',
        ca: cert.cert,
        agent: false,
        headers: { 'content-type': 'application/jwt', 'transfer-encoding': 'chunked' },
      },
      (res) => {
        let body = ''
        res.setEncoding('utf8')
        res.on('data', (c: string) => (body += c))
        res.on('end', () => {
          resolve({ status: res.statusCode ?? 0, body })
        })
      },
    )
    req.on('error', reject)
    for (let i = 0; i < big.length; i += 16 * 1024) req.write(big.slice(i, i + 16 * 1024))
    req.end()
  })
  t.equal(answer.status, 413)
  t.match(JSON.parse(answer.body), { error: 'RELAY_ERR_PUBLISH_TOO_LARGE' })
  await stillServes(t, 'chunked oversize body')
})

t.test('message rights with 10,000 groups are accepted and evaluated', async (t) => {
  const groups = Array.from({ length: 10_000 }, (_, i) => `@ug_${i}`)
  const res = await relay.publish({
    message: {
      room_id: ROOM,
      cmd: 'rights:large',
      data: null,
      rights: kanbanRights({ tracker: groups }),
    },
  })
  t.equal(res.status, 200, '10,000 tracker groups fit in max_publish_bytes')
  t.match(
    await watcher.next(),
    { type: 'message', cmd: 'rights:large' },
    'the watcher (in @ug_9999, the last group) receives it',
  )
  const outsider = await relay.connect()
  await outsider.subscribe({ room_id: ROOM, token: subscriberToken(2, ['@ug_10000']), uuid: 'o' })
  const second = await relay.publish({
    message: { room_id: ROOM, cmd: 'rights:large', rights: kanbanRights({ tracker: groups }) },
  })
  t.equal(second.status, 200)
  t.match(await watcher.next(), { type: 'message', cmd: 'rights:large' })
  t.ok(await outsider.silentFor(150), 'a subscriber in none of the 10,000 groups gets nothing')
  outsider.close()
  await stillServes(t, '10,000-group rights')
})

t.test('a replayed jti is answered duplicate and not broadcast twice', async (t) => {
  const token = publishToken({ jti: 'replay-1', message: { ...message, cmd: 'jti:once' } })
  const first = await relay.post(token)
  t.equal(first.status, 200)
  t.notOk(first.body.duplicate)
  t.match(await watcher.next(), { type: 'message', cmd: 'jti:once' })
  for (let i = 0; i < 3; i++) {
    const again = await relay.post(token)
    t.equal(again.status, 200, 'a replay is 200 (the backend may retry)')
    t.same(again.body, { ...first.body, duplicate: true }, 'with the first answer and duplicate')
  }
  const sameJtiOtherBody = await relay.publish({
    jti: 'replay-1',
    message: { ...message, cmd: 'jti:other' },
  })
  t.equal(sameJtiOtherBody.body.duplicate, true, 'the jti, not the body, is the key')
  await stillServes(t, 'replayed jti')
})

/** Frames the watcher got out of order would make the assertions above lie: none are left. */
t.test('nothing else reached the watcher', async (t) => {
  const extra: Frame[] = watcher.frames.splice(0)
  t.same(extra, [])
})

t.test('unsigned legacy mode: loopback only, never through a proxy', async (t) => {
  const legacy = await startRelay(t, { allow_unsigned_loopback_publish: true })
  const client = await legacy.connect()
  await client.subscribe({ room_id: ROOM, token: subscriberToken(1, ['@a']), uuid: 'l' })
  const body = JSON.stringify({ ...message, cmd: 'legacy:unsigned' })

  for (const [name, value] of [
    ['forwarded', 'for=203.0.113.9'],
    ['x-forwarded-for', '203.0.113.9'],
    ['x-real-ip', '203.0.113.9'],
    ['x-forwarded-for', '127.0.0.1'],
  ] as const) {
    const res = await legacy.post(body, 'application/json', { [name]: value })
    t.equal(res.status, 401, `${name}: ${value} means a proxy relayed it: 401`)
    t.equal(res.body.error, 'RELAY_ERR_AUTH_UNSIGNED_NOT_LOOPBACK')
  }
  const direct = await legacy.post(body, 'application/json')
  t.equal(direct.status, 200, 'directly from loopback: accepted')
  t.match(await client.next(), { type: 'message', cmd: 'legacy:unsigned' }, 'only that one')
})

/**
 * A bounded soak: every hostile shape of this suite at once (stray Upgrade requests, room
 * floods, unauthenticated sockets, bad publishes, a rate-limit flood, requests without
 * Host, token frames before any subscribe) alongside legitimate subscribers and a
 * legitimate publisher. Every legitimate message arrives, in order; the log stays a
 * bounded number of lines without a token or key in it; and once it is over the relay's
 * file descriptors and heap are back where they started (the relay runs in this process:
 * /proc/self/fd counts both ends).
 */
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import t from 'tap'
import { TEST_KEY } from '../helpers/config.js'
import { logSink } from '../helpers/logs.js'
import { startRelay, type TestClient } from '../helpers/relay.js'
import { kanbanRights, publishToken, subscriberToken } from '../helpers/tokens.js'
import { until, within } from '../helpers/wait.js'
import { WRONG_KEY } from './hostile.js'
import { fdCount, pause, rawExchange } from './raw-http.js'

setFlagsFromString('--expose-gc')
const gc = runInNewContext('gc') as () => void

async function settled(): Promise<{ heap: number; fds: number }> {
  for (let i = 0; i < 3; i++) {
    gc()
    await pause(50)
  }
  return { heap: process.memoryUsage().heapUsed, fds: fdCount() }
}

const LEGIT_MESSAGES = 60
const SUBSCRIBERS = 3
const PROTOCOL_ROUNDS = 30
/** About 500 refusals of eight kinds from a handful of addresses: a few summaries (7 seen). */
const MAX_LOG_LINES = 20

t.test('hostile traffic alongside legitimate traffic', async (t) => {
  // It takes 4 to 10 s; every wait inside is bounded too. Two minutes, well inside tap's
  // per-file 180 s, fails a run that hangs instead of letting tap kill the file.
  t.setTimeout(120_000)
  const log = logSink()
  const relay = await startRelay(
    t,
    {
      trusted_proxies: ['127.0.0.1'],
      publish_rate_per_minute: 200,
      max_unauthenticated_per_address: 5,
      max_frames_per_second: 1000,
      max_rooms_per_connection: 101,
    },
    { logger: log.logger },
  )
  const backend = { 'x-forwarded-for': '10.0.0.1' }
  const attacker = { 'x-forwarded-for': '10.0.0.66' }
  const token = subscriberToken(101, ['@site_active'])
  const warmup = await relay.connect()
  await warmup.subscribe({ room_id: 'warmup', token })
  warmup.close()
  await warmup.closed
  const start = await settled()

  const subscribers: TestClient[] = []
  for (let i = 0; i < SUBSCRIBERS; i++) {
    const c = await relay.connect({ headers: { 'x-forwarded-for': `10.1.0.${i}` } })
    t.equal((await c.subscribe({ room_id: 'legit', token })).type, 'subscribed')
    subscribers.push(c)
  }

  const legit = (async () => {
    for (let i = 0; i < LEGIT_MESSAGES; i++) {
      const message = {
        room_id: 'legit',
        cmd: 'kanban_item:move',
        data: { i },
        rights: kanbanRights(),
      }
      const r = await relay.request('POST', '/message', publishToken({ message }), {
        'content-type': 'application/jwt',
        ...backend,
      })
      if (r.status !== 200) throw new Error(`legitimate publish ${i}: ${r.status}`)
      await pause(20)
    }
  })()

  const strayUpgrades = (async () => {
    for (let i = 0; i < 40; i++) {
      const path = ['/health', '/nope', '/message'][i % 3]!
      await rawExchange(
        { app: relay.app, port: relay.port, tls: true },
        `GET ${path} HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n`,
        200,
      )
    }
  })()

  const roomFlood = (async () => {
    const c = await relay.connect({ headers: attacker })
    await c.subscribe({ room_id: 'flood-0', token })
    for (let batch = 0; batch < 20; batch++) {
      for (const type of ['subscribe', 'unsubscribe']) {
        for (let i = 0; i < 100; i++) c.send({ type, room_id: `flood-${batch}-${i}` })
        for (let i = 0; i < 100; i++) {
          const f = await c.next(10_000)
          if (f.type !== `${type}d`) throw new Error(`room flood: ${JSON.stringify(f)}`)
        }
      }
    }
    c.close()
    await c.closed
  })()

  const unauthenticated = (async () => {
    const held = []
    for (let i = 0; i < 5; i++) held.push(await relay.connect({ headers: attacker }))
    let refused = 0
    for (let i = 0; i < 30; i++) {
      const c = relay.open({ headers: attacker })
      if ((await within(c.closed, 5000, 'refused socket')).code === 4008) refused++
    }
    for (const c of held) c.close()
    await Promise.all(held.map((c) => c.closed))
    return refused
  })()

  const badPublishes = (async () => {
    const statuses = new Map<number, number>()
    const bad = publishToken({ message: { room_id: 'legit', cmd: 'x' } }, WRONG_KEY)
    for (let i = 0; i < 300; i++) {
      const r = await relay.post(bad, 'application/jwt', attacker)
      statuses.set(r.status, (statuses.get(r.status) ?? 0) + 1)
    }
    return statuses
  })()

  const protocolLetter = (async () => {
    const answers: string[] = []
    for (let i = 0; i < PROTOCOL_ROUNDS; i++) {
      const r = await rawExchange(
        { app: relay.app, port: relay.port, tls: true },
        'GET /health HTTP/1.1\r\nConnection: close\r\n\r\n',
        5000,
      )
      answers.push(
        /^HTTP\/1\.1 400 [^]*"error":"RELAY_ERR_HTTP_BAD_REQUEST"/.test(r.received)
          ? 'no Host: 400'
          : r.received.slice(0, 40),
      )
      // Its own address: the attacker's is at max_unauthenticated_per_address meanwhile.
      const c = await relay.connect({ headers: { 'x-forwarded-for': '10.0.0.77' } })
      c.send({ type: 'token', token })
      const f = await c.next(10_000)
      answers.push(
        f.type === 'error' && f.code === 'BadRequest'
          ? 'token first: BadRequest'
          : JSON.stringify(f),
      )
      c.close()
      await c.closed
    }
    return answers
  })()

  await legit
  await strayUpgrades
  await roomFlood
  t.equal(await unauthenticated, 30, 'every socket over the bound: 4008')
  const statuses = await badPublishes
  t.equal(statuses.get(401), 200, 'bad publishes: 401 within the refused budget')
  t.equal(statuses.get(429), 100, 'then 429')
  const answers = await protocolLetter
  t.equal(answers.filter((a) => a === 'no Host: 400').length, PROTOCOL_ROUNDS, 'no Host: 400')
  t.equal(
    answers.filter((a) => a === 'token first: BadRequest').length,
    PROTOCOL_ROUNDS,
    'a token frame before any subscribe: BadRequest',
  )

  for (const [n, c] of subscribers.entries()) {
    const got: number[] = []
    while (got.length < LEGIT_MESSAGES) {
      const f = await c.next(10_000)
      if (f.type === 'message') got.push((f.data as { i: number }).i)
    }
    t.same(got, [...Array(LEGIT_MESSAGES).keys()], `subscriber ${n}: every message, in order`)
    c.close()
    await c.closed
  }
  await until('every connection is gone', () => relay.app.relay.connections.size === 0)
  t.same(relay.app.relay.hub.stats(), { rooms: 0, members: 0 }, 'no room left in the hub')

  // Each refusal above is at most a line per address, reason and interval.
  t.ok(log.lines.length <= MAX_LOG_LINES, `${log.lines.length} log lines`)
  const text = log.text()
  t.notOk(text.includes(token.split('.')[2]!), 'no subscriber token signature in the log')
  t.notOk(text.includes(TEST_KEY), 'no key in the log')

  const end = await settled()
  t.ok(end.fds <= start.fds + 2, `file descriptors ${start.fds} → ${end.fds}`)
  const growth = (end.heap - start.heap) / start.heap
  t.ok(
    growth < 0.1,
    `heap ${(start.heap / 1e6).toFixed(1)} MB → ${(end.heap / 1e6).toFixed(1)} MB (${(growth * 100).toFixed(1)} %)`,
  )
})

/** GET /metrics: Prometheus text with the relay's counters, to loopback or a bearer token. */
import t from 'tap'
import { CLOSE, ERRORS, WS_ERROR_CODES } from '../../src/errors.js'
import { startRelay } from '../helpers/relay.js'
import { kanbanRights, subscriberToken } from '../helpers/tokens.js'

/** The value of one sample line (`name{labels} value`), or undefined. */
function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `))
  return line === undefined ? undefined : Number(line.slice(series.length + 1))
}

t.test('off by default', async (t) => {
  const relay = await startRelay(t)
  t.equal((await relay.request('GET', '/metrics')).status, 404)
})

t.test(
  'counts connections, rooms, publishes, deliveries, refusals, latency, history',
  async (t) => {
    const relay = await startRelay(t, { metrics: true })
    const a = await relay.connect()
    const sub = await a.subscribe({ room_id: '42', token: subscriberToken(1, ['@a']), uuid: 'a' })
    const b = await relay.connect()
    await b.subscribe({ room_id: '42', token: subscriberToken(2, ['@b']), uuid: 'b' })
    await relay.publish({ message: { room_id: '42', cmd: 'x' } })
    await relay.publish({
      message: { room_id: '42', cmd: 'y', rights: kanbanRights({ tracker: ['@a'] }) },
    })
    await a.next()
    await a.next()
    await b.next()
    await relay.post('not a token')
    a.send({ type: 'nope' })
    await a.next()
    const again = await relay.connect()
    await again.subscribe({
      room_id: '42',
      token: subscriberToken(1, ['@a']),
      uuid: 'c',
      since: { epoch: sub.epoch, offset: 0 },
    })
    await again.subscribe({ room_id: '43', since: { epoch: 'gone', offset: 3 } })

    const res = await relay.request('GET', '/metrics')
    t.equal(res.status, 200)
    const text = res.text
    t.equal(sample(text, 'tuleap_realtime_connections'), 3)
    t.equal(sample(text, 'tuleap_realtime_rooms'), 2)
    t.equal(sample(text, 'tuleap_realtime_messages_published_total'), 2)
    t.equal(
      sample(text, 'tuleap_realtime_messages_delivered_total'),
      3,
      'two to a, one to b (rights)',
    )
    t.equal(sample(text, 'tuleap_realtime_refusals_total{reason="RELAY_ERR_AUTH_INVALID"}'), 1)
    t.equal(sample(text, 'tuleap_realtime_refusals_total{reason="BadRequest"}'), 1)
    t.equal(
      sample(text, 'tuleap_realtime_publish_to_send_seconds_count'),
      2,
      'latency once per message',
    )
    t.equal(sample(text, 'tuleap_realtime_history_recoveries_total{result="hit"}'), 1)
    t.equal(sample(text, 'tuleap_realtime_history_recoveries_total{result="miss"}'), 1)
    for (const series of [
      'tuleap_realtime_redis_reconnects_total',
      'tuleap_realtime_redis_failovers_total',
      'tuleap_realtime_rooms_resynced_total',
    ]) {
      t.equal(sample(text, series), 0, `${series} starts at zero`)
    }
    t.match(text, /^tuleap_realtime_process_resident_memory_bytes /m, 'process metrics too')
    t.notMatch(text, /test-key|eyJ/, 'no key, no token')
  },
)

t.test('only to loopback peers without proxy headers, or with the bearer token', async (t) => {
  const relay = await startRelay(t, { metrics: true, metrics_bearer_token: 's3cret-scraper-token' })
  const proxied = await relay.request('GET', '/metrics', undefined, {
    'x-forwarded-for': '203.0.113.9',
  })
  t.equal(proxied.status, 403)
  t.equal(proxied.body.error, 'RELAY_ERR_METRICS_FORBIDDEN')
  const wrong = await relay.request('GET', '/metrics', undefined, {
    'x-forwarded-for': '203.0.113.9',
    authorization: 'Bearer wrong',
  })
  t.equal(wrong.status, 403)
  const bearer = await relay.request('GET', '/metrics', undefined, {
    'x-forwarded-for': '203.0.113.9',
    authorization: 'Bearer s3cret-scraper-token',
  })
  t.equal(bearer.status, 200)
  t.equal((await relay.request('GET', '/metrics')).status, 200, 'loopback')
})

/** Closes that are not refusals: a normal end, a shutdown, a fault, a slow consumer (own counter). */
const NOT_REFUSALS: ReadonlySet<number> = new Set([1000, 1001, 1011, 4009])

t.test('a fresh relay serves every refusal reason of the catalogue, at zero', async (t) => {
  const relay = await startRelay(t, { metrics: true })
  const { text } = await relay.request('GET', '/metrics')
  const reasons = [
    ...Object.keys(ERRORS),
    ...WS_ERROR_CODES,
    ...Object.values(CLOSE)
      .filter((c) => !NOT_REFUSALS.has(c.code))
      .map((c) => `close_${c.code}`),
  ]
  t.ok(reasons.includes('close_1008') && reasons.includes('JWTExpired'), 'the catalogue is read')
  for (const reason of reasons) {
    t.equal(sample(text, `tuleap_realtime_refusals_total{reason="${reason}"}`), 0, reason)
  }
  const served = [...text.matchAll(/^tuleap_realtime_refusals_total\{reason="([^"]+)"\}/gm)]
  t.same(
    served.map((m) => m[1]).sort(),
    [...reasons].sort(),
    'no reason outside the catalogue (close_4009 has its own counter)',
  )
})

t.test('a /ws origin refusal counts as close_1008, a too large frame as close_1009', async (t) => {
  const relay = await startRelay(t, {
    metrics: true,
    allowed_origins: ['https://tuleap.example.com'],
  })
  await relay.open({ origin: 'https://evil.example.net' }).closed
  const big = await relay.connect()
  big.ws.send('x'.repeat(relay.config.max_client_frame_bytes + 1))
  t.equal((await big.closed).code, 1009)
  // Over ws's own maxPayload (a token frame's bound): ws closes it itself, counted alike.
  const huge = await relay.connect()
  huge.ws.send('x'.repeat(relay.config.max_subscriber_token_bytes + 2048))
  t.equal((await huge.closed).code, 1009)
  const { text } = await relay.request('GET', '/metrics')
  t.equal(sample(text, 'tuleap_realtime_refusals_total{reason="close_1008"}'), 1)
  t.equal(sample(text, 'tuleap_realtime_refusals_total{reason="close_1009"}'), 2)
})

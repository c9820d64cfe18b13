import type { IncomingMessage } from 'node:http'
import t from 'tap'
import {
  clientAddress,
  createProxyTrust,
  forwardedFor,
  plainAddress,
  proxyEntryProblem,
} from '../../src/http/client-address.js'
import { ConfigError } from '../../src/errors.js'
import { testConfig } from '../helpers/config.js'
import { startRelay } from '../helpers/relay.js'

t.test('trust: addresses and CIDRs, IPv4-mapped peers', async (t) => {
  t.equal(createProxyTrust([]), null, 'none by default')
  const trust = createProxyTrust(['127.0.0.1', '10.0.0.0/8', '::1', 'fd00::/8'])!
  for (const a of ['127.0.0.1', '::ffff:127.0.0.1', '10.1.2.3', '::1', 'fd12::1']) {
    t.ok(trust(a), `${a} trusted`)
  }
  for (const a of ['127.0.0.2', '11.0.0.1', '::2', 'unknown', '', '2001:db8::1']) {
    t.notOk(trust(a), `${a} not trusted`)
  }
  t.equal(plainAddress('::FFFF:192.0.2.1'), '192.0.2.1')
})

t.test('entries: what the config refuses', async (t) => {
  for (const bad of ['localhost', '10.0.0.0/33', '::1/129', '1.2.3.4/8/1', '', 42]) {
    t.match(proxyEntryProblem(bad), /is not an IP address or CIDR/, JSON.stringify(bad))
  }
  t.throws(() => testConfig({ trusted_proxies: ['nginx'] }), ConfigError)
  t.same(testConfig({ trusted_proxies: ['127.0.0.1'] }).trusted_proxies, ['127.0.0.1'])
})

t.test('Forwarded: the for= hops, without quotes, brackets or ports', async (t) => {
  t.same(
    forwardedFor('for=192.0.2.60;proto=http;by=203.0.113.43, for="[2001:db8:cafe::17]:4711"'),
    ['192.0.2.60', '2001:db8:cafe::17'],
  )
  t.same(forwardedFor('For="198.51.100.17:8080", proto=https, for=_hidden'), [
    '198.51.100.17',
    'unknown',
    '_hidden',
  ])
})

t.test('through the app: rate limits and request.ip use the client behind the proxy', async (t) => {
  const relay = await startRelay(t, { trusted_proxies: ['127.0.0.1'], publish_rate_per_minute: 2 })
  const post = (headers: Record<string, string>) => relay.post('x', 'application/jwt', headers)
  const a = { 'x-forwarded-for': '6.6.6.6, 192.0.2.1' }
  t.equal((await post(a)).status, 401)
  t.equal((await post(a)).status, 401)
  t.equal((await post(a)).status, 429, 'the third from 192.0.2.1 is limited')
  t.equal((await post({ 'x-forwarded-for': '192.0.2.2' })).status, 401, 'another client is not')
  const f = { forwarded: 'for="[2001:db8::1]:1234";proto=https' }
  t.equal((await post(f)).status, 401)
  t.equal((await post(f)).status, 401)
  t.equal((await post(f)).status, 429, 'Forwarded names the client too')
  const untrusted = await startRelay(t, { publish_rate_per_minute: 1 })
  t.equal((await untrusted.post('x', 'application/jwt', a)).status, 401)
  t.equal(
    (await untrusted.post('x', 'application/jwt', { 'x-forwarded-for': '192.0.2.9' })).status,
    429,
    'without trusted_proxies the header is ignored: one bucket for the peer',
  )
})

t.test('a trusted proxy forwarding a loopback client gains nothing local-only', async (t) => {
  const relay = await startRelay(t, {
    trusted_proxies: ['127.0.0.1', '::1'],
    metrics: true,
    allow_unsigned_loopback_publish: true,
  })
  const unsigned = JSON.stringify({ room_id: '42', cmd: 'x', data: {} })
  const publish = (headers: Record<string, string> = {}) =>
    relay.post(unsigned, 'application/json', headers)
  const metrics = (headers: Record<string, string> = {}) =>
    relay.request('GET', '/metrics', undefined, headers)
  t.equal((await metrics()).status, 200, 'a loopback peer with no proxy header: metrics')
  t.equal((await publish()).status, 200, 'and the unsigned publish')
  // The proxy (a trusted loopback peer) says its client is loopback too: request.ip is then
  // 127.0.0.1, yet the local-only doors look at the TCP peer and at the headers' presence.
  const loopbackClaims: Record<string, string>[] = [
    { 'x-forwarded-for': '127.0.0.1' },
    { 'x-forwarded-for': '::1' },
    { 'x-forwarded-for': '127.0.0.1, 127.0.0.1' },
    { forwarded: 'for=127.0.0.1' },
    { forwarded: 'for="[::1]"' },
    { 'x-real-ip': '127.0.0.1' },
  ]
  for (const headers of loopbackClaims) {
    const name = JSON.stringify(headers)
    const m = await metrics(headers)
    t.equal(m.status, 403, `${name}: /metrics refused`)
    t.equal(m.body.error, 'RELAY_ERR_METRICS_FORBIDDEN')
    const p = await publish(headers)
    t.equal(p.status, 401, `${name}: unsigned publish refused`)
    t.equal(p.body.error, 'RELAY_ERR_AUTH_UNSIGNED_NOT_LOOPBACK')
  }
})

t.test('clientAddress: the raw request form of request.ip', async (t) => {
  const req = (peer: string, headers: Record<string, string> = {}) =>
    ({ socket: { remoteAddress: peer }, headers }) as unknown as IncomingMessage
  const trust = createProxyTrust(['127.0.0.1', '10.0.0.0/8'])
  t.equal(clientAddress(req('::ffff:192.0.2.7'), null), '192.0.2.7', 'no proxies: the peer')
  t.equal(
    clientAddress(req('192.0.2.7', { 'x-forwarded-for': '198.51.100.1' }), trust),
    '192.0.2.7',
    'an untrusted peer names nobody',
  )
  t.equal(
    clientAddress(
      req('127.0.0.1', { 'x-forwarded-for': '203.0.113.9, 198.51.100.1, 10.1.2.3' }),
      trust,
    ),
    '198.51.100.1',
    'the nearest untrusted hop',
  )
  t.equal(
    clientAddress(req('127.0.0.1', { forwarded: 'for="[2001:db8::1]:443"' }), trust),
    '2001:db8::1',
    'Forwarded when there is no X-Forwarded-For',
  )
  t.equal(
    clientAddress(req('127.0.0.1', { 'x-forwarded-for': '10.0.0.1' }), trust),
    '10.0.0.1',
    'every hop trusted: the leftmost',
  )
  t.equal(clientAddress(req('127.0.0.1'), trust), '127.0.0.1', 'no header: the peer')
})

/** POST /message over real TLS: every answer of docs/protocol.md §3 with its status and code. */
import { connect } from 'node:tls'
import t from 'tap'
import type { Broker } from '../../src/broker/broker.js'
import { MemoryBroker } from '../../src/broker/memory-broker.js'
import { testCert } from '../helpers/certs.js'
import { startRelay } from '../helpers/relay.js'
import { nowS, publishToken, signRaw, subscriberToken } from '../helpers/tokens.js'

const message = { room_id: '42', cmd: 'kanban_item:move', data: { artifact_id: 1 } }

t.test('refusals: status and coded JSON error', async (t) => {
  const relay = await startRelay(t)
  const cases: {
    name: string
    body: string
    type?: string
    status: number
    error: string
    match?: RegExp
  }[] = [
    { name: 'empty body', body: '', status: 401, error: 'RELAY_ERR_AUTH_MISSING' },
    { name: 'not a JWT', body: 'hello', status: 401, error: 'RELAY_ERR_AUTH_INVALID' },
    {
      name: 'wrong key',
      body: publishToken(
        { message },
        'another-key-0123456789abcdef0123456789abcdef0123456789abcdef0123456789',
      ),
      status: 401,
      error: 'RELAY_ERR_AUTH_INVALID',
    },
    {
      name: 'expired',
      body: signRaw({ alg: 'HS512' }, { exp: nowS() - 60, message }),
      status: 401,
      error: 'RELAY_ERR_AUTH_EXPIRED',
    },
    {
      name: 'not yet valid',
      body: signRaw({ alg: 'HS512' }, { exp: nowS() + 120, nbf: nowS() + 90, message }),
      status: 401,
      error: 'RELAY_ERR_AUTH_NOT_YET_VALID',
    },
    {
      name: 'exp beyond the lifetime cap',
      body: signRaw({ alg: 'HS512' }, { exp: nowS() + 3600, message }),
      status: 401,
      error: 'RELAY_ERR_AUTH_LIFETIME',
    },
    {
      name: 'HS256',
      body: signRaw({ alg: 'HS256' }, { exp: nowS() + 60, message }, undefined, 'sha256'),
      status: 401,
      error: 'RELAY_ERR_AUTH_INVALID',
    },
    {
      name: 'subscriber token used to publish',
      body: subscriberToken(101, ['@site_active']),
      status: 401,
      error: 'RELAY_ERR_AUTH_WRONG_KIND',
    },
    {
      name: 'no message',
      body: publishToken({}),
      status: 400,
      error: 'RELAY_ERR_PUBLISH_BAD_CLAIMS',
      match: /message/,
    },
    {
      name: 'too many messages',
      body: publishToken({ messages: Array.from({ length: 101 }, () => message) }),
      status: 400,
      error: 'RELAY_ERR_PUBLISH_BAD_CLAIMS',
    },
    {
      name: 'bad cmd, named',
      body: publishToken({ messages: [message, { ...message, cmd: 'bad cmd!' }] }),
      status: 400,
      error: 'RELAY_ERR_PUBLISH_BAD_MESSAGE',
      match: /messages\[1\]\.cmd/,
    },
    {
      name: 'missing room_id, named',
      body: publishToken({ message: { cmd: 'x' } }),
      status: 400,
      error: 'RELAY_ERR_PUBLISH_BAD_MESSAGE',
      match: /message\.room_id/,
    },
    {
      name: 'rights with a missing key, named',
      body: publishToken({
        message: {
          ...message,
          rights: { submitter_id: null, submitter_can_view: false, tracker: ['@a'], artifact: [] },
        },
      }),
      status: 400,
      error: 'RELAY_ERR_PUBLISH_BAD_RIGHTS',
      match: /submitter_only/,
    },
    {
      name: 'wrong content type',
      body: publishToken({ message }),
      type: 'application/x-www-form-urlencoded',
      status: 415,
      error: 'RELAY_ERR_PUBLISH_CONTENT_TYPE',
    },
    {
      name: 'unsigned JSON while the legacy mode is off',
      body: JSON.stringify(message),
      type: 'application/json',
      status: 415,
      error: 'RELAY_ERR_PUBLISH_CONTENT_TYPE',
    },
  ]
  for (const c of cases) {
    const res = await relay.post(c.body, c.type ?? 'application/jwt')
    t.equal(res.status, c.status, `${c.name}: status`)
    t.equal(res.body.error, c.error, `${c.name}: code`)
    t.type(res.body.message, 'string', `${c.name}: message`)
    if (c.match) t.match(res.body.message, c.match, `${c.name}: names the field`)
  }
  const ok = await relay.post(publishToken({ message }), 'text/plain; charset=utf-8')
  t.equal(ok.status, 200, 'text/plain is accepted too, and the server still serves')
})

t.test('bodies over max_publish_bytes get 413 before being read whole', async (t) => {
  const relay = await startRelay(t, { max_publish_bytes: 1024 })
  const big = await relay.post('x'.repeat(2048))
  t.equal(big.status, 413)
  t.equal(big.body.error, 'RELAY_ERR_PUBLISH_TOO_LARGE')

  // Announce a huge body and send only the headers: the answer must come without the body.
  const cert = testCert()
  const answer = await new Promise<string>((resolve, reject) => {
    const socket = connect(
      { host: '127.0.0.1', port: relay.port, ca: cert.cert, servername: 'localhost' },
      () => {
        socket.write(
          'POST /message HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/jwt\r\nContent-Length: 104857600\r\n\r\n',
        )
      },
    )
    let text = ''
    socket.on('data', (chunk: Buffer) => {
      text += chunk.toString()
      if (text.includes('\r\n\r\n')) {
        socket.destroy()
        resolve(text)
      }
    })
    socket.on('error', reject)
  })
  t.match(answer, /^HTTP\/1\.1 413/)
})

t.test('other methods and routes', async (t) => {
  const relay = await startRelay(t)
  const get = await relay.request('GET', '/message')
  t.equal(get.status, 405)
  t.equal(get.body.error, 'RELAY_ERR_HTTP_METHOD')
  const missing = await relay.request('GET', '/nope')
  t.equal(missing.status, 404)
  t.equal(missing.body.error, 'RELAY_ERR_HTTP_NOT_FOUND')
})

t.test('unsigned legacy publish: loopback only, and only when enabled', async (t) => {
  const relay = await startRelay(t, { allow_unsigned_loopback_publish: true })
  const client = await relay.connect()
  await client.subscribe({ room_id: '42', token: subscriberToken(1, ['@site_active']), uuid: 'u' })
  const legacy = {
    sender_user_id: 2,
    sender_uuid: 'other',
    room_id: '42',
    cmd: 'kanban_item:move',

    data: { artifact_id: 5 },
  }
  const ok = await relay.post(JSON.stringify(legacy), 'application/json')
  t.equal(ok.status, 200)
  t.match(await client.next(), {
    type: 'message',
    cmd: 'kanban_item:move',
    data: { artifact_id: 5 },
  })
  const proxied = await relay.post(JSON.stringify(legacy), 'application/json', {
    'x-forwarded-for': '203.0.113.9',
  })
  t.equal(proxied.status, 401, 'a request relayed by a proxy is not a loopback peer')
  t.equal(proxied.body.error, 'RELAY_ERR_AUTH_UNSIGNED_NOT_LOOPBACK')
  const broken = await relay.post('{', 'application/json')
  t.equal(broken.status, 400)
  t.equal(broken.body.error, 'RELAY_ERR_PUBLISH_BAD_BODY')
  const signed = await relay.publish({ message })
  t.equal(signed.status, 200, 'signed publishes still work')
})

t.test('publish rate per peer address: 429', async (t) => {
  const relay = await startRelay(t, { publish_rate_per_minute: 3 })
  const statuses: number[] = []
  for (let i = 0; i < 5; i++) statuses.push((await relay.publish({ message })).status)
  t.same(statuses, [200, 200, 200, 429, 429])
  const limited = await relay.publish({ message })
  t.equal(limited.body.error, 'RELAY_ERR_RATE_LIMITED')
})

t.test('broker unavailable: 503 and nothing published', async (t) => {
  const memory = new MemoryBroker({ historySize: 10, historyTtlMs: 60_000 })
  let up = true
  // The memory broker, reporting itself down while `up` is false.
  const broker: Broker = {
    get ready() {
      return up
    },
    publish: (m, i) => memory.publish(m, i),
    subscribe: (r, l) => memory.subscribe(r, l),
    unsubscribe: (r, l) => memory.unsubscribe(r, l),
    history: (r, s) => memory.history(r, s),
    close: () => memory.close(),
  }
  const relay = await startRelay(t, {}, { broker })
  up = false
  const res = await relay.publish({ message })
  t.equal(res.status, 503)
  t.equal(res.body.error, 'RELAY_ERR_BROKER_UNAVAILABLE')
  const health = await relay.request('GET', '/health')
  t.equal(health.status, 503)
  t.match(health.body, { live: true, ready: false })
  up = true
  const after = await relay.publish({ message })
  t.equal(after.status, 200)
  t.match(after.body, { accepted: [{ offset: 1 }] }, 'the refused publish was not stored')
})

t.test("Node's parser errors are answered in the catalogue's JSON too", async (t) => {
  const relay = await startRelay(t)
  const big = await relay.request('GET', '/health', undefined, {
    'x-padding': 'x'.repeat(17 * 1024),
  })
  t.equal(big.status, 431)
  t.same(big.body, {
    error: 'RELAY_ERR_HTTP_HEADERS_TOO_LARGE',
    message: 'the request headers are too large',
  })
  const cert = testCert()
  const malformed = await new Promise<string>((resolve, reject) => {
    const socket = connect(
      { host: '127.0.0.1', port: relay.port, ca: cert.cert, servername: 'localhost' },
      () => {
        socket.write('NOT-HTTP\r\n\r\n')
      },
    )
    let text = ''
    socket.on('data', (chunk: Buffer) => (text += chunk.toString()))
    socket.on('close', () => resolve(text))
    socket.on('error', reject)
  })
  t.match(malformed, /^HTTP\/1\.1 400 Bad Request\r\n/)
  t.match(malformed, /\{"error":"RELAY_ERR_HTTP_BAD_REQUEST","message":"malformed HTTP request"\}$/)
})

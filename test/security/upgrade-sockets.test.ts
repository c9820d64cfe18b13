/**
 * No socket outlives its request. A request carrying
 * `Connection: Upgrade` to a path that is not a WebSocket endpoint is answered and its
 * socket closed under the usual timeouts, for every route, HTTP/1.1 and 1.0, TLS and
 * plain; an HTTP/1.0 upgrade to /ws is refused (RFC 6455 needs HTTP/1.1); /ws still works.
 */
import t from 'tap'
import { WebSocket } from 'ws'
import { testCert } from '../helpers/certs.js'
import { fdCount, pause, rawExchange, startRawRelay, type RawRelay } from './raw-http.js'

/** Short server timeouts (read by Node at check or answer time) keep the file fast. */
const IDLE_MS = 1000

async function relayFor(tls: boolean): Promise<RawRelay> {
  const relay = await startRawRelay(t, tls)
  relay.app.server.keepAliveTimeout = IDLE_MS
  relay.app.server.timeout = IDLE_MS
  return relay
}

const relays = { tls: await relayFor(true), plain: await relayFor(false) }

const BODY = 'not-a-token'
const REQUESTS: { name: string; head: string; body?: string; status: RegExp }[] = [
  { name: 'GET /health', head: 'GET /health', status: /^HTTP\/1\.[01] 200 / },
  { name: 'GET /nope', head: 'GET /nope', status: /^HTTP\/1\.[01] 404 / },
  { name: 'GET /message', head: 'GET /message', status: /^HTTP\/1\.[01] 405 / },
  { name: 'POST /message', head: 'POST /message', body: BODY, status: /^HTTP\/1\.[01] (400|401) / },
  { name: 'GET /ws?x (query)', head: 'GET /nope?x=1', status: /^HTTP\/1\.[01] 404 / },
]

function upgradeRequest(head: string, version: string, upgrade: string, body?: string): string {
  const framing =
    body === undefined
      ? ''
      : `Content-Type: application/jwt\r\nContent-Length: ${Buffer.byteLength(body)}\r\n`
  return (
    `${head} HTTP/${version}\r\nHost: 127.0.0.1\r\nConnection: Upgrade\r\nUpgrade: ${upgrade}\r\n` +
    `Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n${framing}\r\n${body ?? ''}`
  )
}

for (const [transport, relay] of Object.entries(relays)) {
  t.test(`${transport}: upgrade requests to other paths are answered and closed`, async (t) => {
    const cases = REQUESTS.flatMap((r) =>
      ['1.1', '1.0'].flatMap((version) =>
        ['websocket', 'h2c', 'x'].map((upgrade) => ({ ...r, version, upgrade })),
      ),
    )
    const results = await Promise.all(
      cases.map((c) =>
        rawExchange(relay, upgradeRequest(c.head, c.version, c.upgrade, c.body), 6 * IDLE_MS),
      ),
    )
    cases.forEach((c, i) => {
      const r = results[i]!
      const what = `${c.name} HTTP/${c.version} Upgrade: ${c.upgrade}`
      t.match(r.received, c.status, `${what}: answered`)
      t.match(r.received, /\r\n\r\n\{"?/, `${what}: with a JSON body`)
      t.not(r.closedAfter, null, `${what}: socket closed by the server`)
    })
  })

  t.test(`${transport}: an HTTP/1.0 upgrade to /ws is refused with 426`, async (t) => {
    const r = await rawExchange(relay, upgradeRequest('GET /ws', '1.0', 'websocket'), 6 * IDLE_MS)
    t.match(r.received, /^HTTP\/1\.[01] 426 /)
    t.match(r.received, /RELAY_ERR_HTTP_UPGRADE_REQUIRED/)
    t.not(r.closedAfter, null, 'closed')
  })

  t.test(`${transport}: /ws still upgrades`, async (t) => {
    const scheme = relay.tls ? 'wss' : 'ws'
    const ws = new WebSocket(`${scheme}://127.0.0.1:${relay.port}/ws`, { ca: testCert().cert })
    const hello = await new Promise<string>((resolve, reject) => {
      ws.once('message', (d: Buffer) => resolve(d.toString()))
      ws.once('error', reject)
    })
    t.match(JSON.parse(hello), { type: 'hello' })
    ws.terminate()
  })

  t.test(`${transport}: 400 such requests leave no descriptor behind`, async (t) => {
    const before = fdCount()
    for (let round = 0; round < 4; round++) {
      await Promise.all(
        Array.from({ length: 100 }, (_, i) => {
          const r = REQUESTS[i % REQUESTS.length]!
          return rawExchange(relay, upgradeRequest(r.head, '1.1', 'websocket', r.body), 200)
        }),
      )
    }
    // The client side destroys its sockets at 200 ms; the server's must be gone too.
    let after = fdCount()
    for (let i = 0; i < 50 && after > before + 5; i++) {
      await pause(100)
      after = fdCount()
    }
    t.ok(after <= before + 5, `descriptors: ${before} before, ${after} after`)
    t.equal(relay.app.server.listenerCount('upgrade'), 1, 'one upgrade listener on the server')
  })
}

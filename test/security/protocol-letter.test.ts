/**
 * The protocol to the letter. A `token` frame before any subscribe is
 * refused with BadRequest (docs/protocol.md §5.1: the first subscribe carries its own token); a
 * request without `Host` gets the catalogue's JSON error.
 */
import t from 'tap'
import { startRelay } from '../helpers/relay.js'
import { subscriberToken } from '../helpers/tokens.js'
import { rawExchange, startRawRelay } from './raw-http.js'

t.test('a token frame before any subscribe: BadRequest, nothing accepted', async (t) => {
  const relay = await startRelay(t)
  const client = await relay.connect()
  client.send({ type: 'token', token: subscriberToken(101, ['@a']) })
  t.match(await client.next(), { type: 'error', code: 'BadRequest' })
})

for (const tls of [true, false]) {
  t.test(`${tls ? 'TLS' : 'plain'}: no Host header: the catalogue's JSON 400`, async (t) => {
    const relay = await startRawRelay(t, tls)
    const r = await rawExchange(relay, 'GET /health HTTP/1.1\r\nConnection: close\r\n\r\n', 3000)
    t.match(r.received, /^HTTP\/1\.1 400 /)
    t.match(r.received, /application\/json/)
    t.match(r.received, /"error":"RELAY_ERR_HTTP_BAD_REQUEST"/)
  })
}

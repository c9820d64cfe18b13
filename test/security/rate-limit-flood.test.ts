/**
 * The rate limiter never locks out the backend. Refused requests draw on
 * a budget of their own, and a spent publish budget is applied before the body is read.
 */
import t from 'tap'
import { startRelay } from '../helpers/relay.js'
import { kanbanRights } from '../helpers/tokens.js'
import { WRONG_KEY, within } from './hostile.js'
import { rawExchange } from './raw-http.js'
import { publishToken } from '../helpers/tokens.js'

const message = { room_id: '42', cmd: 'kanban_item:move', data: {}, rights: kanbanRights() }

t.test('a flood of bad requests does not spend a signed publisher’s budget', async (t) => {
  const relay = await startRelay(t, { publish_rate_per_minute: 5 })
  const statuses: number[] = []
  for (let i = 0; i < 20; i++) {
    statuses.push((await relay.post(publishToken({ message }, WRONG_KEY))).status)
  }
  t.same(statuses.slice(0, 5), [401, 401, 401, 401, 401], 'the refused budget first')
  t.ok(
    statuses.slice(5).every((s) => s === 429),
    'then 429',
  )
  const signed = await relay.publish({ message })
  t.equal(signed.status, 200, 'a signed publish from the same address is still served')
})

t.test('a spent publish budget answers 429 before the body is read', async (t) => {
  const relay = await startRelay(t, { publish_rate_per_minute: 2 })
  t.equal((await relay.publish({ message })).status, 200)
  t.equal((await relay.publish({ message })).status, 200)
  const r = await within(
    rawExchange(
      { app: relay.app, port: relay.port, tls: true },
      'POST /message HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/jwt\r\n' +
        'Content-Length: 200000\r\n\r\n',
      2000,
    ),
    5000,
    'answer',
  )
  t.match(r.received, /^HTTP\/1\.1 429 /, 'answered without the 200,000 bytes announced')
})

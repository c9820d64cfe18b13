/** Unknown events, bad payloads, malformed and oversize packets: one page closed at most. */
import t from 'tap'
import { WebSocket } from 'ws'
import { testCert } from '../helpers/certs.js'
import { startRelay } from '../helpers/relay.js'
import { kanbanRights, subscriberToken } from '../helpers/tokens.js'
import { hubMembers, page, publishUnsigned, subscription } from './pages.js'

const cert = testCert()

void t.test('hostile input never crashes the relay nor reaches other pages', async (t) => {
  const relay = await startRelay(t, {
    allow_unsigned_loopback_publish: true,
    max_client_frame_bytes: 1024,
  })
  const good = page(t, relay, { transports: ['websocket'] })
  good.socket.emit('subscription', subscription(42, subscriberToken(1, ['@site_active']), 'g'))

  // Raw Engine.IO: connect to the namespace, then malformed socket.io packets.
  const raw = new WebSocket(`wss://127.0.0.1:${relay.port}/socket.io/?EIO=4&transport=websocket`, {
    ca: cert.cert,
  })
  t.teardown(() => raw.terminate())
  await new Promise((resolve) => raw.once('open', resolve))
  raw.send('40')
  raw.send('2["subscription"')
  raw.send('2[1,2,3]')
  raw.send('9garbage')
  await new Promise<void>((resolve) => raw.once('close', () => resolve()))
  t.pass('a malformed packet closes that connection alone')

  const odd = page(t, relay, { transports: ['websocket'] })
  odd.socket.emit('no-such-event', { x: 1 })
  odd.socket.emit('token', 'not an object')
  odd.socket.emit('subscription', 7)
  await odd.next('disconnect')
  t.pass('a bad first subscription closes the page')

  const big = page(t, relay, { transports: ['websocket'] })
  big.socket.emit('subscription', subscription(42, 'x'.repeat(70 * 1024), 'b'))
  await big.next('disconnect')
  t.pass('an event over max_subscriber_token_bytes + 1 KiB closes the page')

  const groups = Array.from({ length: 1000 }, (_, i) => `@gpig_project_${i}_members`)
  const many = page(t, relay, { transports: ['websocket'] })
  many.socket.emit(
    'subscription',
    subscription(42, subscriberToken(2, ['@site_active', ...groups]), 'm'),
  )

  await hubMembers(relay, 2)
  await publishUnsigned(relay, {
    sender_user_id: null,
    sender_uuid: null,
    room_id: 42,
    rights: kanbanRights(),
    cmd: 'kanban:edit',
    data: 'ok',
  })
  t.equal(await good.next('kanban:edit'), 'ok', 'the other pages are still served')
  t.equal(
    await many.next('kanban:edit'),
    'ok',
    'a user with 1,000 groups subscribes over socket.io',
  )
})

/**
 * The `token` event of Tuleap's pages (docs/tuleap.md): a page renews its token on its open
 * connection, before expiry, and gets no answer. Real socket.io clients, real relay.
 */
import t from 'tap'
import { io as ioLatest } from 'socket.io-client'
import { io as io475 } from 'socket.io-client-4.7.5'
import { startRelay, type TestRelay } from '../helpers/relay.js'
import { kanbanRights, nowS, subscriberToken } from '../helpers/tokens.js'
import { sleep, until } from '../helpers/wait.js'
import { page, publishUnsigned, subscription, type Io } from './pages.js'

/**
 * A token that expires 2 to 3 s from now: the verifier allows 30 s of clock skew, and
 * the expiry timer fires at `exp` plus that tolerance.
 */
const shortExp = (): number => nowS() - 27
/** Past every short token's expiry (3 s at most), with a margin. */
const PAST_SHORT_EXPIRY_MS = 4000

const publish = (relay: TestRelay, data: unknown) =>
  publishUnsigned(relay, {
    sender_user_id: null,
    sender_uuid: null,
    room_id: 42,
    rights: kanbanRights(),
    cmd: 'kanban:edit',
    data,
  })

const members = (relay: TestRelay, n: number): Promise<void> =>
  until(`${n} member(s) in the hub`, () => relay.app.relay.hub.stats().members >= n)

const clients: [string, Io, string[]][] = [
  ['socket.io-client 4.7.5, polling first', io475 as unknown as Io, ['polling', 'websocket']],
  ['socket.io-client latest, websocket only', ioLatest, ['websocket']],
]

for (const [name, io, transports] of clients) {
  void t.test(`${name}: a fresh token renews expiry and rights, silently`, async (t) => {
    const relay = await startRelay(t, { allow_unsigned_loopback_publish: true })
    const p = page(t, relay, { io, transports })
    // The first token's rights do not cover the room's messages, and it expires soon.
    p.socket.emit(
      'subscription',
      subscription(42, subscriberToken(1, ['@other'], { exp: shortExp() }), 'u'),
    )
    await members(relay, 1)
    await publish(relay, 'before')
    p.socket.emit('token', { token: subscriberToken(1, ['@site_active']) })
    await sleep(PAST_SHORT_EXPIRY_MS)
    await publish(relay, 'after')
    t.equal(await p.next('kanban:edit'), 'after', 'the new rights apply, past the first exp')
    t.same(
      p.events.map(([n]) => n),
      ['kanban:edit'],
      'no answer to the token, no error-jwt, no disconnect, nothing from before',
    )
  })
}

void t.test('a refused renewal: no answer, the page stays, the first token expires', async (t) => {
  const relay = await startRelay(t, { allow_unsigned_loopback_publish: true })
  const p = page(t, relay, { transports: ['websocket'] })
  p.socket.emit(
    'subscription',
    subscription(42, subscriberToken(1, ['@site_active'], { exp: shortExp() }), 'u'),
  )
  await members(relay, 1)
  p.socket.emit('token', { token: 'not-a-token' })
  p.socket.emit('token', { token: subscriberToken(2, ['@site_active']) })
  await publish(relay, 'still served')
  t.equal(await p.next('kanban:edit'), 'still served', 'the connection survives')
  t.equal(await p.next('error-jwt', 5000), 'JWTExpired', 'at the first token’s expiry')
  t.same(
    p.events.map(([n]) => n),
    ['kanban:edit', 'error-jwt'],
    'nothing else: neither an answer nor a disconnect',
  )
})

void t.test('a renewal with an expired token is answered error-jwt', async (t) => {
  const relay = await startRelay(t, { allow_unsigned_loopback_publish: true })
  const p = page(t, relay, { transports: ['websocket'] })
  p.socket.emit('subscription', subscription(42, subscriberToken(1, ['@site_active']), 'u'))
  await members(relay, 1)
  p.socket.emit('token', { token: subscriberToken(1, ['@site_active'], { exp: nowS() - 60 }) })
  t.equal(await p.next('error-jwt'), 'JWTExpired')
  // The page answers error-jwt with a new subscription, as Tuleap's pages do.
  p.socket.emit('subscription', subscription(42, subscriberToken(1, ['@site_active']), 'u'))
  await publish(relay, 'live')
  t.equal(await p.next('kanban:edit'), 'live')
  t.notOk(
    p.events.some(([n]) => n === 'disconnect'),
    'still connected',
  )
})

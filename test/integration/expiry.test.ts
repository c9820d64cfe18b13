/**
 * docs/protocol.md §5.3 over the real server: an expired token stops live delivery without
 * losing anything; a refresh delivers what was missed (or a resync), then live.
 * Tokens here expire about one second after they are issued (exp 29 s ago, 30 s
 * tolerance), so each case waits about a second for real.
 */
import t, { type Test } from 'tap'
import { startRelay } from '../helpers/relay.js'
import { kanbanRights, nowS, subscriberToken } from '../helpers/tokens.js'

const ROOM = '42'
const expiringSoon = (userId: number, groups = ['@site_active']) =>
  subscriberToken(userId, groups, { exp: nowS() - 29 })

/** A relay with `values`, and a client of user `userId` subscribed until its token expired. */
async function expiredClient(t: Test, userId: number, values: Record<string, unknown> = {}) {
  const relay = await startRelay(t, values)
  const client = await relay.connect()
  await client.subscribe({ room_id: ROOM, token: expiringSoon(userId), uuid: 'tab' })
  t.match(await client.next(3000), { type: 'error', code: 'JWTExpired' })
  return { relay, client }
}

t.test(
  'expiry then refresh: JWTExpired once, nothing live meanwhile, then the missed messages, then live',
  async (t) => {
    const relay = await startRelay(t)
    const expiring = await relay.connect()
    await expiring.subscribe({ room_id: ROOM, token: expiringSoon(101), uuid: 'tab-1' })
    const otherTab = await relay.connect()
    await otherTab.subscribe({
      room_id: ROOM,
      token: subscriberToken(101, ['@site_active']),
      uuid: 'tab-2',
    })

    t.match(await expiring.next(3000), { type: 'error', code: 'JWTExpired' })
    await relay.publish({
      messages: [
        { room_id: ROOM, cmd: 'while-expired-1' },
        { room_id: ROOM, cmd: 'restricted', rights: kanbanRights({ tracker: ['@ug_new'] }) },
        { room_id: ROOM, cmd: 'while-expired-2' },
      ],
    })
    t.match(
      await otherTab.next(),
      { cmd: 'while-expired-1' },
      'the same user in another tab keeps its own expiry',
    )
    t.ok(await expiring.silentFor(200), 'no live delivery and no second JWTExpired while expired')

    const fresh = subscriberToken(101, ['@site_active', '@ug_new'])
    expiring.send({ type: 'token', token: fresh })
    t.match(await expiring.next(), { type: 'token' }, 'the token answer comes first')
    t.match(await expiring.next(), { type: 'message', offset: 1, cmd: 'while-expired-1' })
    t.match(
      await expiring.next(),
      { type: 'message', offset: 2, cmd: 'restricted' },
      'filtered by the new rights',
    )
    t.match(await expiring.next(), { type: 'message', offset: 3, cmd: 'while-expired-2' })
    await relay.publish({ message: { room_id: ROOM, cmd: 'live' } })
    t.match(await expiring.next(), { type: 'message', offset: 4, cmd: 'live' })
  },
)

t.test('history passed while expired: resync after the refresh', async (t) => {
  const { relay, client } = await expiredClient(t, 102, { history_size: 1 })
  for (let i = 0; i < 3; i++) await relay.publish({ message: { room_id: ROOM, cmd: `m${i}` } })
  client.send({ type: 'token', token: subscriberToken(102, ['@site_active']) })
  t.match(await client.next(), { type: 'token' })
  t.match(await client.next(), { type: 'resync', room_id: ROOM, offset: 3 })
  await relay.publish({ message: { room_id: ROOM, cmd: 'live' } })
  t.match(await client.next(), { type: 'message', offset: 4, cmd: 'live' })
})

t.test('still expired after expired_grace_s: closed with 4001', async (t) => {
  const { client } = await expiredClient(t, 103, { expired_grace_s: 1 })
  t.equal((await client.closed).code, 4001)
})

t.test('a subscribe without a new token while expired is refused', async (t) => {
  const { client } = await expiredClient(t, 104)
  t.match(await client.subscribe({ room_id: 'other' }), {
    type: 'error',
    code: 'JWTExpired',
    room_id: 'other',
  })
})

/** The `subscription` and `token` events against a fake hub: checks, refusals, renewal. */
import t from 'tap'
import { createTokenVerifier } from '../../src/auth/token.js'
import type { Hub } from '../../src/hub/hub.js'
import type { Member } from '../../src/hub/member.js'
import type { SocketIoMember } from '../../src/socketio/member.js'
import {
  NODEJS_SERVER_VERSION,
  onSubscription,
  onToken,
  type SioSessionContext,
} from '../../src/socketio/session.js'
import { ExecutionPresences } from '../../src/socketio/test-management.js'
import { TEST_KEY } from '../helpers/config.js'
import { nowS, subscriberToken } from '../helpers/tokens.js'
import { nextStored } from '../helpers/messages.js'
import { fakeMember } from './sio-fakes.js'

/** The hub calls the session makes, recorded. */
class FakeHub {
  readonly rooms = new Map<Member, Set<string>>()
  readonly calls: string[] = []
  isSubscribed(member: Member, room: string): boolean {
    return this.rooms.get(member)?.has(room) ?? false
  }
  roomCount(member: Member): number {
    return this.rooms.get(member)?.size ?? 0
  }
  subscribe(member: Member, room: string, request: { presence?: boolean }): Promise<void> {
    this.calls.push(`subscribe ${room}${request.presence ? ' presence' : ''}`)
    const rooms = this.rooms.get(member) ?? new Set()
    rooms.add(room)
    this.rooms.set(member, rooms)
    return Promise.resolve()
  }
  resume(): void {
    this.calls.push('resume')
  }
}

function context(maxRooms = 2) {
  const hub = new FakeHub()
  const state = new ExecutionPresences()
  state.apply(
    nextStored('testmanagement_5', 'testmanagement_user:presence', {
      presence: { execution_id: 10, uuid: 'ux', remove_from: '', user: { id: 9 } },
    }),
  )
  const opened: string[] = []
  const ctx: SioSessionContext = {
    hub: hub as unknown as Hub,
    verifier: createTokenVerifier(TEST_KEY, { publishMaxLifetimeS: 60, publishMaxBytes: 65536 }),
    maxRooms,
    now: Date.now,
    openPresences: (_member: SocketIoMember, room: string) => {
      opened.push(room)
      return Promise.resolve(state)
    },
  }
  return { hub, ctx, opened }
}

const sub = (room: unknown, token: string, uuid: unknown = 'tab') => ({
  nodejs_server_version: NODEJS_SERVER_VERSION,
  token,
  room_id: room,
  uuid,
})
const good = (user = 1, extra: Record<string, unknown> = {}) =>
  subscriberToken(user, ['@site_active'], extra)

void t.test('a Kanban subscription joins the room, numeric id as text, no answer', async (t) => {
  const { hub, ctx, opened } = context()
  const { member, socket } = fakeMember('/')
  member.startAuthTimeout(60_000)
  await onSubscription(ctx, member, sub(42, good(101)))
  t.same(hub.calls, ['subscribe 42'])
  t.same([member.userId, member.uuid, member.everSubscribed], [101, 'tab', true])
  t.same(socket.emitted, [])
  t.same(opened, [], 'no Test Management state for Kanban')
  await onSubscription(ctx, member, sub('42', good(101)))
  t.same(hub.calls, ['subscribe 42'], 'the same room again only renews the token')
  member.closedByPeer()
})

void t.test('a Test Management subscription watches presence and gets `presences`', async (t) => {
  const { hub, ctx, opened } = context()
  const { member, socket } = fakeMember('/testmanagement')
  await onSubscription(ctx, member, sub('testmanagement_5', good()))
  t.same(hub.calls, ['subscribe testmanagement_5 presence'])
  t.same(opened, ['testmanagement_5'])
  t.same(socket.emitted, [['presences', { 10: [{ id: 9, uuid: 'ux' }] }]])
  member.closedByPeer()
})

void t.test('a refused first subscription disconnects, as the historic server did', async (t) => {
  // Each counted in refusals_total under the error frame code /ws would answer.
  const bad: [string, unknown, string][] = [
    ['not an object', 7, 'BadRequest'],
    ['no version', { token: good(), room_id: 1, uuid: 'u' }, 'BadRequest'],
    [
      'no token',
      { nodejs_server_version: NODEJS_SERVER_VERSION, room_id: 1, uuid: 'u' },
      'BadRequest',
    ],
    ['another version', { ...sub(1, good()), nodejs_server_version: '1.0.0' }, 'BadRequest'],
    ['version as a number', { ...sub(1, good()), nodejs_server_version: 2 }, 'BadRequest'],
    ['no room', sub(undefined, good()), 'BadRequest'],
    ['room an object', sub({}, good()), 'BadRequest'],
    ['uuid a number', sub(1, good(), 5), 'BadRequest'],
    ['uuid empty', sub(1, good(), ''), 'BadRequest'],
    ['uuid with a control character', sub(1, good(), 'a\nb'), 'BadRequest'],
    ['uuid too long', sub(1, good(), 'u'.repeat(129)), 'BadRequest'],
    ['a bad token', sub(1, 'not-a-token'), 'Unauthorized'],
    [
      'a token of another key',
      sub(1, subscriberToken(1, ['@a'], {}, `${TEST_KEY}x`)),
      'Unauthorized',
    ],
  ]
  for (const [why, data, counted] of bad) {
    const { hub, ctx } = context()
    const { member, socket, ctx: memberCtx } = fakeMember()
    await onSubscription(ctx, member, data)
    t.equal(socket.disconnects, 1, why)
    t.same(hub.calls, [], `${why}: nothing joined`)
    t.same(socket.emitted, [], `${why}: no event`)
    t.same(memberCtx.refusals, [counted], `${why}: counted as ${counted}`)
  }
})

void t.test('an expired token: error-jwt, then the historic disconnect', async (t) => {
  const { hub, ctx } = context()
  const { member, socket, ctx: memberCtx } = fakeMember()
  await onSubscription(ctx, member, sub(1, good(1, { exp: nowS() - 60 })))
  t.same(socket.emitted, [['error-jwt', 'JWTExpired']])
  t.same(memberCtx.refusals, ['JWTExpired'])
  t.equal(socket.disconnects, 1)
  t.same(hub.calls, [])
  const old = fakeMember()
  await onSubscription(ctx, old.member, {
    ...sub(1, good(1, { exp: nowS() - 60 })),
    nodejs_server_version: '1.9.0',
  })
  t.same(old.socket.emitted, [], 'the version is checked before the token')
})

void t.test('after a first subscription, a refusal keeps the page (up to the bound)', async (t) => {
  const { hub, ctx } = context(2)
  const { member, socket, ctx: memberCtx } = fakeMember('/', { maxMalformed: 2 })
  await onSubscription(ctx, member, sub(1, good()))
  await onSubscription(ctx, member, sub(2, good(), 'another-tab'))
  t.same(hub.calls, ['subscribe 1'], 'the uuid stays the same for the whole connection')
  await onSubscription(ctx, member, sub(2, good(2)))
  t.same(hub.calls, ['subscribe 1'], 'another user id is refused')
  t.equal(socket.disconnects, 0)
  await onSubscription(ctx, member, sub(3, 'nope'))
  t.equal(socket.disconnects, 1, 'one refusal too many closes')
  t.same(
    memberCtx.refusals,
    ['BadRequest', 'Unauthorized', 'Unauthorized', 'close_4000'],
    'with 4000, as /ws closes for malformed frames',
  )
})

void t.test('rooms per connection are bounded', async (t) => {
  const { hub, ctx } = context(2)
  const { member } = fakeMember('/', { maxMalformed: 10 })
  for (const room of [1, 2, 3]) await onSubscription(ctx, member, sub(room, good()))
  t.same(hub.calls, ['subscribe 1', 'subscribe 2'])
  await onSubscription(ctx, member, sub(2, good()))
  t.same(hub.calls, ['subscribe 1', 'subscribe 2'], 'a room it is in is not a new room')
  member.closedByPeer()
})

void t.test(
  'expiry then a new subscription resumes: the hub replays what was missed',
  async (t) => {
    const { hub, ctx } = context()
    const { member } = fakeMember()
    await onSubscription(ctx, member, sub(1, good()))
    member.expired = true
    await onSubscription(ctx, member, sub(1, good()))
    t.same(hub.calls, ['subscribe 1', 'resume'])
    member.closedByPeer()
  },
)

void t.test('`token` renews a subscribed page, silently', async (t) => {
  const { hub, ctx } = context()
  const { member, socket } = fakeMember('/', { maxMalformed: 1 })
  onToken(ctx, member, { token: good() })
  t.notOk(member.authenticated, 'ignored before a subscription')
  await onSubscription(ctx, member, sub(1, good(1, { exp: nowS() + 60 })))
  const exp = member.exp
  onToken(ctx, member, { token: good(1, { exp: nowS() + 3600 }) })
  t.ok(member.exp > exp, 'the new expiry')
  onToken(ctx, member, { token: good(2, { exp: nowS() + 7200 }) })
  t.ok(member.exp < nowS() + 7000, 'another user’s token is ignored')
  member.expired = true
  onToken(ctx, member, { token: good(1) })
  t.same(hub.calls, ['subscribe 1', 'resume'], 'renewed after expiry: resumed')
  onToken(ctx, member, { token: good(1, { exp: nowS() - 60 }) })
  t.same(socket.emitted, [['error-jwt', 'JWTExpired']], 'an expired one: error-jwt')
  onToken(ctx, member, 'not an object')
  t.equal(socket.disconnects, 0)
  onToken(ctx, member, null)
  t.equal(socket.disconnects, 1, 'malformed too often: closed')
})

void t.test('a page that went while the hub was joining gets no answer', async (t) => {
  const { ctx } = context()
  const { member, socket } = fakeMember('/testmanagement')
  const pending = onSubscription(ctx, member, sub('testmanagement_5', good()))
  member.closedByPeer()
  await pending
  t.same(socket.emitted, [])
  t.notOk(member.everSubscribed)
})

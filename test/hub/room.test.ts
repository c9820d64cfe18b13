import t from 'tap'
import { parseRights } from '../../src/auth/rights.js'
import type { Member } from '../../src/hub/member.js'
import { Room } from '../../src/hub/room.js'
import { Subscription } from '../../src/hub/subscription.js'
import { FakeFeed, fakeMember, liveSubscription, ThrowingMember } from '../helpers/fakes.js'
import { storedMessage } from '../helpers/messages.js'
import { kanbanRights } from '../helpers/tokens.js'

const member = fakeMember
const msg = storedMessage

/** `answered: false`: not yet answered `subscribed`; `replaying`: answered, catching up. */
interface JoinOptions {
  presence?: boolean
  replaying?: boolean
  answered?: boolean
}

function setup(opts: { presenceMax?: number } = {}): {
  room: Room
  feed: FakeFeed
  errors: [unknown, Member][]
  join: (m: Member, extra?: JoinOptions) => Subscription
} {
  const feed = new FakeFeed()
  const errors: [unknown, Member][] = []
  const room = new Room('42', opts.presenceMax ?? 200, (err, m) => {
    errors.push([err, m])
  })
  const join = (m: Member, extra: JoinOptions = {}) => {
    const sub =
      extra.answered === false ? new Subscription(m, '42', feed) : liveSubscription(m, feed)
    if (extra.replaying === true) sub.hold()
    room.join(sub, extra.presence ?? false)
    return sub
  }
  return { room, feed, errors, join }
}

t.test('dispatch delivers in order, once, the same Buffer to everyone', async (t) => {
  const { room, join } = setup()
  const a = member(1)
  const b = member(2)
  const subA = join(a)
  join(b)
  for (const n of [1, 2, 3]) room.dispatch(msg(n))
  t.same(a.offsets(), [1, 2, 3])
  t.same(b.offsets(), [1, 2, 3])
  t.equal(subA.position.offset, 3)
  t.equal(a.buffers[0], b.buffers[0], 'one Buffer shared by every recipient')
  room.dispatch(msg(2))
  room.dispatch(msg(3))
  t.same(a.offsets(), [1, 2, 3], 'an offset already handled is not delivered again')
  t.match(a.frames[0], {
    type: 'message',
    room_id: '42',
    epoch: 'e1',
    offset: 1,
    data: { offset: 1 },
  })
})

t.test('the listener is bound once and dispatches', async (t) => {
  const { room, join } = setup()
  const a = member()
  join(a)
  room.listener(msg(1))
  t.same(a.offsets(), [1])
})

t.test('expired members are skipped and keep their position', async (t) => {
  const { room, join, feed } = setup()
  const a = member(1)
  const b = member(2)
  const subA = join(a)
  join(b)
  a.expired = true
  room.dispatch(msg(1))
  t.same(a.offsets(), [])
  t.same(b.offsets(), [1])
  t.equal(subA.position.offset, 0, 'not advanced: resume() catches it up from history')
  t.same(feed.reads, [])
})

t.test('rights filter, evaluated against the member’s current groups', async (t) => {
  const { room, join, feed } = setup()
  const rights = parseRights(kanbanRights({ tracker: ['@ug_1'] }))
  const allowed = member(1, ['@ug_1'])
  const denied = member(2, ['@ug_10'])
  join(allowed)
  const subDenied = join(denied)
  room.dispatch(msg(1, { rights }))
  room.dispatch(msg(2))
  t.same(allowed.offsets(), [1, 2])
  t.same(denied.offsets(), [2], 'no rights message, but the next one arrives without a gap')
  t.equal(subDenied.position.offset, 2)
  t.same(feed.reads, [], 'a filtered message is not a gap')
})

t.test('sender exclusion', async (t) => {
  const { room, join } = setup()
  const sender = member(101, ['@site_active'], 'tab-a')
  const sameUserOtherTab = member(101, ['@site_active'], 'tab-b')
  const otherUserSameUuid = member(102, ['@site_active'], 'tab-a')
  const noUuid = member(101, ['@site_active'], null)
  for (const m of [sender, sameUserOtherTab, otherUserSameUuid, noUuid]) join(m)
  room.dispatch(msg(1, { sender_user_id: 101, sender_uuid: 'tab-a' }))
  t.same(sender.offsets(), [], 'the sending tab is excluded')
  t.same(sameUserOtherTab.offsets(), [1], 'the same user’s other tab receives')
  t.same(otherUserSameUuid.offsets(), [1], 'the same uuid for another user receives')
  t.same(noUuid.offsets(), [1])
  room.dispatch(msg(2, { sender_user_id: 101, sender_uuid: null }))
  t.same(noUuid.offsets(), [1, 2], 'no sender uuid: nobody excluded')
  t.same(sender.offsets(), [2])
})

t.test('a member that throws in send does not stop the others', async (t) => {
  const { room, join, errors } = setup()
  const before = member(1)
  const thrower = new ThrowingMember(2, new Set(['@site_active']), 'x')
  const after = member(3)
  join(before)
  const subThrower = join(thrower)
  join(after)
  t.doesNotThrow(() => {
    room.dispatch(msg(1))
  }, 'dispatch contains the failure')
  t.same(before.offsets(), [1])
  t.same(after.offsets(), [1], 'the member after the thrower still receives')
  t.equal(subThrower.position.offset, 1)
  t.equal(errors.length, 1, 'the failure is reported')
  t.equal(errors[0]?.[1], thrower, 'with the member that failed')
  t.match(errors[0]?.[0], { message: 'socket exploded' })
  room.dispatch(msg(2))
  t.same(after.offsets(), [1, 2])
  t.equal(errors.length, 2)
})

t.test('a throwing watcher does not stop presence frames to the others', async (t) => {
  const { room, join, errors } = setup()
  const thrower = new ThrowingMember(2, new Set(), 'x')
  const watcher = member(3)
  join(thrower, { presence: true })
  join(watcher, { presence: true })
  const joining = join(member(4))
  t.doesNotThrow(() => {
    room.announce(joining, 'join')
  })
  t.same(watcher.frames, [
    { type: 'presence', room_id: '42', event: 'join', user_id: 4, uuid: 'tab-4' },
  ])
  t.equal(errors[0]?.[1], thrower, 'the failure is reported')
})

t.test('presence', async (t) => {
  const { room, join } = setup({ presenceMax: 3 })
  const a = member(1)
  const b = member(2)
  const subA = join(a, { presence: true })
  const subB = join(b)
  t.same(room.presenceList(), [
    { user_id: 1, uuid: 'tab-1' },
    { user_id: 2, uuid: 'tab-2' },
  ])
  room.announce(subB, 'join')
  t.same(a.frames, [{ type: 'presence', room_id: '42', event: 'join', user_id: 2, uuid: 'tab-2' }])
  t.same(b.frames, [], 'only watchers get presence frames')
  room.announce(subA, 'join')
  t.equal(a.frames.length, 1, 'not to the member itself')

  const c = member(3, [], null)
  const subC = join(c, { presence: true, answered: false })
  room.announce(subB, 'leave')
  t.same(c.frames, [], 'not to a member not yet answered subscribed (its list comes there)')
  t.equal(a.frames.length, 2)
  a.expired = true
  room.announce(subC, 'join')
  t.equal(a.frames.length, 2, 'not to an expired member')
  a.expired = false

  t.ok(room.presenceDetail, '3 members, max 3')
  join(member(4))
  t.notOk(room.presenceDetail, '4 members, max 3')
  room.announce(subB, 'leave')
  t.equal(a.frames.length, 2, 'no join/leave frames in a larger room')
})

t.test('presence frames reach a member catching up from history', async (t) => {
  const { room, join } = setup()
  const a = member(1)
  join(a, { presence: true, replaying: true })
  room.announce(join(member(2)), 'join')
  t.same(a.presence(), ['join:tab-2'], 'they carry no offset: nothing to wait for')
})

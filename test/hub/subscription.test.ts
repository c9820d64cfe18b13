/**
 * The replay → live state machine of docs/protocol.md §6, alone: history reads are
 * answered by the test (FakeFeed), live messages are offered as the room's fan-out would.
 */
import t from 'tap'
import { parseRights } from '../../src/auth/rights.js'
import type { StoredMessage } from '../../src/broker/broker.js'
import { messageFrame } from '../../src/protocol/server-frames.js'
import { isVisible, Subscription } from '../../src/hub/subscription.js'
import { FakeFeed, fakeMember, liveSubscription, type FakeMember } from '../helpers/fakes.js'
import { storedMessage as msg } from '../helpers/messages.js'
import { nextTurn } from '../helpers/wait.js'
import { kanbanRights } from '../helpers/tokens.js'

/** Offer live messages as Room.dispatch does; returns how many were sent. */
function offer(sub: Subscription, ...messages: StoredMessage[]): number {
  return messages.filter((m) => sub.offer(m, messageFrame(m))).length
}

const offsets = (messages: readonly StoredMessage[]): number[] => messages.map((m) => m.offset)

/** The frames a member got, as `type offset` (`resync e2@0` for a resync). */
const trail = (member: FakeMember): string[] =>
  member.frames.map((f) =>
    f.type === 'resync'
      ? `resync ${String(f.epoch)}@${String(f.offset)}`
      : `${f.type} ${String(f.offset)}`,
  )

t.test('a new subscription replays, then delivers what waited, then goes live', async (t) => {
  const feed = new FakeFeed()
  const a = fakeMember(101, ['@site_active'], 'tab-a')
  const sub = new Subscription(a, '42', feed)
  t.ok(sub.replaying, 'replaying from the start: nothing live before subscribed')
  t.equal(offer(sub, msg(4), msg(5)), 0)
  t.same(offsets(sub.waiting), [4, 5], 'live messages wait, in order')
  t.same(a.frames, [])

  sub.start({ epoch: 'e1', offset: 4 }, 1, [
    msg(2),
    msg(3, { sender_user_id: 101, sender_uuid: 'tab-a' }),
    msg(4, { rights: parseRights(kanbanRights({ tracker: ['@ug_7'] })) }),
  ])
  t.notOk(sub.replaying)
  t.same(a.offsets(), [2, 5], '3 (own tab) and 4 (rights) filtered; 4 not sent again live')
  t.same(sub.position, { epoch: 'e1', offset: 5 })
  t.equal(offer(sub, msg(6)), 1, 'then live')
  t.equal(offer(sub, msg(6), msg(5)), 0, 'an offset already handled is dropped')
  t.same(a.offsets(), [2, 5, 6])
  t.same(feed.reads, [], 'no history read was needed')
})

t.test('messages that waited and the replay overlap: each offset once, in order', async (t) => {
  const feed = new FakeFeed()
  const a = fakeMember()
  const sub = new Subscription(a, '42', feed)
  // History was read as of offset 3; 2 and 3 also reached the room while it was read.
  offer(sub, msg(2), msg(3), msg(4))
  sub.start({ epoch: 'e1', offset: 3 }, 0, [msg(1), msg(2), msg(3)])
  t.same(a.offsets(), [1, 2, 3, 4])
  t.same(feed.reads, [])
})

t.test('a subscribe without since: only what follows the announced offset', async (t) => {
  const a = fakeMember()
  const sub = new Subscription(a, '42', new FakeFeed())
  offer(sub, msg(7), msg(8))
  sub.start({ epoch: 'e1', offset: 7 }, 7, [])
  t.same(a.offsets(), [8])
})

t.test(
  'a member that falls too far behind a replay overflows; pending stays bounded',
  async (t) => {
    const a = fakeMember()
    const sub = new Subscription(a, '42', new FakeFeed(2))
    offer(sub, msg(1), msg(2))
    t.equal(a.overflows, 0)
    offer(sub, msg(3))
    t.equal(a.overflows, 1)
    t.same(offsets(sub.waiting), [1, 2])
    t.same(a.frames, [], 'nothing sent during the replay')
  },
)

t.test('a gap in live delivery: caught up from history, what waits comes after', async (t) => {
  const feed = new FakeFeed()
  const a = fakeMember()
  const sub = liveSubscription(a, feed)
  offer(sub, msg(1), msg(3))
  t.same(a.offsets(), [1], '3 is not delivered over the gap')
  t.equal(feed.reads.length, 1, 'one history read')
  t.same(feed.reads[0]?.since, { epoch: 'e1', offset: 1 }, 'from the position handled')
  t.ok(sub.replaying)
  offer(sub, msg(4))
  t.equal(feed.reads.length, 1, 'one catch-up at a time')
  t.same(offsets(sub.waiting), [3, 4])
  feed.reads[0]?.answer({ epoch: 'e1', offset: 3, messages: [msg(2), msg(3)] })
  await nextTurn()
  t.same(a.offsets(), [1, 2, 3, 4], 'no gap, no duplicate')
  t.notOk(sub.replaying)
  offer(sub, msg(5))
  t.same(a.offsets(), [1, 2, 3, 4, 5])
})

t.test('a gap among the messages that waited: another catch-up', async (t) => {
  const feed = new FakeFeed()
  const a = fakeMember()
  const sub = new Subscription(a, '42', feed)
  offer(sub, msg(3), msg(5))
  sub.start({ epoch: 'e1', offset: 2 }, 2, [])
  t.same(a.offsets(), [3])
  t.same(feed.reads[0]?.since, { epoch: 'e1', offset: 3 })
  t.same(offsets(sub.waiting), [5], 'the message after the gap waits')
  feed.reads[0]?.answer({ epoch: 'e1', offset: 5, messages: [msg(4), msg(5)] })
  await nextTurn()
  t.same(a.offsets(), [3, 4, 5])
})

t.test('a new epoch while replaying: resync, then the new epoch from its start', async (t) => {
  const feed = new FakeFeed()
  const a = fakeMember()
  const sub = new Subscription(a, '42', feed)
  // The room's history started afresh (e2) while the subscribe read e1.
  offer(sub, msg(1, { epoch: 'e2' }), msg(2, { epoch: 'e2' }))
  sub.start({ epoch: 'e1', offset: 9 }, 9, [])
  t.same(a.frames, [], 'nothing of e2 delivered against an e1 position')
  t.same(feed.reads[0]?.since, { epoch: 'e1', offset: 9 })
  feed.reads[0]?.answer({ epoch: 'e2', offset: 2, messages: null })
  await nextTurn()
  t.same(feed.reads[1]?.since, { epoch: 'e2', offset: 0 }, 'the new epoch read whole')
  feed.reads[1]?.answer({
    epoch: 'e2',
    offset: 2,
    messages: [msg(1, { epoch: 'e2' }), msg(2, { epoch: 'e2' })],
  })
  await nextTurn()
  t.same(trail(a), ['resync e2@0', 'message 1', 'message 2'])
  t.same(sub.position, { epoch: 'e2', offset: 2 })
  offer(sub, msg(3, { epoch: 'e2' }))
  t.same(a.offsets(), [1, 2, 3], 'then live in e2')
})

t.test('a new epoch whose start is gone: resync at its latest offset', async (t) => {
  const feed = new FakeFeed()
  const a = fakeMember()
  const sub = liveSubscription(a, feed, { epoch: 'e1', offset: 4 })
  offer(sub, msg(30, { epoch: 'e2' }))
  feed.reads[0]?.answer({ epoch: 'e2', offset: 30, messages: null })
  await nextTurn()
  feed.reads[1]?.answer({ epoch: 'e2', offset: 30, messages: null })
  await nextTurn()
  t.same(trail(a), ['resync e2@30'], 'messages were lost: the client reloads its state')
  t.same(a.offsets(), [], '30 is covered by the resync position')
  offer(sub, msg(31, { epoch: 'e2' }))
  t.same(a.offsets(), [31])
})

t.test('history trimmed past the position: resync, no second read', async (t) => {
  const feed = new FakeFeed()
  const a = fakeMember()
  const sub = liveSubscription(a, feed, { epoch: 'e1', offset: 1 })
  a.expired = true
  offer(sub, msg(2), msg(3), msg(4))
  t.same(a.frames, [], 'nothing live while expired')
  t.same(sub.position, { epoch: 'e1', offset: 1 }, 'and the position stays')
  a.expired = false
  sub.resume()
  feed.reads[0]?.answer({ epoch: 'e1', offset: 4, messages: null })
  await nextTurn()
  t.equal(feed.reads.length, 1)
  t.same(trail(a), ['resync e1@4'])
})

t.test('resume() catches up once, and not while replaying', async (t) => {
  const feed = new FakeFeed()
  const sub = liveSubscription(fakeMember(), feed)
  sub.resume()
  sub.resume()
  t.equal(feed.reads.length, 1)
  const replaying = new Subscription(fakeMember(), '42', feed)
  replaying.resume()
  t.equal(feed.reads.length, 1)
})

t.test('a subscribe again during a catch-up: the position never goes back', async (t) => {
  const feed = new FakeFeed()
  const a = fakeMember()
  const sub = liveSubscription(a, feed)
  offer(sub, msg(1), msg(3))
  // The member subscribes to the room again: it is answered at offset 3 and replays 2, 3.
  sub.hold()
  sub.start({ epoch: 'e1', offset: 3 }, 1, [msg(2), msg(3)])
  t.same(a.offsets(), [1, 2, 3])
  // The catch-up's older read answers last.
  feed.reads[0]?.answer({ epoch: 'e1', offset: 3, messages: [msg(2), msg(3)] })
  await nextTurn()
  t.same(a.offsets(), [1, 2, 3], 'nothing twice')
  offer(sub, msg(4))
  t.same(a.offsets(), [1, 2, 3, 4])
})

t.test('removed: late answers and failures are ignored', async (t) => {
  const feed = new FakeFeed()
  const a = fakeMember()
  const sub = liveSubscription(a, feed)
  offer(sub, msg(2))
  sub.remove()
  feed.reads[0]?.answer({ epoch: 'e1', offset: 2, messages: [msg(1), msg(2)] })
  await nextTurn()
  t.same(a.frames, [])
  t.equal(offer(sub, msg(3)), 0)
  sub.start({ epoch: 'e1', offset: 3 }, 0, [msg(1)])
  t.same(a.frames, [], 'a subscribe answered after the member left sends nothing')

  const b = fakeMember()
  const other = liveSubscription(b, feed)
  offer(other, msg(2))
  other.remove()
  feed.reads[1]?.fail(new Error('history unavailable'))
  await nextTurn()
  t.same(feed.errors, [])
})

t.test('a failed history read is reported with its member', async (t) => {
  const feed = new FakeFeed()
  const a = fakeMember()
  const sub = liveSubscription(a, feed)
  offer(sub, msg(2))
  feed.reads[0]?.fail(new Error('history unavailable'))
  await nextTurn()
  t.equal(feed.errors.length, 1)
  t.match(feed.errors[0]?.[0], { message: 'history unavailable' })
  t.equal(feed.errors[0]?.[1], a)
})

t.test('replayed history: each offset once, filtered ones still move the position', async (t) => {
  const a = fakeMember(1, ['@site_active'], 'tab-a')
  const sub = new Subscription(a, '42', new FakeFeed())
  sub.start({ epoch: 'e1', offset: 4 }, 1, [
    msg(1),
    msg(2),
    msg(2),
    msg(3, { epoch: 'other' }),
    msg(4, { sender_user_id: 1, sender_uuid: 'tab-a' }),
  ])
  t.same(a.offsets(), [2])
  t.same(sub.position, { epoch: 'e1', offset: 4 })
})

t.test('isVisible', async (t) => {
  const m = fakeMember(101, ['@ug_1'], 'tab-a')
  t.ok(isVisible(msg(1), m))
  t.notOk(isVisible(msg(1, { sender_user_id: 101, sender_uuid: 'tab-a' }), m))
  t.ok(isVisible(msg(1, { sender_user_id: 102, sender_uuid: 'tab-a' }), m))
  t.ok(isVisible(msg(1, { sender_user_id: null, sender_uuid: 'tab-a' }), m))
  t.notOk(isVisible(msg(1, { rights: parseRights(kanbanRights()) }), m))
})

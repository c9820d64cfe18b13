/** The other nodes' presence as one node learns it: events and reads, in any order. */
import t from 'tap'
import type { PresenceChange } from '../../src/broker/broker.js'
import { PresenceView, type SharedState } from '../../src/broker/presence-view.js'

const alice = { user_id: 1, uuid: 'a' }
const bob = { user_id: 2, uuid: 'b' }
const share = (seq: number, ...members: (typeof alice)[]): SharedState => ({
  seq,
  count: members.length,
  members,
})

function setup() {
  const view = new PresenceView()
  const told: string[] = []
  const listener = (c: PresenceChange, count: number) =>
    told.push(`${c.event}:${c.member.uuid ?? ''}:${count}`)
  view.watch('42', listener)
  return { view, told, listener }
}

t.test('the first read fills the view silently; later reads tell the difference', async (t) => {
  const { view, told } = setup()
  t.same(view.applyRead('42', new Map([['n1', share(1, alice)]]), view.tick()), {
    count: 1,
    members: [alice],
  })
  t.same(told, [], 'nothing announced for who was there before')
  view.applyRead('42', new Map([['n1', share(2, alice, bob)]]), view.tick())
  t.same(told, ['join:b:2'], 'a join missed by events')
  view.applyRead('42', new Map(), view.tick())
  t.same(told, ['join:b:2', 'leave:a:0', 'leave:b:0'], 'a node gone: its members leave')
})

t.test('an event is told once, whether the read that shows it comes before or after', async (t) => {
  const { view, told } = setup()
  view.applyRead('42', new Map(), view.tick())
  // The read started before the event but answered after it: it must not undo it.
  const started = view.tick()
  view.applyEvent('42', 'n1', share(1, alice), { event: 'join', member: alice })
  view.applyRead('42', new Map(), started)
  t.same(view.snapshot('42'), { count: 1, members: [alice] }, 'the older read did not remove n1')
  // A read that already shows the event's share: the event adds nothing.
  view.applyRead('42', new Map([['n1', share(2, alice, bob)]]), view.tick())
  view.applyEvent('42', 'n1', share(2, alice, bob), { event: 'join', member: bob })
  t.same(told, ['join:a:1', 'join:b:2'], 'each join told once')
  view.applyEvent('42', 'n1', share(1, alice), { event: 'join', member: alice })
  t.same(view.snapshot('42').count, 2, 'an older share never replaces a newer one')
})

t.test('a withheld list (too many members) gives a count and no list', async (t) => {
  const { view, told } = setup()
  view.applyRead('42', new Map([['n1', share(1, alice)]]), view.tick())
  view.applyRead('42', new Map([['n1', { seq: 2, count: 500, members: null }]]), view.tick())
  t.same(view.snapshot('42'), { count: 500, members: null })
  t.same(told, [], 'no difference can be told without the list')
})

t.test('an unwatched room is forgotten; reads of it still answer', async (t) => {
  const { view, listener } = setup()
  view.unwatch('42', listener)
  t.equal(view.size, 0)
  t.same(view.applyRead('42', new Map([['n1', share(1, alice)]]), view.tick()), {
    count: 1,
    members: [alice],
  })
  t.same(view.snapshot('42'), { count: 0, members: [] })
})

import t, { type Test } from 'tap'
import { parseRights } from '../../src/auth/rights.js'
import type {
  Idempotency,
  Published,
  Broker,
  HistoryResult,
  RoomListener,
  RoomPosition,
  StoredMessage,
} from '../../src/broker/broker.js'
import { MemoryBroker } from '../../src/broker/memory-broker.js'
import { RelayError } from '../../src/errors.js'
import { Hub, type HubOptions } from '../../src/hub/hub.js'
import type { Message } from '../../src/protocol/message.js'
import type { Member } from '../../src/hub/member.js'
import { fakeMember, ThrowingMember } from '../helpers/fakes.js'
import { testMessage } from '../helpers/messages.js'
import { kanbanRights } from '../helpers/tokens.js'
import { sleep, until } from '../helpers/wait.js'

const member = fakeMember

const message = (roomId: string, cmd: string, extra: Partial<Message> = {}): Message =>
  testMessage(roomId, cmd, { data: { cmd }, ...extra })

/** Let pending promise callbacks run. */
const flush = (): Promise<void> => new Promise((resolve) => setImmediate(resolve))

/**
 * A broker around a MemoryBroker whose history reads can be held back: `hold()` makes
 * the next reads wait for `release()`, answering either what history held when the
 * read was made (`'call'`) or when it is released (`'release'`). `drop` loses the
 * given offsets on the way to listeners (a pub/sub hiccup).
 */
class GatedBroker implements Broker {
  readonly ready = true
  private holding: 'call' | 'release' | null = null
  private waiting: (() => void)[] = []
  private readonly wrapped = new Map<RoomListener, RoomListener>()
  readonly drop = new Set<number>()
  historyCalls = 0
  failHistory = false
  /** The next reads that fail as an unavailable broker does (Redis reconnecting). */
  unavailableReads = 0

  constructor(readonly inner: MemoryBroker) {}

  hold(mode: 'call' | 'release'): void {
    this.holding = mode
  }

  /** Answer every held read (the newest first with `lifo`), and stop holding. */
  release(order: 'fifo' | 'lifo' = 'fifo'): void {
    this.holding = null
    const waiting = this.waiting.splice(0)
    if (order === 'lifo') waiting.reverse()
    for (const w of waiting) w()
  }

  get held(): number {
    return this.waiting.length
  }

  publish(messages: readonly Message[], idempotency?: Idempotency): Promise<Published> {
    return this.inner.publish(messages, idempotency)
  }

  subscribe(roomId: string, listener: RoomListener): Promise<void> {
    const w: RoomListener = (m) => {
      if (!this.drop.has(m.offset)) listener(m)
    }
    this.wrapped.set(listener, w)
    return this.inner.subscribe(roomId, w)
  }

  unsubscribe(roomId: string, listener: RoomListener): Promise<void> {
    const w = this.wrapped.get(listener)
    this.wrapped.delete(listener)
    return w ? this.inner.unsubscribe(roomId, w) : Promise.resolve()
  }

  history(roomId: string, since?: RoomPosition): Promise<HistoryResult> {
    this.historyCalls += 1
    if (this.failHistory) return Promise.reject(new Error('history unavailable'))
    if (this.unavailableReads > 0) {
      this.unavailableReads -= 1
      return Promise.reject(new RelayError('RELAY_ERR_BROKER_UNAVAILABLE'))
    }
    if (this.holding === 'call') {
      const answer = this.inner.history(roomId, since)
      return new Promise((resolve) => this.waiting.push(() => resolve(answer)))
    }
    if (this.holding === 'release') {
      return new Promise((resolve) =>
        this.waiting.push(() => resolve(this.inner.history(roomId, since))),
      )
    }
    return this.inner.history(roomId, since)
  }

  close(): Promise<void> {
    return this.inner.close()
  }
}

interface Setup {
  hub: Hub
  broker: GatedBroker
  memory: MemoryBroker
  clock: { ms: number }
  errors: [unknown, Member][]
  publish: (...messages: Message[]) => Promise<StoredMessage[]>
}

function setup(
  t: Test,
  opts: Partial<HubOptions> & { historySize?: number; historyTtlMs?: number } = {},
): Setup {
  const clock = { ms: 1_767_225_600_000 }
  const memory = new MemoryBroker({
    historySize: opts.historySize ?? 100,
    historyTtlMs: opts.historyTtlMs ?? 300_000,
    now: () => clock.ms,
  })
  const broker = new GatedBroker(memory)
  t.teardown(() => broker.close())
  const errors: [unknown, Member][] = []
  const hub = new Hub(
    broker,
    {
      presenceMaxMembers: opts.presenceMaxMembers ?? 200,
      maxPending: opts.maxPending ?? 1000,
      ...(opts.catchUpRetryMs === undefined ? {} : { catchUpRetryMs: opts.catchUpRetryMs }),
    },
    (err, m) => {
      errors.push([err, m])
    },
  )
  return {
    hub,
    broker,
    memory,
    clock,
    errors,
    publish: async (...messages) => [...(await broker.publish(messages)).stored],
  }
}

t.test('subscribe without since: latest offset, no replay, then live', async (t) => {
  const { hub, publish } = setup(t)
  const [first] = await publish(message('42', 'a'), message('42', 'b'), message('42', 'c'))
  const a = member()
  await hub.subscribe(a, '42', { presence: false })
  t.strictSame(a.take(), [
    {
      type: 'subscribed',
      room_id: '42',
      epoch: first!.epoch,
      offset: 3,
      presence_count: 1,
    },
  ])
  await publish(message('42', 'd'))
  t.strictSame(a.take(), [
    {
      type: 'message',
      room_id: '42',
      epoch: first!.epoch,
      offset: 4,
      cmd: 'd',
      data: { cmd: 'd' },
    },
  ])
  t.ok(hub.isSubscribed(a, '42'))
  t.equal(hub.roomCount(a), 1)
})

t.test('subscribe to an empty room: offset 0, then the first message live', async (t) => {
  const { hub, publish, broker } = setup(t)
  const a = member()
  await hub.subscribe(a, 'new-room', { presence: false })
  const [sub] = a.take()
  t.match(sub, { type: 'subscribed', offset: 0 })
  const [m] = await publish(message('new-room', 'x'))
  t.equal(m!.epoch, sub!.epoch, 'same epoch as announced')
  t.same(a.offsets(), [1])
  t.equal(broker.historyCalls, 1, 'no catch-up was needed')
})

t.test('subscribe with since (hit): replay filtered by rights, then live', async (t) => {
  const { hub, publish } = setup(t)
  const restricted = parseRights(kanbanRights({ tracker: ['@ug_7'] }))
  const stored = await publish(
    message('42', 'm1'),
    message('42', 'm2', { rights: restricted }),
    message('42', 'm3', { sender_user_id: 101, sender_uuid: 'tab-101' }),
    message('42', 'm4'),
  )
  const epoch = stored[0]!.epoch
  const a = member(101, ['@site_active'], 'tab-101')
  await hub.subscribe(a, '42', { presence: false, since: { epoch, offset: 1 } })
  t.match(a.frames[0], { type: 'subscribed', epoch, offset: 4, recovered: true })
  t.same(
    a.of('message').map((f) => f.cmd),
    ['m4'],
    'm2 filtered by rights, m3 by sender exclusion',
  )
  const b = member(102, ['@ug_7'], 'tab-102')
  await hub.subscribe(b, '42', { presence: false, since: { epoch, offset: 0 } })
  t.same(
    b.of('message').map((f) => f.cmd),
    ['m1', 'm2', 'm3', 'm4'],
  )
  a.take()
  b.take()
  await publish(message('42', 'm5'))
  t.same(a.offsets(), [5])
  t.same(b.offsets(), [5])
})

t.test('subscribe with since == latest: recovered, nothing replayed', async (t) => {
  const { hub, publish } = setup(t)
  const [m] = await publish(message('42', 'a'))
  const a = member()
  await hub.subscribe(a, '42', { presence: false, since: { epoch: m!.epoch, offset: 1 } })
  t.equal(a.frames.length, 1)
  t.match(a.frames[0], { type: 'subscribed', offset: 1, recovered: true })
})

t.test('subscribe with since not covered: recovered false, no replay, then live', async (t) => {
  const { hub, publish } = setup(t, { historySize: 2 })
  const stored = await publish(...[1, 2, 3, 4].map((n) => message('42', `m${n}`)))
  const epoch = stored[0]!.epoch
  const cases: [string, RoomPosition][] = [
    ['another epoch', { epoch: 'not-this-one', offset: 2 }],
    ['trimmed', { epoch, offset: 1 }],
    ['beyond the latest', { epoch, offset: 9 }],
  ]
  for (const [name, since] of cases) {
    const a = member()
    await hub.subscribe(a, '42', { presence: false, since })
    t.strictSame(
      a.take(),
      [
        {
          type: 'subscribed',
          room_id: '42',
          epoch,
          offset: 4,
          recovered: false,
          presence_count: hub.stats().members,
        },
      ],
      name,
    )
  }
  const members = [member(1), member(2)]
  for (const m of members) {
    await hub.subscribe(m, '42', { presence: false, since: { epoch: 'other', offset: 2 } })
    m.take()
  }
  await publish(message('42', 'm5'))
  for (const m of members) {
    t.strictSame(
      m.frames.map((f) => [f.type, f.offset]),
      [['message', 5]],
      'live from the announced offset: no resync, no replay',
    )
  }
})

t.test('subscribe with since after a TTL expiry: recovered false', async (t) => {
  const { hub, publish, clock } = setup(t, { historyTtlMs: 1000 })
  const [m] = await publish(message('42', 'a'))
  clock.ms += 1001
  const a = member()
  await hub.subscribe(a, '42', { presence: false, since: { epoch: m!.epoch, offset: 0 } })
  t.match(a.frames, [{ type: 'subscribed', recovered: false }])
  t.same(a.offsets(), [])
})

t.test('live messages during the history read: neither lost nor duplicated', async (t) => {
  for (const mode of ['call', 'release'] as const) {
    for (const withSince of [true, false]) {
      const name = `history answered as of the ${mode}, ${withSince ? 'with' : 'without'} since`
      t.test(name, async (t) => {
        const { hub, broker, publish } = setup(t)
        const stored = await publish(message('42', 'm1'), message('42', 'm2'))
        const epoch = stored[0]!.epoch
        const a = member()
        broker.hold(mode)
        const done = hub.subscribe(a, '42', {
          presence: false,
          ...(withSince ? { since: { epoch, offset: 0 } } : {}),
        })
        await flush()
        t.equal(broker.held, 1, 'the history read is pending')
        await publish(message('42', 'm3'))
        await publish(message('42', 'm4'))
        t.same(a.frames, [], 'nothing sent before the subscribed answer')
        broker.release()
        await done
        const subscribed = a.frames[0]
        t.match(subscribed, { type: 'subscribed' })
        const latest = subscribed?.offset as number
        t.equal(latest, mode === 'call' ? 2 : 4)
        const expected = [1, 2, 3, 4].filter((n) => withSince || n > latest)
        t.same(a.offsets(), expected, 'every message after the position, once, in order')
        await publish(message('42', 'm5'))
        t.same(a.offsets(), [...expected, 5], 'then live')
      })
    }
  }
})

t.test('a gap among the messages that waited during the replay is caught up', async (t) => {
  const { hub, broker, publish } = setup(t)
  await publish(message('42', 'm1'), message('42', 'm2'))
  const a = member()
  broker.hold('call')
  const done = hub.subscribe(a, '42', { presence: false })
  await flush()
  broker.drop.add(3)
  await publish(message('42', 'm3'), message('42', 'm4'))
  broker.release()
  await done
  await flush()
  t.match(a.frames[0], { type: 'subscribed', offset: 2 })
  t.same(a.offsets(), [3, 4], 'm3 is fetched from history before m4 is delivered')
})

t.test('a re-subscribe during a catch-up: each message once, in order', async (t) => {
  for (const order of ['fifo', 'lifo'] as const) {
    t.test(`history answers ${order}`, async (t) => {
      const { hub, broker, publish } = setup(t)
      const a = member()
      await hub.subscribe(a, '42', { presence: false })
      await publish(message('42', 'm1'))
      broker.drop.add(2)
      broker.hold('call')
      await publish(message('42', 'm2'), message('42', 'm3'))
      t.equal(broker.held, 1, 'the gap started a catch-up')
      const again = hub.subscribe(a, '42', { presence: false })
      await flush()
      t.equal(broker.held, 2)
      broker.release(order)
      await again
      await flush()
      await publish(message('42', 'm4'))
      t.same(a.offsets(), [1, 2, 3, 4], 'the catch-up and the subscribe deliver 2 and 3 once')
      t.match(
        a.frames.filter((f) => f.type === 'subscribed'),
        [{ offset: 0 }, { offset: 3 }],
      )
    })
  }
})

t.test(
  'a subscribe again to a room already joined skips nothing and repeats nothing',
  async (t) => {
    for (const since of ['none', 'older', 'current'] as const) {
      t.test(`since: ${since}`, async (t) => {
        const { hub, broker, publish } = setup(t)
        const a = member()
        await hub.subscribe(a, '42', { presence: false })
        const [m1] = await publish(message('42', 'm1'), message('42', 'm2'))
        const epoch = m1!.epoch
        broker.hold('release')
        const offset = { none: undefined, older: 0, current: 2 }[since]
        const again = hub.subscribe(a, '42', {
          presence: true,
          ...(offset === undefined ? {} : { since: { epoch, offset } }),
        })
        await flush()
        // Published while the second subscribe reads history: they wait, then follow it.
        await publish(message('42', 'm3'))
        await publish(message('42', 'm4'))
        broker.release()
        await again
        await publish(message('42', 'm5'))
        t.same(a.offsets(), [1, 2, 3, 4, 5], 'each message once, in order')
        const answers = a.frames.filter((f) => f.type === 'subscribed')
        t.equal(answers.length, 2)
        t.match(answers[1], { offset: 4, ...(offset === undefined ? {} : { recovered: true }) })
      })
    }
  },
)

t.test('a subscribe again whose position history lost: resync, never a silent jump', async (t) => {
  const { hub, publish } = setup(t, { historySize: 2 })
  const a = member()
  await hub.subscribe(a, '42', { presence: false })
  await publish(message('42', 'm1'))
  a.expired = true
  await publish(message('42', 'm2'), message('42', 'm3'), message('42', 'm4'))
  a.expired = false
  a.take()
  await hub.subscribe(a, '42', { presence: false })
  await publish(message('42', 'm5'))
  t.match(a.take(), [
    { type: 'subscribed', offset: 4 },
    { type: 'resync', offset: 4 },
    { type: 'message', offset: 5 },
  ])
})

t.test('a message lost on the way to the room is caught up from history', async (t) => {
  const { hub, broker, publish } = setup(t)
  const a = member()
  await hub.subscribe(a, '42', { presence: false })
  broker.drop.add(2)
  await publish(message('42', 'm1'), message('42', 'm2'))
  t.same(a.offsets(), [1])
  await publish(message('42', 'm3'))
  await flush()
  t.same(a.offsets(), [1, 2, 3], 'the gap is filled from history, then live resumes')
  await publish(message('42', 'm4'))
  t.same(a.offsets(), [1, 2, 3, 4])
})

t.test('a catch-up refused by an unavailable broker is tried again', async (t) => {
  t.test('the member stays and gets what it missed once the broker answers', async (t) => {
    const { hub, broker, errors, publish } = setup(t, { catchUpRetryMs: 1 })
    const a = member()
    await hub.subscribe(a, '42', { presence: false })
    broker.drop.add(2)
    await publish(message('42', 'm1'), message('42', 'm2'))
    broker.unavailableReads = 3
    await publish(message('42', 'm3'))
    await until('the catch-up went through', () => a.offsets().length === 3)
    t.same(a.offsets(), [1, 2, 3])
    t.equal(broker.historyCalls, 5, 'the subscribe, three refusals, the catch-up')
    t.same(errors, [], 'the member was not failed')
  })
  /** A member of room 42 missing m1 while the broker refuses every history read. */
  const catchUpNeverServed = async (t: Test) => {
    const hubSetup = setup(t, { catchUpRetryMs: 1 })
    const { hub, broker, publish } = hubSetup
    const a = member()
    await hub.subscribe(a, '42', { presence: false })
    broker.drop.add(1)
    broker.unavailableReads = 1000
    await publish(message('42', 'm1'), message('42', 'm2'))
    return { ...hubSetup, a }
  }
  t.test('until the attempts run out: then the member is failed', async (t) => {
    const { broker, errors, a } = await catchUpNeverServed(t)
    await until('the member is failed', () => errors.length > 0)
    t.match(errors, [[{ code: 'RELAY_ERR_BROKER_UNAVAILABLE' }, a]])
    t.equal(broker.historyCalls, 21, 'the subscribe, then 20 attempts')
  })
  t.test('not once the member is gone', async (t) => {
    const { hub, broker, errors, a } = await catchUpNeverServed(t)
    hub.unsubscribe(a, '42')
    const calls = broker.historyCalls
    await sleep(50)
    t.ok(broker.historyCalls <= calls + 1, 'no more reads')
    t.same(errors, [])
  })
})

t.test('presence', async (t) => {
  t.test('presence_count always; the list only when asked', async (t) => {
    const { hub } = setup(t)
    const a = member(1)
    const b = member(2)
    await hub.subscribe(a, '42', { presence: true })
    const [subA] = a.take()
    t.strictSame(subA, {
      type: 'subscribed',
      room_id: '42',
      epoch: subA?.epoch,
      offset: 0,
      presence_count: 1,
      presence: [{ user_id: 1, uuid: 'tab-1' }],
    })
    await hub.subscribe(b, '42', { presence: false })
    const [subB] = b.take()
    t.equal(subB?.presence_count, 2)
    t.notOk('presence' in subB!, 'no list when not asked')
    t.strictSame(a.take(), [
      { type: 'presence', room_id: '42', event: 'join', user_id: 2, uuid: 'tab-2' },
    ])
    const c = member(3, [], null)
    await hub.subscribe(c, '42', { presence: true })
    t.match(c.take(), [
      {
        type: 'subscribed',
        presence_count: 3,
        presence: [
          { user_id: 1, uuid: 'tab-1' },
          { user_id: 2, uuid: 'tab-2' },
          { user_id: 3, uuid: null },
        ],
      },
    ])
    t.strictSame(a.take(), [
      { type: 'presence', room_id: '42', event: 'join', user_id: 3, uuid: null },
    ])
    t.same(b.take(), [], 'join/leave frames only to watchers')
    hub.unsubscribe(b, '42')
    t.strictSame(a.take(), [
      { type: 'presence', room_id: '42', event: 'leave', user_id: 2, uuid: 'tab-2' },
    ])
    t.strictSame(c.take(), [
      { type: 'presence', room_id: '42', event: 'leave', user_id: 2, uuid: 'tab-2' },
    ])
    await hub.subscribe(a, '42', { presence: false })
    a.take()
    hub.unsubscribe(c, '42')
    t.same(a.take(), [], 'a re-subscribe without presence stops the frames')
  })

  t.test('a watcher catching up from history still gets join and leave frames', async (t) => {
    const { hub, broker, publish } = setup(t)
    const a = member(1)
    const b = member(2)
    await hub.subscribe(a, '42', { presence: true })
    await hub.subscribe(b, '42', { presence: false })
    a.take()
    broker.drop.add(1)
    broker.hold('call')
    await publish(message('42', 'm1'), message('42', 'm2'))
    t.equal(broker.held, 2, 'the gap started a catch-up for both members')
    hub.unsubscribe(b, '42')
    t.same(a.presence(), ['leave:tab-2'], 'its member list stays true while it catches up')
    broker.release()
    await flush()
    t.same(a.offsets(), [1, 2])
  })

  t.test('rooms above presence_max_members: count only, no frames', async (t) => {
    const { hub } = setup(t, { presenceMaxMembers: 2 })
    const a = member(1)
    await hub.subscribe(a, '42', { presence: true })
    await hub.subscribe(member(2), '42', { presence: false })
    t.equal(a.of('presence').length, 1, 'the second member still announced (2 ≤ 2)')
    const c = member(3)
    await hub.subscribe(c, '42', { presence: true })
    const [subC] = c.take()
    t.equal(subC?.presence_count, 3)
    t.notOk('presence' in subC!, 'no list in a room of 3 > 2')
    t.equal(a.of('presence').length, 1, 'no join frame for the third member')
    hub.unsubscribe(c, '42')
    t.equal(a.of('presence').length, 2, 'back to 2 members: the leave is announced')
  })
})

t.test('unsubscribe and remove leave nothing behind', async (t) => {
  const { hub, memory, clock, publish } = setup(t, { historyTtlMs: 1000 })
  const a = member(1)
  const b = member(2)
  for (const room of ['1', '2', '3']) await hub.subscribe(a, room, { presence: true })
  await hub.subscribe(b, '1', { presence: true })
  t.same(hub.stats(), { rooms: 3, members: 2 })
  await publish(message('1', 'x'), message('2', 'y'))
  const published = await memory.publish([message('3', 'z')], { jti: 'jti-1', ttlMs: 1000 })
  t.equal(published.accepted.length, 1)

  hub.unsubscribe(b, '1')
  t.same(hub.stats(), { rooms: 3, members: 1 })
  hub.unsubscribe(b, '1')
  t.pass('a second unsubscribe is harmless')
  hub.remove(a)
  t.same(hub.stats(), { rooms: 0, members: 0 })
  t.notOk(hub.isSubscribed(a, '1'))
  t.equal(hub.roomCount(a), 0)
  hub.remove(a)
  t.same(hub.stats(), { rooms: 0, members: 0 }, 'removing twice is harmless')

  const frames = a.frames.length
  await publish(message('1', 'after'))
  t.equal(a.frames.length, frames, 'no delivery after remove')

  clock.ms += 1001
  memory.sweep()
  t.same(memory.stats(), { rooms: 0, jtis: 0 }, 'the broker forgets the rooms and jtis too')
})

t.test('a failing history read removes the half-made subscription', async (t) => {
  const { hub, broker } = setup(t)
  broker.failHistory = true
  const a = member()
  await t.rejects(hub.subscribe(a, '42', { presence: false }), { message: 'history unavailable' })
  t.same(hub.stats(), { rooms: 0, members: 0 })
  t.same(a.frames, [])
})

t.test('a member unsubscribed while its history read is pending gets nothing', async (t) => {
  const { hub, broker, publish } = setup(t)
  const a = member()
  broker.hold('call')
  const done = hub.subscribe(a, '42', { presence: false })
  await flush()
  hub.unsubscribe(a, '42')
  await publish(message('42', 'x'))
  broker.release()
  await done
  t.same(a.frames, [])
  t.same(hub.stats(), { rooms: 0, members: 0 })
})

t.test('a member that throws does not stop the fan-out', async (t) => {
  const { hub, publish, errors } = setup(t)
  const a = member(1)
  const thrower = new ThrowingMember(2, new Set(['@site_active']), 'x')
  const c = member(3)
  await hub.subscribe(a, '42', { presence: false })
  // The thrower's subscribe fails on its `subscribed` frame and is undone.
  await t.rejects(hub.subscribe(thrower, '42', { presence: false }))
  t.notOk(hub.isSubscribed(thrower, '42'))
  await hub.subscribe(c, '42', { presence: false })
  // Now one that starts failing after it joined.
  const late = member(4)
  await hub.subscribe(late, '42', { presence: false })
  late.send = () => {
    throw new Error('gone')
  }
  await publish(message('42', 'm1'))
  t.same(a.offsets(), [1])
  t.same(c.offsets(), [1], 'the member after the failing one still receives')
  t.equal(errors.length, 1)
  t.equal(errors[0]?.[1], late)
})

t.test('resume() after an expiry', async (t) => {
  t.test('replays what was missed, filtered by the current rights', async (t) => {
    const { hub, publish } = setup(t)
    const a = member(101, ['@site_active'], 'tab-a')
    await hub.subscribe(a, '42', { presence: false })
    await hub.subscribe(a, '43', { presence: false })
    await publish(message('42', 'm1'))
    a.take()
    a.expired = true
    await publish(
      message('42', 'm2'),
      message('42', 'm3', { rights: parseRights(kanbanRights({ tracker: ['@ug_1'] })) }),
      message('43', 'n1'),
    )
    t.same(a.frames, [], 'nothing live while expired')
    a.expired = false
    hub.resume(a)
    await flush()
    t.same(
      a.of('message').map((f) => [f.room_id, f.cmd]),
      [
        ['42', 'm2'],
        ['43', 'n1'],
      ],
      'missed messages, m3 filtered',
    )
    a.take()
    await publish(message('42', 'm4'), message('43', 'n2'))
    t.same(
      a.of('message').map((f) => f.cmd),
      ['m4', 'n2'],
      'then live',
    )
  })

  t.test('sends resync when history was trimmed meanwhile', async (t) => {
    const { hub, publish } = setup(t, { historySize: 2 })
    const a = member()
    await hub.subscribe(a, '42', { presence: false })
    a.take()
    a.expired = true
    const stored = await publish(...[1, 2, 3].map((n) => message('42', `m${n}`)))
    a.expired = false
    hub.resume(a)
    await flush()
    t.strictSame(a.take(), [{ type: 'resync', room_id: '42', epoch: stored[0]!.epoch, offset: 3 }])
    await publish(message('42', 'm4'))
    t.same(a.offsets(), [4], 'live again from the resync offset')
  })

  t.test('sends resync when history expired meanwhile', async (t) => {
    const { hub, publish, clock } = setup(t, { historyTtlMs: 1000 })
    const a = member()
    await hub.subscribe(a, '42', { presence: false })
    a.take()
    a.expired = true
    await publish(message('42', 'm1'))
    clock.ms += 1001
    a.expired = false
    hub.resume(a)
    await flush()
    t.match(a.take(), [{ type: 'resync', room_id: '42', offset: 1 }])
  })

  t.test('with nothing missed: nothing sent', async (t) => {
    const { hub, publish } = setup(t)
    const a = member()
    await hub.subscribe(a, '42', { presence: false })
    await publish(message('42', 'm1'))
    a.take()
    a.expired = true
    a.expired = false
    hub.resume(a)
    await flush()
    t.same(a.frames, [])
    await publish(message('42', 'm2'))
    t.same(a.offsets(), [2])
  })
})

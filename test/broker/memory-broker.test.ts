import t, { type Test } from 'tap'
import type { StoredMessage } from '../../src/broker/broker.js'
import { MemoryBroker, type MemoryBrokerOptions } from '../../src/broker/memory-broker.js'
import type { Message } from '../../src/protocol/message.js'
import { brokerContract } from './contract.js'
import { firstStored, testMessage } from '../helpers/messages.js'

brokerContract(t, 'MemoryBroker', async (opts) => new MemoryBroker(opts), {
  // The only way a memory broker loses its rooms: its process restarts.
  'process restarted': {
    checkpoint: () => Promise.resolve(),
    lose: async (broker, opts) => {
      await broker.close()
      return new MemoryBroker(opts)
    },
  },
})

const message = (roomId: string, cmd: string): Message => testMessage(roomId, cmd)

function setup(
  t: Test,
  opts: Partial<MemoryBrokerOptions> = {},
): { broker: MemoryBroker; clock: { ms: number } } {
  const clock = { ms: 1_767_225_600_000 }
  const broker = new MemoryBroker({
    historySize: 100,
    historyTtlMs: 10_000,
    now: () => clock.ms,
    ...opts,
  })
  t.teardown(() => broker.close())
  return { broker, clock }
}

t.test('sweep forgets idle rooms once their history expired', async (t) => {
  const { broker, clock } = setup(t)
  const m = await firstStored(broker, [message('42', 'a')])
  t.same(broker.stats(), { rooms: 1, jtis: 0 })
  clock.ms += 10_000
  broker.sweep()
  t.equal(broker.stats().rooms, 1, 'kept until the TTL has passed')
  clock.ms += 1
  broker.sweep()
  t.equal(broker.stats().rooms, 0, 'forgotten after the TTL')
  const after = await broker.history('42', { epoch: m.epoch, offset: 1 })
  t.not(after.epoch, m.epoch, 'a forgotten room starts afresh with a new epoch')
  t.equal(after.offset, 0)
  t.equal(after.messages, null, 'a since of the old epoch is not covered')
})

t.test('sweep keeps rooms with listeners, with their epoch and offset', async (t) => {
  const { broker, clock } = setup(t)
  const listener = (): void => undefined
  await broker.subscribe('42', listener)
  const m = await firstStored(broker, [message('42', 'a')])
  clock.ms += 60_000
  broker.sweep()
  t.equal(broker.stats().rooms, 1)
  t.same(await broker.history('42'), { epoch: m.epoch, offset: 1, messages: null })
  await broker.unsubscribe('42', listener)
  t.equal(broker.stats().rooms, 0, 'no listener and no history: forgotten at once')
  const after = await broker.history('42', { epoch: m.epoch, offset: 1 })
  t.not(after.epoch, m.epoch, 'it starts again in another epoch')
  t.equal(after.messages, null, 'so an old since is never covered')
})

t.test('sweep keeps a room whose history is still live', async (t) => {
  const { broker, clock } = setup(t)
  await broker.publish([message('42', 'a')])
  clock.ms += 9_000
  const m2 = await firstStored(broker, [message('42', 'b')])
  clock.ms += 2_000
  broker.sweep()
  t.equal(broker.stats().rooms, 1)
  t.same(
    (await broker.history('42', { epoch: m2.epoch, offset: 1 })).messages?.map((m) => m.cmd),
    ['b'],
  )
})

t.test('sweep forgets expired jti entries', async (t) => {
  const { broker, clock } = setup(t)
  await broker.publish([message('42', 'a')], { jti: 'a', ttlMs: 1000 })
  await broker.publish([message('42', 'b')], { jti: 'b', ttlMs: 5000 })
  t.equal(broker.stats().jtis, 2)
  clock.ms += 1000
  broker.sweep()
  t.equal(broker.stats().jtis, 1)
  clock.ms += 4000
  broker.sweep()
  t.equal(broker.stats().jtis, 0)
})

t.test('close() empties the broker', async (t) => {
  const { broker } = setup(t)
  await broker.publish([message('42', 'a')], { jti: 'j', ttlMs: 1000 })
  await broker.close()
  t.same(broker.stats(), { rooms: 0, jtis: 0 })
})

t.test('a throwing listener does not stop the others', async (t) => {
  const errors: unknown[] = []
  const { broker } = setup(t, { onListenerError: (err) => errors.push(err) })
  const got: StoredMessage[] = []
  await broker.subscribe('42', () => {
    throw new Error('boom')
  })
  await broker.subscribe('42', (m) => got.push(m))
  const { stored } = await broker.publish([message('42', 'a'), message('42', 'b')])
  t.same(got, stored)
  t.equal(errors.length, 2)
})

t.test('a room without listener and history costs nothing', async (t) => {
  const { broker } = setup(t)
  const listener = (): void => undefined
  for (let i = 0; i < 1000; i++) {
    await broker.subscribe(`room-${i}`, listener)
    await broker.history(`room-${i}`)
    await broker.unsubscribe(`room-${i}`, listener)
  }
  t.same(broker.stats(), { rooms: 0, jtis: 0 }, 'every room left is forgotten at once')
  await broker.history('never-named', { epoch: 'x', offset: 0 })
  t.equal(broker.stats().rooms, 0, 'reading a history creates nothing')
})

t.test('the room announced before the first message keeps its epoch', async (t) => {
  const { broker } = setup(t)
  const empty = await broker.history('42')
  t.same(await broker.history('42', { epoch: empty.epoch, offset: 0 }), {
    ...empty,
    messages: [],
  })
  const m = await firstStored(broker, [message('42', 'a')])
  t.equal(m.epoch, empty.epoch)
})

t.test('max_rooms: the room published to least recently loses its history', async (t) => {
  const { broker } = setup(t, { maxRooms: 3 })
  const listener = (): void => undefined
  await broker.subscribe('a', listener)
  const stored = new Map<string, StoredMessage>()
  for (const id of ['a', 'b', 'c', 'd']) {
    const { stored: s } = await broker.publish([message(id, 'x')])
    stored.set(id, s[0]!)
  }
  t.same(broker.historyStats().rooms, 3)
  t.same(broker.stats().rooms, 4, 'a keeps its listener; b, c, d their history')
  const a = stored.get('a')!
  t.same(
    await broker.history('a', { epoch: a.epoch, offset: 0 }),
    { epoch: a.epoch, offset: 1, messages: null },
    'a keeps its epoch and offset, not its history: recovered false',
  )
  await broker.publish([message('e', 'x')])
  const b = stored.get('b')!
  const later = await broker.history('b', { epoch: b.epoch, offset: 0 })
  t.equal(later.messages, null, 'b was forgotten: not covered')
  t.not(later.epoch, b.epoch, 'and it starts again in another epoch')
  const d = stored.get('d')!
  t.same((await broker.history('d', { epoch: d.epoch, offset: 0 })).messages, [d])
})

t.test('history_max_bytes: oldest messages first, never a false recovered', async (t) => {
  const { broker } = setup(t, { historyMaxBytes: 4000 })
  const big = (room: string, i: number): Message => ({
    ...message(room, `m${i}`),
    data: 'x'.repeat(500),
  })
  const all: StoredMessage[] = []
  for (let i = 0; i < 40; i++) {
    const { stored } = await broker.publish([big(`r${i % 3}`, i)])
    all.push(...stored)
    t.ok(broker.historyStats().bytes <= 4000, `within the budget after publish ${i}`)
  }
  t.ok(broker.historyStats().bytes > 2000, 'the budget is used, not emptied')
  const last = all.at(-1)!
  t.same(
    (await broker.history(last.room_id, { epoch: last.epoch, offset: last.offset - 1 })).messages,
    [last],
    'the newest message is kept',
  )
})

t.test('random publishes, listeners and budgets: every covered since is whole', async (t) => {
  const { broker, clock } = setup(t, { maxRooms: 4, historyMaxBytes: 3000, historySize: 5 })
  // Every message ever stored, by epoch: what a covered answer must be.
  const byEpoch = new Map<string, StoredMessage[]>()
  const seen: { room: string; epoch: string; offset: number }[] = []
  const listeners = new Map<string, () => void>()
  let seed = 7
  const random = (n: number): number => {
    seed = (seed * 1103515245 + 12345) % 2147483648
    return seed % n
  }
  let covered = 0
  for (let step = 0; step < 3000; step++) {
    const room = `r${random(8)}`
    const op = random(10)
    if (op < 5) {
      const { stored } = await broker.publish([
        { ...message(room, 'x'), data: 'y'.repeat(random(400)) },
      ])
      for (const m of stored) {
        const list = byEpoch.get(m.epoch) ?? []
        list.push(m)
        byEpoch.set(m.epoch, list)
        seen.push({ room, epoch: m.epoch, offset: m.offset })
      }
    } else if (op < 6) {
      if (!listeners.has(room)) {
        const l = (): void => undefined
        listeners.set(room, l)
        await broker.subscribe(room, l)
      }
    } else if (op < 7) {
      const l = listeners.get(room)
      if (l) {
        listeners.delete(room)
        await broker.unsubscribe(room, l)
      }
    } else if (op < 8) {
      clock.ms += random(3000)
      broker.sweep()
    } else {
      const position = await broker.history(room)
      seen.push({ room, epoch: position.epoch, offset: position.offset })
      // Mostly recent positions of this room (often covered), sometimes any older one.
      const mine = seen.filter((p) => p.room === room)
      const since =
        mine[random(3) === 0 ? random(mine.length) : Math.max(0, mine.length - 1 - random(4))]!
      const h = await broker.history(room, since)
      if (h.messages === null) continue
      covered++
      const expected = (byEpoch.get(since.epoch) ?? []).filter(
        (m) => m.room_id === room && m.offset > since.offset,
      )
      if (h.epoch !== since.epoch || JSON.stringify(h.messages) !== JSON.stringify(expected)) {
        t.fail(`step ${step}: since ${JSON.stringify(since)} answered a history that is not whole`)
        return
      }
    }
  }
  t.ok(covered > 50, `${covered} covered answers checked`)
  t.ok(broker.historyStats().bytes <= 3000)
  t.ok(broker.historyStats().rooms <= 4)
})

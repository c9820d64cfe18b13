/**
 * docs/protocol.md §6 over the real server: a client that reconnects with `since` gets what it
 * missed (rights applied), in order, before live messages, and is told when it cannot.
 */
import t from 'tap'
import type { Broker, HistoryResult, RoomPosition } from '../../src/broker/broker.js'
import { MemoryBroker } from '../../src/broker/memory-broker.js'
import { positionIn, startRelay, type Frame } from '../helpers/relay.js'
import { kanbanRights, subscriberToken } from '../helpers/tokens.js'

const ROOM = '42'
const token = subscriberToken(101, ['@site_active'])

t.test(
  'reconnect with since: the missed messages it may see, then recovered true, then live',
  async (t) => {
    const relay = await startRelay(t)
    const first = await relay.connect()
    const sub = await first.subscribe({ room_id: ROOM, token, uuid: 'tab' })
    await relay.publish({ message: { room_id: ROOM, cmd: 'one' } })
    const seen = await first.next()
    first.close()
    await first.closed
    await relay.publish({
      messages: [
        { room_id: ROOM, cmd: 'two' },
        { room_id: ROOM, cmd: 'hidden', rights: kanbanRights({ tracker: ['@ug_secret'] }) },
        { room_id: ROOM, cmd: 'own-move', sender_user_id: 101, sender_uuid: 'tab' },
        { room_id: ROOM, cmd: 'three' },
      ],
    })
    const again = await relay.connect()
    const answer = await again.subscribe({
      room_id: ROOM,
      token,
      uuid: 'tab',
      since: positionIn(sub, seen.offset as number),
    })
    t.match(answer, { type: 'subscribed', epoch: sub.epoch, offset: 5, recovered: true })
    t.match(await again.next(), { type: 'message', cmd: 'two', offset: 2 })
    t.match(
      await again.next(),
      { type: 'message', cmd: 'three', offset: 5 },
      'rights and sender exclusion applied',
    )
    await relay.publish({ message: { room_id: ROOM, cmd: 'live' } })
    t.match(await again.next(), { type: 'message', cmd: 'live', offset: 6 })
  },
)

t.test('since no longer covered: recovered false', async (t) => {
  const relay = await startRelay(t, { history_size: 2 })
  const client = await relay.connect()
  const sub = await client.subscribe({ room_id: ROOM, token, uuid: 'tab' })
  client.close()
  for (let i = 0; i < 4; i++) await relay.publish({ message: { room_id: ROOM, cmd: `m${i}` } })
  const again = await relay.connect()
  t.match(await again.subscribe({ room_id: ROOM, token, uuid: 'tab', since: positionIn(sub, 0) }), {
    type: 'subscribed',
    offset: 4,
    recovered: false,
  })
  t.ok(await again.silentFor(100), 'nothing partial is replayed')
  const cases: [string, { epoch: unknown; offset: number }, boolean, string][] = [
    [
      'x',
      { epoch: 'unknown-epoch', offset: 3 },
      false,
      'another epoch (e.g. after a restart) is not recovered',
    ],
    ['y', { epoch: sub.epoch, offset: 99 }, false, 'an offset beyond the latest is not recovered'],
    ['z', { epoch: sub.epoch, offset: 4 }, true, 'nothing missed is recovered'],
  ]
  for (const [uuid, since, recovered, what] of cases) {
    const client = await relay.connect()
    t.match(await client.subscribe({ room_id: ROOM, token, uuid, since }), { recovered }, what)
  }
})

/** A memory broker whose history reads wait until `release()`: publishes land meanwhile. */
function slowHistoryBroker(): { broker: Broker; release: () => void; waiting: Promise<void> } {
  const memory = new MemoryBroker({ historySize: 100, historyTtlMs: 60_000 })
  let release: () => void = () => undefined
  let signal: () => void = () => undefined
  const waiting = new Promise<void>((resolve) => {
    signal = resolve
  })
  const gate = new Promise<void>((resolve) => {
    release = resolve
  })
  let held = false
  const broker: Broker = {
    ready: true,
    publish: (m) => memory.publish(m),
    subscribe: (r, l) => memory.subscribe(r, l),
    unsubscribe: (r, l) => memory.unsubscribe(r, l),
    async history(room: string, since?: RoomPosition): Promise<HistoryResult> {
      if (since && !held) {
        held = true
        const result = await memory.history(room, since)
        signal()
        await gate
        return result
      }
      return memory.history(room, since)
    },
    close: () => memory.close(),
  }
  return { broker, release, waiting }
}

t.test('messages published during a replay are neither lost nor duplicated', async (t) => {
  const { broker, release, waiting } = slowHistoryBroker()
  const relay = await startRelay(t, {}, { broker })
  const first = await relay.connect()
  const sub = await first.subscribe({ room_id: ROOM, token, uuid: 'tab' })
  first.close()
  for (let i = 1; i <= 3; i++)
    await relay.publish({ message: { room_id: ROOM, cmd: `before${i}` } })
  const again = await relay.connect()
  again.send({
    type: 'subscribe',
    room_id: ROOM,
    token,
    uuid: 'tab',
    since: positionIn(sub, 1),
  })
  await waiting
  // History was read up to offset 3; these arrive live while the replay is held.
  for (let i = 1; i <= 3; i++)
    await relay.publish({ message: { room_id: ROOM, cmd: `during${i}` } })
  release()
  const frames: Frame[] = []
  for (let i = 0; i < 6; i++) frames.push(await again.next())
  t.match(frames[0], { type: 'subscribed', offset: 3, recovered: true })
  t.same(
    frames.slice(1).map((f) => [f.offset, f.cmd]),
    [
      [2, 'before2'],
      [3, 'before3'],
      [4, 'during1'],
      [5, 'during2'],
      [6, 'during3'],
    ],
  )
  t.ok(await again.silentFor(100), 'no duplicate follows')
})

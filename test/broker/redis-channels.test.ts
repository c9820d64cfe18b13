/**
 * Room channels without a Redis: deliveries in offset order, and a history reset counted
 * once per new epoch, whatever order history replies and deliveries arrive in.
 */
import { EventEmitter } from 'node:events'
import type { Redis } from 'ioredis'
import t from 'tap'
import { RoomChannels } from '../../src/broker/redis-channels.js'
import type { StoredMessage } from '../../src/broker/broker.js'
import { storedMessage } from '../helpers/messages.js'

/** The subscriber connection, as far as RoomChannels uses it. */
class FakeSub extends EventEmitter {
  readonly status = 'ready'
  subscribe(): Promise<number> {
    return Promise.resolve(1)
  }
  unsubscribe(): Promise<number> {
    return Promise.resolve(0)
  }
}

async function channels(): Promise<{
  rooms: RoomChannels
  delivered: StoredMessage[]
  resets: string[]
}> {
  const delivered: StoredMessage[] = []
  const resets: string[] = []
  const fail = (err: unknown): void => {
    throw err
  }
  const rooms = new RoomChannels(
    new FakeSub() as unknown as Redis,
    'rt:',
    fail,
    () => undefined,
    fail,
    (roomId) => resets.push(roomId),
  )
  await rooms.subscribe('42', (m) => delivered.push(m))
  return { rooms, delivered, resets }
}

t.test('each offset once, in order; older ones dropped', async (t) => {
  const { rooms, delivered } = await channels()
  for (const offset of [1, 2, 2, 1, 3]) rooms.deliver(storedMessage(offset))
  t.same(
    delivered.map((m) => m.offset),
    [1, 2, 3],
  )
})

t.test('a reset is counted once, even when an older history reply arrives late', async (t) => {
  const { rooms, delivered, resets } = await channels()
  rooms.seedEpoch('42', 'e1')
  rooms.deliver(storedMessage(1, { epoch: 'e2' }))
  t.same(resets, ['42'], 'the first delivery of a new epoch')
  // A history read made before the reset answers after it, on the other connection.
  rooms.seedEpoch('42', 'e1')
  rooms.deliver(storedMessage(2, { epoch: 'e2' }))
  t.same(resets, ['42'], 'not counted again')
  t.same(
    delivered.map((m) => `${m.epoch}:${m.offset}`),
    ['e2:1', 'e2:2'],
  )
})

t.test('a channel that delivered nothing yet learns its epoch from history', async (t) => {
  const { rooms, resets } = await channels()
  rooms.seedEpoch('42', 'e1')
  rooms.seedEpoch('42', 'e2')
  t.same(resets, [], 'history replies alone count nothing')
  rooms.deliver(storedMessage(1, { epoch: 'e2' }))
  t.same(resets, ['42'], 'the delivery against the first epoch seen does')
})

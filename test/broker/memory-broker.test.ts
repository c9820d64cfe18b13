import t, { type Test } from 'tap'
import type { StoredMessage } from '../../src/broker/broker.js'
import { MemoryBroker, type MemoryBrokerOptions } from '../../src/broker/memory-broker.js'
import type { Message } from '../../src/protocol/message.js'
import { brokerContract } from './contract.js'
import { testMessage } from '../helpers/messages.js'

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
  const {
    stored: [m],
  } = await broker.publish([message('42', 'a')])
  t.same(broker.stats(), { rooms: 1, jtis: 0 })
  clock.ms += 10_000
  broker.sweep()
  t.equal(broker.stats().rooms, 1, 'kept until the TTL has passed')
  clock.ms += 1
  broker.sweep()
  t.equal(broker.stats().rooms, 0, 'forgotten after the TTL')
  const after = await broker.history('42', { epoch: m!.epoch, offset: 1 })
  t.not(after.epoch, m!.epoch, 'a forgotten room starts afresh with a new epoch')
  t.equal(after.offset, 0)
  t.equal(after.messages, null, 'a since of the old epoch is not covered')
})

t.test('sweep keeps rooms with listeners, with their epoch and offset', async (t) => {
  const { broker, clock } = setup(t)
  const listener = (): void => undefined
  await broker.subscribe('42', listener)
  const {
    stored: [m],
  } = await broker.publish([message('42', 'a')])
  clock.ms += 60_000
  broker.sweep()
  t.equal(broker.stats().rooms, 1)
  t.same(await broker.history('42'), { epoch: m!.epoch, offset: 1, messages: null })
  await broker.unsubscribe('42', listener)
  clock.ms += 9_999
  broker.sweep()
  t.equal(broker.stats().rooms, 1, 'kept for the TTL after the last listener left')
  clock.ms += 1
  broker.sweep()
  t.equal(broker.stats().rooms, 0)
})

t.test('sweep keeps a room whose history is still live', async (t) => {
  const { broker, clock } = setup(t)
  await broker.publish([message('42', 'a')])
  clock.ms += 9_000
  const {
    stored: [m2],
  } = await broker.publish([message('42', 'b')])
  clock.ms += 2_000
  broker.sweep()
  t.equal(broker.stats().rooms, 1)
  t.same(
    (await broker.history('42', { epoch: m2!.epoch, offset: 1 })).messages?.map((m) => m.cmd),
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

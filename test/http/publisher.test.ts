import t, { type Test } from 'tap'
import type {
  Broker,
  HistoryResult,
  Idempotency,
  Published,
  RoomListener,
  RoomPosition,
} from '../../src/broker/broker.js'
import { MemoryBroker } from '../../src/broker/memory-broker.js'
import { RelayError } from '../../src/errors.js'
import type { Message } from '../../src/protocol/message.js'
import { JTI_WINDOW_MS, publishMessages } from '../../src/http/publisher.js'
import { testMessage } from '../helpers/messages.js'

const message = (roomId: string, cmd: string): Message => testMessage(roomId, cmd)

/** A MemoryBroker behind a wrapper whose publish or readiness can be made to fail. */
class FlakyBroker implements Broker {
  failPublishes = 0
  notReady = false
  published = 0
  readonly idempotency: (Idempotency | undefined)[] = []

  constructor(private readonly inner: MemoryBroker) {}

  get ready(): boolean {
    return !this.notReady
  }

  publish(messages: readonly Message[], idempotency?: Idempotency): Promise<Published> {
    this.idempotency.push(idempotency)
    if (this.failPublishes > 0) {
      this.failPublishes -= 1
      return Promise.reject(new Error('connection reset'))
    }
    return this.inner.publish(messages, idempotency).then((published) => {
      this.published += published.stored.length
      return published
    })
  }

  subscribe(roomId: string, listener: RoomListener): Promise<void> {
    return this.inner.subscribe(roomId, listener)
  }

  unsubscribe(roomId: string, listener: RoomListener): Promise<void> {
    return this.inner.unsubscribe(roomId, listener)
  }

  history(roomId: string, since?: RoomPosition): Promise<HistoryResult> {
    return this.inner.history(roomId, since)
  }

  close(): Promise<void> {
    return this.inner.close()
  }
}

function setup(t: Test): { broker: FlakyBroker; clock: { ms: number } } {
  const clock = { ms: 1_767_225_600_000 }
  const broker = new FlakyBroker(
    new MemoryBroker({ historySize: 100, historyTtlMs: 600_000, now: () => clock.ms }),
  )
  t.teardown(() => broker.close())
  return { broker, clock }
}

async function refusal(p: Promise<unknown>): Promise<RelayError> {
  try {
    await p
  } catch (err) {
    if (err instanceof RelayError) return err
    throw err
  }
  throw new Error('expected a refusal')
}

t.test('publishes and answers one accepted entry per message', async (t) => {
  const { broker } = setup(t)
  const result = await publishMessages(broker, [message('42', 'a'), message('43', 'b')], null)
  const epoch42 = (await broker.history('42')).epoch
  t.strictSame(result, {
    accepted: [
      { room_id: '42', epoch: epoch42, offset: 1 },
      { room_id: '43', epoch: (await broker.history('43')).epoch, offset: 1 },
    ],
  })
  await publishMessages(broker, [message('42', 'a')], null)
  t.equal(broker.published, 3, 'without a jti, every publish goes through')
})

t.test('a repeated jti answers the first result with duplicate: true', async (t) => {
  const { broker } = setup(t)
  const first = await publishMessages(broker, [message('42', 'a'), message('42', 'b')], 'j1')
  t.notOk('duplicate' in first)
  const second = await publishMessages(broker, [message('42', 'a'), message('42', 'b')], 'j1')
  t.strictSame(second, { accepted: first.accepted, duplicate: true })
  t.equal(broker.published, 2, 'not broadcast again')
  t.equal((await broker.history('42')).offset, 2)
  const other = await publishMessages(broker, [message('42', 'c')], 'j2')
  t.notOk(other.duplicate, 'another jti is another publish')
})

t.test('the jti is remembered for the window, then forgotten', async (t) => {
  const { broker, clock } = setup(t)
  await publishMessages(broker, [message('42', 'a')], 'j1')
  clock.ms += JTI_WINDOW_MS - 1
  t.equal((await publishMessages(broker, [message('42', 'a')], 'j1')).duplicate, true)
  clock.ms += 2
  t.notOk((await publishMessages(broker, [message('42', 'a')], 'j1')).duplicate)
  t.equal(broker.published, 2)
  t.equal(JTI_WINDOW_MS, 300_000, '5 minutes (docs/protocol.md §1.2)')
})

t.test('the jti goes to the broker with the publish, for the window', async (t) => {
  const { broker } = setup(t)
  await publishMessages(broker, [message('42', 'a')], 'j1')
  await publishMessages(broker, [message('42', 'a')], null)
  t.same(broker.idempotency, [{ jti: 'j1', ttlMs: JTI_WINDOW_MS }, undefined])
})

t.test('a failing broker publish: 503 naming the cause', async (t) => {
  const { broker } = setup(t)
  broker.failPublishes = 1
  const err = await refusal(publishMessages(broker, [message('42', 'a')], 'j1'))
  t.equal(err.code, 'RELAY_ERR_BROKER_UNAVAILABLE')
  t.equal(err.status, 503)
  t.match(err.message, 'connection reset')
  t.equal(broker.published, 0)
})

t.test('a failing publish without jti is a 503 too', async (t) => {
  const { broker } = setup(t)
  broker.failPublishes = 1
  t.equal((await refusal(publishMessages(broker, [message('42', 'a')], null))).status, 503)
})

t.test('a broker that is not ready: 503 before anything', async (t) => {
  const { broker } = setup(t)
  broker.notReady = true
  const err = await refusal(publishMessages(broker, [message('42', 'a')], 'j1'))
  t.equal(err.status, 503)
  t.equal(broker.published, 0)
  broker.notReady = false
  t.notOk((await publishMessages(broker, [message('42', 'a')], 'j1')).duplicate, 'jti not taken')
})

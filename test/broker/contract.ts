/**
 * The contract every Broker implementation passes (after mqemitter's abstractTest):
 * `brokerContract(t, 'memory', makeBroker)` from the implementation's own test file.
 * Only the Broker interface is used, plus the injected clock: `published_at`, history
 * TTL and the jti window must follow `now()`. Room ids and jtis are unique per run, so a
 * shared backend (Redis) needs no flushing between tests.
 */
import { randomUUID } from 'node:crypto'
import type { Test } from 'tap'
import type { Broker, StoredMessage } from '../../src/broker/broker.js'
import type { Message } from '../../src/protocol/message.js'
import { firstStored, testMessage } from '../helpers/messages.js'

/** What the contract asks of a broker factory. */
export interface ContractBrokerOptions {
  readonly historySize: number
  readonly historyTtlMs: number
  readonly now: () => number
}

/** Builds a fresh broker; the contract closes it at teardown. */
export type MakeBroker = (opts: ContractBrokerOptions) => Promise<Broker>

/**
 * A way the backend can lose state under a running relay (fencing, docs/scaling.md): `checkpoint`
 * marks what a later `lose` may go back to (a snapshot), `lose` loses or rolls back the
 * state and resolves with the broker to use from then on (the same one, or a new one when
 * losing means a new process: its listeners are subscribed again).
 */
export interface StateLoss {
  checkpoint(): Promise<void>
  lose(broker: Broker, opts: ContractBrokerOptions): Promise<Broker>
}

const START_MS = 1_767_225_600_000

/** A manual clock. */
class Clock {
  ms = START_MS
  readonly now = (): number => this.ms
  advance(ms: number): void {
    this.ms += ms
  }
}

const message = (roomId: string, cmd: string, data: unknown = null): Message =>
  testMessage(roomId, cmd, { data })

/** Records what a listener received. */
function recorder(): { got: StoredMessage[]; listener: (m: StoredMessage) => void } {
  const got: StoredMessage[] = []
  return { got, listener: (m) => got.push(m) }
}

/** Run the broker contract as subtests of `t`; `losses` are the fencing cases it applies to. */
export function brokerContract(
  t: Test,
  name: string,
  makeBroker: MakeBroker,
  losses: Record<string, StateLoss> = {},
): void {
  async function setup(
    t: Test,
    opts: { historySize?: number; historyTtlMs?: number } = {},
  ): Promise<{ broker: Broker; clock: Clock; room: (suffix: string) => string }> {
    const clock = new Clock()
    const broker = await makeBroker({
      historySize: opts.historySize ?? 100,
      historyTtlMs: opts.historyTtlMs ?? 300_000,
      now: clock.now,
    })
    t.teardown(() => broker.close())
    const run = randomUUID()
    return { broker, clock, room: (suffix) => `contract-${run}-${suffix}` }
  }

  t.test(`${name}: broker contract`, async (t) => {
    t.test('ready once built', async (t) => {
      const { broker } = await setup(t)
      t.equal(broker.ready, true)
    })

    t.test('publish assigns offsets 1..n per room, in order, with a stable epoch', async (t) => {
      const { broker, clock, room } = await setup(t)
      const a = room('a')
      const b = room('b')
      const { stored: first } = await broker.publish([message(a, 'a1', { n: 1 })])
      clock.advance(5)
      const { stored: batch } = await broker.publish([
        message(b, 'b1'),
        message(a, 'a2'),
        message(a, 'a3'),
      ])
      const { stored: last } = await broker.publish([message(b, 'b2')])
      const all = [...first, ...batch, ...last]
      t.same(
        all.map((m) => [m.room_id, m.cmd, m.offset]),
        [
          [a, 'a1', 1],
          [b, 'b1', 1],
          [a, 'a2', 2],
          [a, 'a3', 3],
          [b, 'b2', 2],
        ],
        'returned in input order, offsets per room',
      )
      const epochA = all[0]!.epoch
      const epochB = all[1]!.epoch
      t.type(epochA, 'string')
      t.ok(epochA.length > 0)
      t.ok(
        all.filter((m) => m.room_id === a).every((m) => m.epoch === epochA),
        'one epoch per room',
      )
      t.ok(all.filter((m) => m.room_id === b).every((m) => m.epoch === epochB))
      t.match(all[0], {
        room_id: a,
        cmd: 'a1',
        data: { n: 1 },
        rights: null,
        sender_user_id: null,
        sender_uuid: null,
        published_at: START_MS,
      })
      t.equal(all[1]!.published_at, START_MS + 5, 'published_at follows the clock')
    })

    t.test('the stored message keeps every message field', async (t) => {
      const { broker, room } = await setup(t)
      const rights = {
        submitter_id: 101,
        submitter_can_view: true,
        submitter_only: ['@ug_9'],
        tracker: ['@ug_1'],
        artifact: ['@ug_2'],
      }
      const m: Message = {
        room_id: room('fields'),
        cmd: 'kanban_item:update',
        data: { list: [1, 'two', null], nested: { ok: true }, empty: '' },
        rights,
        sender_user_id: 101,
        sender_uuid: 'tab-a',
      }
      const stored = await firstStored(broker, [m])
      t.match(stored, { ...m, offset: 1 })
      const history = await broker.history(m.room_id, { epoch: stored.epoch, offset: 0 })
      t.same(history.messages, [stored])
    })

    t.test('listeners get their rooms’ messages, in order; unsubscribe stops them', async (t) => {
      const { broker, room } = await setup(t)
      const a = room('a')
      const b = room('b')
      const la = recorder()
      const la2 = recorder()
      const lb = recorder()
      await broker.subscribe(a, la.listener)
      await broker.subscribe(a, la2.listener)
      await broker.subscribe(b, lb.listener)
      await broker.publish([message(a, 'a1'), message(b, 'b1'), message(a, 'a2')])
      t.same(
        la.got.map((m) => [m.cmd, m.offset]),
        [
          ['a1', 1],
          ['a2', 2],
        ],
        'local listeners were called before publish resolved',
      )
      t.same(
        la2.got.map((m) => m.cmd),
        ['a1', 'a2'],
        'every listener of the room',
      )
      t.same(
        lb.got.map((m) => m.cmd),
        ['b1'],
        'only the subscribed room',
      )
      await broker.unsubscribe(a, la.listener)
      await broker.publish([message(a, 'a3')])
      t.equal(la.got.length, 2, 'no message after unsubscribe')
      t.same(
        la2.got.map((m) => m.cmd),
        ['a1', 'a2', 'a3'],
        'the other listener stays',
      )
      await broker.unsubscribe(room('never'), la.listener)
      t.pass('unsubscribing an unknown listener is harmless')
    })

    t.test('history without since: the room position', async (t) => {
      const { broker, room } = await setup(t)
      const a = room('a')
      const empty = await broker.history(a)
      t.equal(empty.offset, 0, 'offset 0 before the first message')
      t.equal(empty.messages, null)
      t.type(empty.epoch, 'string')
      const m1 = await firstStored(broker, [message(a, 'a1')])
      t.equal(m1.epoch, empty.epoch, 'the first message keeps the epoch announced before it')
      await broker.publish([message(a, 'a2')])
      t.same(await broker.history(a), { epoch: empty.epoch, offset: 2, messages: null })
    })

    t.test('history with since: the messages after it', async (t) => {
      const { broker, room } = await setup(t)
      const a = room('a')
      const { stored } = await broker.publish([
        message(a, 'a1'),
        message(a, 'a2'),
        message(a, 'a3'),
      ])
      const epoch = stored[0]!.epoch
      const from0 = await broker.history(a, { epoch, offset: 0 })
      t.same(from0, { epoch, offset: 3, messages: stored })
      const from1 = await broker.history(a, { epoch, offset: 1 })
      t.same(
        from1.messages?.map((m) => m.offset),
        [2, 3],
      )
      const latest = await broker.history(a, { epoch, offset: 3 })
      t.same(latest, { epoch, offset: 3, messages: [] }, 'since == latest: nothing missed')
      const fresh = await broker.history(room('fresh'))
      t.same(
        await broker.history(room('fresh'), { epoch: fresh.epoch, offset: 0 }),
        { epoch: fresh.epoch, offset: 0, messages: [] },
        'an empty room, since its own epoch and 0',
      )
    })

    t.test('history cannot cover since: messages null, position given', async (t) => {
      const { broker, room } = await setup(t)
      const a = room('a')
      const m = await firstStored(broker, [message(a, 'a1'), message(a, 'a2')])
      const epoch = m.epoch
      t.same(
        await broker.history(a, { epoch: `${epoch}x`, offset: 1 }),
        { epoch, offset: 2, messages: null },
        'another epoch',
      )
      t.same(
        await broker.history(a, { epoch, offset: 3 }),
        { epoch, offset: 2, messages: null },
        'an offset beyond the latest',
      )
    })

    t.test('history is trimmed to historySize', async (t) => {
      const { broker, room } = await setup(t, { historySize: 3 })
      const a = room('a')
      const { stored } = await broker.publish([1, 2, 3, 4, 5].map((n) => message(a, `a${n}`)))
      const epoch = stored[0]!.epoch
      t.same(
        await broker.history(a, { epoch, offset: 0 }),
        { epoch, offset: 5, messages: null },
        'since 0: messages 1 and 2 are gone',
      )
      t.equal((await broker.history(a, { epoch, offset: 1 })).messages, null, 'since 1: 2 is gone')
      t.same(
        (await broker.history(a, { epoch, offset: 2 })).messages?.map((m) => m.offset),
        [3, 4, 5],
        'since 2: covered',
      )
      t.same((await broker.history(a, { epoch, offset: 5 })).messages, [], 'since latest')
      await broker.publish([message(a, 'a6')])
      t.equal(
        (await broker.history(a, { epoch, offset: 2 })).messages,
        null,
        'one more publish trims 3',
      )
    })

    t.test('history expires after historyTtlMs', async (t) => {
      const ttl = 10_000
      const { broker, clock, room } = await setup(t, { historyTtlMs: ttl })
      const a = room('a')
      const m1 = await firstStored(broker, [message(a, 'a1')])
      const epoch = m1.epoch
      clock.advance(ttl / 2)
      await broker.publish([message(a, 'a2')])
      clock.advance(ttl / 2 - 1)
      t.same(
        (await broker.history(a, { epoch, offset: 0 })).messages?.map((m) => m.cmd),
        ['a1', 'a2'],
        'just before the TTL: both kept',
      )
      clock.advance(2)
      t.same(
        await broker.history(a, { epoch, offset: 0 }),
        { epoch, offset: 2, messages: null },
        'a1 expired: since 0 is not covered',
      )
      t.same(
        (await broker.history(a, { epoch, offset: 1 })).messages?.map((m) => m.cmd),
        ['a2'],
        'since 1 still is',
      )
      clock.advance(ttl / 2)
      t.equal((await broker.history(a, { epoch, offset: 1 })).messages, null, 'a2 expired too')
    })

    t.test('a batch across rooms is stored in order', async (t) => {
      const { broker, room } = await setup(t)
      const a = room('a')
      const b = room('b')
      const la = recorder()
      const lb = recorder()
      await broker.subscribe(a, la.listener)
      await broker.subscribe(b, lb.listener)
      const batch = [
        message(a, 'a1'),
        message(b, 'b1'),
        message(b, 'b2'),
        message(a, 'a2'),
        message(a, 'a3'),
        message(b, 'b3'),
      ]
      const { stored } = await broker.publish(batch)
      t.same(
        stored.map((m) => m.cmd),
        batch.map((m) => m.cmd),
      )
      const ha = await broker.history(a, { epoch: stored[0]!.epoch, offset: 0 })
      const hb = await broker.history(b, { epoch: stored[1]!.epoch, offset: 0 })
      t.same(
        ha.messages?.map((m) => [m.cmd, m.offset]),
        [
          ['a1', 1],
          ['a2', 2],
          ['a3', 3],
        ],
      )
      t.same(
        hb.messages?.map((m) => [m.cmd, m.offset]),
        [
          ['b1', 1],
          ['b2', 2],
          ['b3', 3],
        ],
      )
      t.same(
        la.got.map((m) => m.cmd),
        ['a1', 'a2', 'a3'],
      )
      t.same(
        lb.got.map((m) => m.cmd),
        ['b1', 'b2', 'b3'],
      )
    })

    t.test('publish answers where each message was stored', async (t) => {
      const { broker, room } = await setup(t)
      const a = room('a')
      const b = room('b')
      const published = await broker.publish([message(a, 'a1'), message(b, 'b1')])
      t.equal(published.duplicate, false)
      t.same(
        published.accepted,
        published.stored.map((m) => ({ room_id: m.room_id, epoch: m.epoch, offset: m.offset })),
      )
      t.same(
        published.accepted.map((p) => [p.room_id, p.offset]),
        [
          [a, 1],
          [b, 1],
        ],
      )
    })

    t.test('a jti publishes once within its window', async (t) => {
      const ttl = 60_000
      const { broker, clock, room } = await setup(t)
      const a = room('a')
      const seen = recorder()
      await broker.subscribe(a, seen.listener)
      const jti = `jti-${randomUUID()}`
      const first = await broker.publish([message(a, 'a1'), message(a, 'a2')], { jti, ttlMs: ttl })
      t.equal(first.duplicate, false, 'a new jti publishes')
      t.equal(first.stored.length, 2)
      const again = await broker.publish([message(a, 'a1'), message(a, 'a2')], { jti, ttlMs: ttl })
      t.same(
        again,
        { stored: [], accepted: first.accepted, duplicate: true },
        'the same jti: nothing stored, the first publish answered',
      )
      clock.advance(ttl - 1)
      t.equal(
        (await broker.publish([message(a, 'a3')], { jti, ttlMs: ttl })).duplicate,
        true,
        'still remembered before the TTL',
      )
      t.equal((await broker.history(a)).offset, 2, 'duplicates stored nothing')
      t.same(
        seen.got.map((m) => m.cmd),
        ['a1', 'a2'],
        'nor reached listeners',
      )
      clock.advance(2)
      const later = await broker.publish([message(a, 'a3')], { jti, ttlMs: ttl })
      t.equal(later.duplicate, false, 'expired after the TTL: publishes again')
      t.equal(later.accepted[0]?.offset, 3)

      const other = `jti-${randomUUID()}`
      const independent = await broker.publish([message(a, 'a4')], { jti: other, ttlMs: ttl })
      t.equal(independent.duplicate, false, 'jtis are independent')
      t.equal((await broker.publish([message(a, 'a5')])).duplicate, false, 'no jti: no check')
      t.equal((await broker.publish([message(a, 'a5')])).duplicate, false, 'every time')
    })

    t.test('concurrent publishes under one jti: exactly one stores', async (t) => {
      const ttl = 60_000
      const { broker, room } = await setup(t)
      const a = room('a')
      const jti = `jti-${randomUUID()}`
      const settled = await Promise.allSettled(
        [1, 2, 3].map((n) => broker.publish([message(a, `a${n}`)], { jti, ttlMs: ttl })),
      )
      const results = settled.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []))
      const stored = results.filter((r) => !r.duplicate)
      t.equal(stored.length, 1, 'one publish stored')
      t.equal((await broker.history(a)).offset, 1)
      for (const r of results.filter((r) => r.duplicate)) {
        t.equal(r.accepted[0]?.offset, 1, 'a duplicate answers what the first accepted')
      }
      for (const r of settled) {
        // While the first is in flight the others cannot know its outcome: unavailable,
        // so that the backend retries and then learns it; never an empty "duplicate".
        if (r.status === 'rejected') t.match(r.reason, { code: 'RELAY_ERR_BROKER_UNAVAILABLE' })
      }
    })

    for (const [what, loss] of Object.entries(losses)) {
      t.test(`fencing, ${what}: a new epoch, no (epoch, offset) given twice`, async (t) => {
        const opts = { historySize: 100, historyTtlMs: 300_000, now: new Clock().now }
        let broker = await makeBroker(opts)
        t.teardown(() => broker.close())
        const a = `contract-${randomUUID()}-fenced`
        const listened = recorder()
        await broker.subscribe(a, listened.listener)
        const given = new Map<string, string>()
        const publish = async (n: number): Promise<StoredMessage> => {
          const deadline = Date.now() + 15_000
          for (;;) {
            try {
              const [m] = (await broker.publish([message(a, `m${n}`)])).stored
              const key = `${m!.epoch}/${m!.offset}`
              t.notOk(given.has(key), `m${n} at ${key}: not given to ${given.get(key)} before`)
              given.set(key, `m${n}`)
              return m!
            } catch (err) {
              // Unavailable while the backend comes back: retry, as the backend would.
              if (Date.now() > deadline) throw err
              await new Promise((resolve) => setTimeout(resolve, 50))
            }
          }
        }
        const before: StoredMessage[] = []
        for (let n = 1; n <= 6; n++) {
          before.push(await publish(n))
          if (n === 3) await loss.checkpoint()
        }
        const old = before[5]!
        const next = await loss.lose(broker, opts)
        if (next !== broker) {
          broker = next
          t.teardown(() => next.close())
          await broker.subscribe(a, listened.listener)
        }
        const after = [await publish(7), await publish(8), await publish(9)]
        const epoch = after[0]!.epoch
        t.not(epoch, old.epoch, 'a new epoch')
        t.same(
          after.map((m) => [m.epoch, m.offset]),
          [
            [epoch, 1],
            [epoch, 2],
            [epoch, 3],
          ],
          'from offset 1',
        )
        const deadline = Date.now() + 10_000
        while (listened.got.length < 9 && Date.now() < deadline) {
          await new Promise((resolve) => setTimeout(resolve, 20))
        }
        t.same(
          listened.got.map((m) => [m.cmd, m.epoch === epoch, m.offset]),
          [1, 2, 3, 4, 5, 6, 7, 8, 9].map((n) => [`m${n}`, n > 6, n > 6 ? n - 6 : n]),
          'listeners get every message, once, the later ones in the new epoch',
        )
        t.same(
          await broker.history(a, { epoch: old.epoch, offset: old.offset }),
          { epoch, offset: 3, messages: null },
          'a since from the lost state is not covered',
        )
        t.same(
          (await broker.history(a, { epoch, offset: 0 })).messages?.map((m) => m.cmd),
          ['m7', 'm8', 'm9'],
          'the new epoch’s history',
        )
      })
    }

    t.test('close() is idempotent: the same promise', async (t) => {
      const clock = new Clock()
      const broker = await makeBroker({ historySize: 10, historyTtlMs: 1000, now: clock.now })
      const first = broker.close()
      const second = broker.close()
      t.equal(second, first)
      await first
      t.equal(broker.close(), first, 'also after it resolved')
    })
  })
}

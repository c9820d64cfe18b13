/** WriteBatch: corked during the turn, uncorked together after it. */
import t from 'tap'
import { WriteBatch, type Corkable } from '../../src/ws/write-batch.js'

class Stream implements Corkable {
  corked = 0
  log: string[] = []
  cork(): void {
    this.corked += 1
    this.log.push('cork')
  }
  uncork(): void {
    this.corked -= 1
    this.log.push('uncork')
  }
}

const nextTurn = () => new Promise((resolve) => setImmediate(resolve))

t.test('held streams are uncorked once, after the turn', async (t) => {
  const batch = new WriteBatch()
  const a = new Stream()
  const b = new Stream()
  batch.hold(a)
  batch.hold(b)
  t.equal(a.corked + b.corked, 2, 'corked at once')
  await Promise.resolve()
  t.equal(a.corked + b.corked, 2, 'still held after the microtasks of this turn')
  await nextTurn()
  t.same(
    [a.log, b.log],
    [
      ['cork', 'uncork'],
      ['cork', 'uncork'],
    ],
  )
})

t.test('a new turn starts a new batch', async (t) => {
  const batch = new WriteBatch()
  const a = new Stream()
  batch.hold(a)
  await nextTurn()
  batch.hold(a)
  t.equal(a.corked, 1)
  await nextTurn()
  t.equal(a.corked, 0)
  t.same(a.log, ['cork', 'uncork', 'cork', 'uncork'])
})

t.test('flush by hand sends at once and leaves nothing for the timer', async (t) => {
  const batch = new WriteBatch()
  const a = new Stream()
  batch.hold(a)
  batch.flush()
  t.equal(a.corked, 0)
  await nextTurn()
  t.same(a.log, ['cork', 'uncork'])
})

t.test('a batch older than its budget is sent from within the loop that adds to it', async (t) => {
  let clock = 0
  const batch = new WriteBatch(2, () => clock)
  const streams = Array.from({ length: 100 }, () => new Stream())
  // The first 64 holds take no time: nothing is sent before the end of the turn.
  for (const s of streams.slice(0, 64)) batch.hold(s)
  t.equal(
    streams.slice(0, 64).filter((s) => s.corked === 1).length,
    64,
    'within the budget, everything is held',
  )
  // The loop has now run for longer than the budget: the next look at the clock sends.
  clock = 5
  for (const s of streams.slice(64)) batch.hold(s)
  t.equal(
    streams.slice(0, 64).filter((s) => s.corked === 0).length,
    64,
    'what was held before the 65th hold (a look at the clock) left at once',
  )
  t.equal(
    streams.slice(64).filter((s) => s.corked === 1).length,
    36,
    'the new batch is held: its budget starts again',
  )
  await nextTurn()
  t.ok(
    streams.every((s) => s.corked === 0 && s.log.join() === 'cork,uncork'),
    'each stream corked and uncorked once',
  )
})

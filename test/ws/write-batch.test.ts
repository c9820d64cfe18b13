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

import t, { type Test } from 'tap'
import { RateLimiter } from '../../src/http/rate-limit.js'

/** The most keys the limiter tracks (MAX_KEYS in src/http/rate-limit.ts). */
const MAX_KEYS = 100_000

function setup(t: Test, limit = 3, windowMs = 1000): { rl: RateLimiter; clock: { ms: number } } {
  const clock = { ms: 1_767_225_600_000 }
  const rl = new RateLimiter(limit, windowMs, () => clock.ms)
  t.teardown(() => {
    rl.stop()
  })
  return { rl, clock }
}

t.test('limit per key per window', async (t) => {
  const { rl, clock } = setup(t, 3, 1000)
  t.ok(rl.take('10.0.0.1'))
  t.ok(rl.take('10.0.0.1'))
  t.ok(rl.take('10.0.0.1'))
  t.notOk(rl.take('10.0.0.1'), 'the 4th in the window is refused')
  t.ok(rl.take('10.0.0.2'), 'other keys are independent')
  clock.ms += 999
  t.notOk(rl.take('10.0.0.1'), 'still the same window')
})

t.test('the window resets', async (t) => {
  const { rl, clock } = setup(t, 2, 1000)
  rl.take('a')
  rl.take('a')
  t.notOk(rl.take('a'))
  clock.ms += 1000
  t.ok(rl.take('a'), 'a new window')
  t.ok(rl.take('a'))
  t.notOk(rl.take('a'), 'with the same allowance')
})

t.test('refused requests count too', async (t) => {
  const { rl, clock } = setup(t, 1, 1000)
  rl.take('a')
  for (let i = 0; i < 10; i++) rl.take('a')
  clock.ms += 1000
  t.ok(rl.take('a'), 'but they do not spill into the next window')
})

t.test('sweep drops finished windows only', async (t) => {
  const { rl, clock } = setup(t, 3, 1000)
  rl.take('old')
  clock.ms += 500
  rl.take('recent')
  t.equal(rl.size, 2)
  clock.ms += 499
  rl.sweep()
  t.equal(rl.size, 2, 'both windows still running')
  clock.ms += 1
  rl.sweep()
  t.equal(rl.size, 1, 'the finished one is dropped')
  clock.ms += 500
  rl.sweep()
  t.equal(rl.size, 0)
})

t.test('memory is bounded: at most MAX_KEYS keys, newcomers never refused', async (t) => {
  const { rl } = setup(t, 5, 1000)
  for (let i = 0; i < MAX_KEYS; i++) rl.take(`k${i}`)
  t.equal(rl.size, MAX_KEYS)
  t.ok(rl.take('newcomer'), 'a new key is served while the table is full')
  t.equal(rl.size, MAX_KEYS, 'the oldest window made room')
  t.ok(rl.take('k7'), 'known keys keep their allowance')
  for (let i = 0; i < 4; i++) rl.take('newcomer')
  t.notOk(rl.take('newcomer'), 'and the newcomer is limited like anyone')
  t.ok(rl.exhausted('newcomer'), 'exhausted says so without counting')
})

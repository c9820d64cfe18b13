import t from 'tap'
import { Backoff } from '../../src/client/index.js'
import { harness, subscribed } from './harness.js'

/** mulberry32: a small seeded PRNG, uniform in [0, 1). */
function seeded(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let x = Math.imul(a ^ (a >>> 15), a | 1)
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61)
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296
  }
}

/** A random source that answers the given values in turn. */
function sequence(values: number[]): () => number {
  let i = 0
  return () => values[i++ % values.length] ?? 0
}

t.test('full jitter: random() * min(maxMs, baseMs * 2^attempt)', async (t) => {
  const b = new Backoff(100, 1000, sequence([0.5, 0.5, 0.5, 0.5, 0.5, 0.999, 0]))
  t.same(
    Array.from({ length: 7 }, () => b.next()),
    [50, 100, 200, 400, 500, 999, 0],
    'doubles the ceiling per attempt, capped at maxMs',
  )
  t.equal(b.attempts, 7)
  b.reset()
  t.equal(b.next(), 50, 'back to baseMs after reset')
})

t.test('with a seeded random, every delay stays within its jitter bounds', async (t) => {
  const random = seeded(42)
  const b = new Backoff(1000, 30_000, random)
  const delays = Array.from({ length: 200 }, () => b.next())
  delays.forEach((d, n) => {
    const ceiling = Math.min(30_000, 1000 * 2 ** n)
    if (d < 0 || d >= ceiling) t.fail(`attempt ${n}: ${d} not in [0, ${ceiling})`)
  })
  t.ok(Math.max(...delays) < 30_000, 'capped')
  t.ok(Math.max(...delays.slice(5)) > 15_000, 'jitter spreads up to the cap')
  t.ok(new Set(delays).size > 150, 'jittered, not a fixed schedule')
  const again = new Backoff(1000, 30_000, seeded(42))
  t.same(
    Array.from({ length: 200 }, () => again.next()),
    delays,
    'deterministic for a seed',
  )
})

t.test('a broken random source cannot produce a delay beyond the ceiling', async (t) => {
  const b = new Backoff(100, 1000, sequence([1, Number.NaN, -1, 7]))
  t.same([b.next(), b.next(), b.next(), b.next()], [0, 0, 0, 0])
})

t.test('the client waits the jittered delays between attempts, reset after stableMs', async (t) => {
  const h = harness(t, {
    random: sequence([0.5, 0.25, 0.75, 0.5, 0.5, 0.5, 0.5, 0.5]),
    backoff: { baseMs: 1000, maxMs: 8000, stableMs: 15_000 },
  })
  const first = await h.connect('42')
  first.deliver(subscribed('42', 0))
  const gaps: number[] = []
  let ws = first
  // Six failed attempts in a row: the socket closes before hello.
  for (let i = 0; i < 6; i++) {
    const closedAt = h.clock.now()
    ws.serverClose(1006)
    ws = await h.nextSocket()
    gaps.push(ws.openedAt - closedAt)
  }
  // ceilings 1000, 2000, 4000, 8000, 8000 (cap), 8000
  t.same(gaps, [500, 500, 3000, 4000, 4000, 4000])
  t.equal(h.client.state, 'reconnecting')

  // Open but for less than stableMs: no reset, the next delay keeps the cap.
  ws.hello()
  await h.tick(14_999)
  let closedAt = h.clock.now()
  ws.serverClose(1006)
  ws = await h.nextSocket()
  t.equal(ws.openedAt - closedAt, 4000, 'not reset by a short-lived connection')

  // Open for stableMs: the next delay starts from baseMs again.
  ws.hello()
  await h.tick(15_000)
  closedAt = h.clock.now()
  ws.serverClose(1006)
  ws = await h.nextSocket()
  t.equal(ws.openedAt - closedAt, 500, 'reset after a stable connection')
})

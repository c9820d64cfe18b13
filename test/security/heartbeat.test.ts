/**
 * Dead peers: one timer for all connections, each visited once per
 * interval (one slice of them per step, SLICES steps per interval); a connection that did not
 * answer the previous ping is terminated, the others are pinged. The sweep is proven on
 * fake connections under the fake clock, then end to end against a real client that
 * never answers pings.
 */
import { Clock } from '@tapjs/clock'
import t, { type Test } from 'tap'
import { CLOSE } from '../../src/errors.js'
import { Connection } from '../../src/ws/connection.js'
import { SLICES, startHeartbeat } from '../../src/ws/heartbeat.js'
import { FakeSocket, silentLog } from '../helpers/fakes.js'
import { startRelay } from '../helpers/relay.js'
import { subscriberToken } from '../helpers/tokens.js'
import { within } from './hostile.js'

/** A real Connection with the given id (the sweep slices by id) on a recording socket. */
function connectionWithId(t: Test, id: number): { conn: Connection; ws: FakeSocket } {
  const ws = new FakeSocket()
  const conn = new Connection(id, ws, silentLog, {
    slowConsumerBytes: 1000,
    expiredGraceMs: 1000,
    maxFramesPerSecond: 10,
    maxMalformedFrames: 10,
  })
  t.teardown(() => conn.close(CLOSE.NORMAL))
  return { conn, ws }
}

t.test('the sweep, under the fake clock', async (t) => {
  const clock = new Clock()
  t.teardown(clock.enter())
  // Ids 0, 1, 2: the first three steps of the interval.
  const answers = connectionWithId(t, 0)
  const silent = connectionWithId(t, 1)
  const broken = connectionWithId(t, 2)
  broken.ws.pingThrows = true
  const set = new Set([answers.conn, silent.conn, broken.conn])
  const heartbeat = startHeartbeat(set, 25_000)
  t.teardown(() => heartbeat.stop())

  // The fake clock runs an interval timer once per advance: advance step by step.
  const step = 25_000 / SLICES
  const advance = (ms: number) => {
    for (let i = 0; i < ms / step; i++) clock.advance(step)
  }
  const seen = () => [answers, silent, broken].map(({ ws }) => [ws.pings, ws.terminated])
  clock.advance(step - 1)
  t.same(
    seen(),
    [
      [0, 0],
      [0, 0],
      [0, 0],
    ],
    'nothing before one step',
  )
  clock.advance(1)
  t.same(
    seen().slice(0, 2),
    [
      [1, 0],
      [0, 0],
    ],
    'the first slice is pinged',
  )
  advance(25_000 - step)
  t.same(
    seen().slice(0, 2),
    [
      [1, 0],
      [1, 0],
    ],
    'after one interval every connection is pinged once',
  )
  t.notOk(answers.conn.alive, 'and marked: it must answer before the next sweep')
  t.notOk(silent.conn.alive)
  t.same(seen()[2], [0, 1], 'a ping that throws terminates at once')

  answers.conn.markAlive() // its pong arrived
  advance(25_000)
  t.same(seen()[0], [2, 0], 'the one that answered is pinged again')
  t.same(seen()[1], [1, 1], 'the one that did not answer is terminated')

  heartbeat.stop()
  advance(100_000)
  t.same(seen()[0], [2, 0], 'stop() ends the sweeps')
})

t.test('a real client that never answers pings is terminated', async (t) => {
  const interval = 300
  const relay = await startRelay(t, { heartbeat_interval_ms: interval })
  const started = Date.now()
  const deaf = relay.open({ autoPong: false })
  let pings = 0
  deaf.ws.on('ping', () => (pings += 1))
  await deaf.opened
  t.match(await deaf.next(), { type: 'hello' })
  const healthy = await relay.connect()
  const token = subscriberToken(1, ['@site_active'])
  await deaf.subscribe({ room_id: 'hb', token, uuid: 'deaf' })
  await healthy.subscribe({ room_id: 'hb', token, uuid: 'healthy' })
  const { code } = await within(deaf.closed, interval * 15, 'termination')
  const after = Date.now() - started
  t.equal(code, 1006, 'terminated without a close frame (1006 on the client side)')
  t.ok(pings >= 1, `it was pinged (${pings}) before`)
  t.ok(after <= interval * 5, `within about two intervals of connecting (${after} ms)`)
  t.equal(healthy.ws.readyState, healthy.ws.OPEN, 'a client that answers stays')
  await new Promise((resolve) => setTimeout(resolve, interval * 3))
  t.equal(healthy.ws.readyState, healthy.ws.OPEN, 'and stays over several sweeps')
  t.equal(relay.app.relay.connections.size, 1)
  const res = await relay.publish({ message: { room_id: 'hb', cmd: 'still:here' } })
  t.equal(res.status, 200)
  t.match(await healthy.next(), { type: 'message', cmd: 'still:here' })
  t.same(relay.app.relay.hub.stats(), { rooms: 1, members: 1 }, 'the dead one left its room')
})

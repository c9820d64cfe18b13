import t, { type Test } from 'tap'
import { CLOSE } from '../../src/errors.js'
import { Connection, nextConnectionId } from '../../src/ws/connection.js'
import { SLICES, startHeartbeat, type Heartbeat } from '../../src/ws/heartbeat.js'
import { FakeSocket, silentLog } from '../helpers/fakes.js'

const log = silentLog

function connection(t: Test): { conn: Connection; ws: FakeSocket } {
  const ws = new FakeSocket()
  const conn = new Connection(nextConnectionId(), ws, log, {
    slowConsumerBytes: 1000,
    expiredGraceMs: 1000,
    maxFramesPerSecond: 10,
    maxMalformedFrames: 10,
  })
  t.teardown(() => {
    conn.close(CLOSE.NORMAL)
  })
  return { conn, ws }
}

function heartbeat(t: Test, connections: Set<Connection>, intervalMs = 3_600_000): Heartbeat {
  const hb = startHeartbeat(connections, intervalMs)
  t.teardown(() => {
    hb.stop()
  })
  return hb
}

t.test('sweep pings live connections and terminates silent ones', async (t) => {
  const a = connection(t)
  const b = connection(t)
  const hb = heartbeat(t, new Set([a.conn, b.conn]))

  hb.sweep()
  t.equal(a.ws.pings, 1)
  t.equal(b.ws.pings, 1)
  t.notOk(a.conn.alive, 'marked until a pong arrives')
  t.notOk(b.conn.alive)

  a.conn.markAlive() // a's pong (or any frame) arrived
  hb.sweep()
  t.equal(a.ws.pings, 2, 'a answered: pinged again')
  t.equal(a.ws.terminated, 0)
  t.equal(b.ws.terminated, 1, 'b did not answer since the previous sweep: terminated')
  t.equal(b.ws.pings, 1, 'and not pinged again')

  a.conn.markAlive()
  hb.sweep()
  t.equal(a.ws.terminated, 0, 'a connection that keeps answering is never terminated')
  t.equal(a.ws.pings, 3)
})

t.test('a connection is given one full interval to answer', async (t) => {
  const a = connection(t)
  const hb = heartbeat(t, new Set([a.conn]))
  t.ok(a.conn.alive, 'a new connection counts as alive')
  hb.sweep()
  t.equal(a.ws.terminated, 0, 'not terminated on its first sweep')
  hb.sweep()
  t.equal(a.ws.terminated, 1)
})

t.test('a ping that throws terminates the connection', async (t) => {
  const a = connection(t)
  const b = connection(t)
  a.ws.pingThrows = true
  const hb = heartbeat(t, new Set([a.conn, b.conn]))
  hb.sweep()
  t.equal(a.ws.terminated, 1)
  t.equal(b.ws.pings, 1, 'the others are still pinged')
})

t.test('connections added later are swept too; an empty set is fine', async (t) => {
  const set = new Set<Connection>()
  const hb = heartbeat(t, set)
  hb.sweep()
  const a = connection(t)
  set.add(a.conn)
  hb.sweep()
  t.equal(a.ws.pings, 1)
})

t.test('one timer runs the sweep until stop()', async (t) => {
  const a = connection(t)
  const hb = heartbeat(t, new Set([a.conn]), 10)
  const deadline = Date.now() + 3000
  while (a.ws.pings + a.ws.terminated < 2 && Date.now() < deadline) {
    a.conn.markAlive()
    await new Promise((resolve) => setTimeout(resolve, 5))
  }
  t.ok(a.ws.pings >= 2, 'the timer swept')
  hb.stop()
  const pings = a.ws.pings
  a.conn.markAlive()
  await new Promise((resolve) => setTimeout(resolve, 60))
  t.equal(a.ws.pings, pings, 'no sweep after stop()')
})

t.test(
  'the timer visits one slice of the connections per step, each once per interval',
  async (t) => {
    const all = Array.from({ length: 3 * SLICES + 3 }, () => connection(t))
    const hb = heartbeat(t, new Set(all.map((c) => c.conn)))
    const pinged = () => all.filter((c) => c.ws.pings > 0).length
    hb.step()
    t.ok(pinged() >= 3 && pinged() <= 4, `one step pings one slice (${pinged()} of ${all.length})`)
    for (let i = 1; i < SLICES; i++) hb.step()
    t.same(
      all.map((c) => c.ws.pings),
      all.map(() => 1),
      'after SLICES steps (one interval) every connection was pinged exactly once',
    )
    for (const c of all.slice(1)) c.conn.markAlive()
    for (let i = 0; i < SLICES; i++) hb.step()
    t.equal(all[0]?.ws.terminated, 1, 'one interval later, the one that did not answer is dropped')
    t.same(
      all.slice(1).map((c) => [c.ws.pings, c.ws.terminated]),
      all.slice(1).map(() => [2, 0]),
      'the others are pinged again',
    )
  },
)

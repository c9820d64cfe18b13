/**
 * `broker.min_replicas_ack` end to end: a relay process on a Redis master with one replica
 * (`--replicaof`, loopback). With the replica in sync a publish answers 200; with it
 * paused (SIGSTOP) or gone, 503 within the command timeout, and the backend's retry with
 * the same `jti` is answered with what was stored, never stored twice (docs/scaling.md,
 * "Durability"). Needs `npm run build` (npm test runs it).
 */
import { randomUUID } from 'node:crypto'
import t from 'tap'
import { requireBuild, WAIT_MS } from '../helpers/process.js'
import { requireRedis } from '../helpers/redis.js'
import { startRelayNode } from '../helpers/relay-node.js'
import { startMasterReplica } from '../helpers/sentinel.js'
import { subscriberToken } from '../helpers/tokens.js'

/** The relay's WAIT is bounded by its command timeout (5 s); a 503 must come before. */
const PROMPT_MS = 5500

t.setTimeout(120_000)

const binary = requireRedis(t)
if (binary !== null && requireBuild(t)) {
  t.test('min_replicas_ack 1: 200 with the replica, 503 without, retries idempotent', async (t) => {
    const { master, replica } = await startMasterReplica(t, binary)

    const node = await startRelayNode(t, {
      url: `redis://127.0.0.1:${master.port}`,
      key_prefix: `durability-${randomUUID()}:`,
      min_replicas_ack: 1,
    })
    const room = '42'
    const token = subscriberToken(1, ['@site_active'])
    const viewer = await node.connect()
    const { epoch } = await viewer.subscribe({ room_id: room, token, uuid: 'viewer' })
    const publish = async (cmd: string, jti: string) => {
      const started = Date.now()
      const answer = await node.publish({ jti, message: { room_id: room, cmd } })
      return { ...answer, ms: Date.now() - started }
    }

    const m1 = await publish('m1', 'jti-1')
    t.match(m1, { status: 200, body: { accepted: [{ room_id: room, epoch, offset: 1 }] } })
    t.notOk('duplicate' in m1.body)
    t.match(await viewer.next(WAIT_MS), { type: 'message', cmd: 'm1', offset: 1 })

    replica.signal('SIGSTOP')
    const m2 = await publish('m2', 'jti-2')
    t.match(
      m2,
      { status: 503, body: { error: 'RELAY_ERR_BROKER_UNAVAILABLE', message: /replicas/ } },
      'the replica paused: 503',
    )
    t.ok(m2.ms < PROMPT_MS, `within the command timeout (${m2.ms} ms)`)
    // Stored on the master and delivered before WAIT ran: the 503 says "not confirmed".
    t.match(await viewer.next(WAIT_MS), { type: 'message', cmd: 'm2', offset: 2 })
    replica.signal('SIGCONT')
    const retried = await publish('m2', 'jti-2')
    t.match(
      retried,
      { status: 200, body: { accepted: [{ room_id: room, epoch, offset: 2 }], duplicate: true } },
      'the retry with the same jti is answered with what was stored',
    )
    t.ok(await viewer.silentFor(300), 'and not delivered again')
    const m3 = await publish('m3', 'jti-3')
    t.match(m3, { status: 200, body: { accepted: [{ offset: 3 }] } }, 'the replica back: 200')
    t.notOk('duplicate' in m3.body)
    t.match(await viewer.next(WAIT_MS), { type: 'message', cmd: 'm3', offset: 3 })

    await replica.kill()
    const m4 = await publish('m4', 'jti-4')
    t.match(m4, { status: 503, body: { error: 'RELAY_ERR_BROKER_UNAVAILABLE' } }, 'no replica')
    t.ok(m4.ms < PROMPT_MS, `within the command timeout (${m4.ms} ms)`)
    t.match(await viewer.next(WAIT_MS), { type: 'message', cmd: 'm4', offset: 4 })
    t.match(await publish('m4', 'jti-4'), {
      status: 200,
      body: { accepted: [{ offset: 4 }], duplicate: true },
    })

    const late = await node.connect()
    t.match(
      await late.subscribe({ room_id: room, token, uuid: 'late', since: { epoch, offset: 0 } }),
      { type: 'subscribed', epoch, offset: 4, recovered: true },
    )
    const replayed = [await late.next(WAIT_MS)]
    for (let n = 2; n <= 4; n++) replayed.push(await late.next(WAIT_MS))
    t.same(
      replayed.map((f) => [f.cmd, f.offset]),
      [
        ['m1', 1],
        ['m2', 2],
        ['m3', 3],
        ['m4', 4],
      ],
      'history holds each message once',
    )
    t.ok(await late.silentFor(200), 'nothing more')
    t.match(await node.health(), { status: 200 }, 'a missing replica does not make it unready')
  })
}

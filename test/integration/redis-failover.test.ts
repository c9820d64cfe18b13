/**
 * Sentinel failover end to end: a master, a replica and three sentinels on loopback; two
 * relay processes that find the master through the sentinels; a WebSocket subscriber on
 * node B, publishes through node A. The replica is paused (SIGSTOP) while publishing goes
 * on, so that it lags; the master is killed, the replica resumed and promoted. Publishes
 * answer 503 promptly meanwhile, never 200 for what is not stored; /health is not ready
 * while no master is reachable; publishing is back within 5 s of the promotion; the
 * subscriber stays connected and is told what the failover lost (resync, a new epoch: no
 * (epoch, offset) given twice). The timeline is printed as a TAP comment
 * (docs/performance.md). Needs `npm run build` (npm test runs it).
 */
import { randomUUID } from 'node:crypto'
import t from 'tap'
import { requireBuild, WAIT_MS } from '../helpers/process.js'
import { requireRedis } from '../helpers/redis.js'
import { positionIn, subscribeNew } from '../helpers/relay.js'
import { allReady, startRelayNode, type RelayNode } from '../helpers/relay-node.js'
import { startSentinelSet } from '../helpers/sentinel.js'
import { subscriberToken } from '../helpers/tokens.js'
import { sleep, until } from '../helpers/wait.js'

/** A publish refused during the failover comes within the relay's command timeout (5 s). */
const PROMPT_MS = 5500

t.setTimeout(180_000)

const binary = requireRedis(t)
if (binary !== null && requireBuild(t)) {
  t.test('failover under two relay nodes: nothing lost silently, back within 5 s', async (t) => {
    const set = await startSentinelSet(t, binary)
    const broker = {
      // With sentinels the URL's host is not used: the master is asked of them.
      url: 'redis://127.0.0.1:1',
      sentinels: set.sentinels,
      sentinel_name: set.name,
      key_prefix: `failover-${randomUUID()}:`,
      connect_timeout_ms: 1000,
    }
    const [a, b] = await Promise.all([startRelayNode(t, broker), startRelayNode(t, broker)])
    const room = '42'
    const token = subscriberToken(1, ['@site_active'])
    const viewer = await b.connect()
    const subscribed = await viewer.subscribe({ room_id: room, token, uuid: 'viewer' })
    const oldEpoch = subscribed.epoch as string

    /** Every (epoch, offset) answered 200, and for which message. */
    const given = new Map<string, string>()
    interface Answer {
      status: number
      ms: number
      at?: { epoch: string; offset: number }
      body: Record<string, unknown>
    }
    const publish = async (cmd: string): Promise<Answer> => {
      const started = Date.now()
      // One jti per message, the same on each retry, as a backend retries.
      const answer = await a.publish({ jti: `jti-${cmd}`, message: { room_id: room, cmd } })
      const ms = Date.now() - started
      if (answer.status !== 200) return { status: answer.status, ms, body: answer.body }
      const [at] = answer.body.accepted as { epoch: string; offset: number }[]
      t.ok(at, `${cmd}: 200 names where it was stored`)
      const key = `${at?.epoch}/${at?.offset}`
      if (answer.body.duplicate !== true) {
        t.notOk(given.has(key), `${cmd} at ${key}: not given to ${given.get(key)} before`)
        given.set(key, cmd)
      } else {
        t.equal(given.get(key), cmd, `${cmd}: a duplicate names its own first answer`)
      }
      return { status: 200, ms, at, body: answer.body }
    }
    /** Publish `cmd` until 200, each refusal a prompt 503, within `ms`. */
    const refusals: Answer[] = []
    const publishRetried = async (cmd: string, ms: number): Promise<Answer> => {
      const deadline = Date.now() + ms
      for (;;) {
        const answer = await publish(cmd)
        if (answer.status === 200) return answer
        refusals.push(answer)
        if (Date.now() > deadline) throw new Error(`${cmd}: no 200 within ${ms} ms`)
        await sleep(50)
      }
    }

    for (let n = 1; n <= 3; n++) {
      t.match(await publish(`m${n}`), { status: 200, at: { epoch: oldEpoch, offset: n } })
      t.match(await viewer.nextExcept('presence', WAIT_MS), { cmd: `m${n}`, offset: n })
    }
    set.replica.signal('SIGSTOP')
    for (let n = 4; n <= 6; n++) {
      t.match(await publish(`m${n}`), { status: 200, at: { epoch: oldEpoch, offset: n } })
      t.match(
        await viewer.nextExcept('presence', WAIT_MS),
        { cmd: `m${n}`, offset: n },
        'delivered live',
      )
    }

    // /health of both nodes, polled from the kill until publishing is back.
    const health: { node: 'a' | 'b'; at: number; status: number }[] = []
    const polling = { on: true }
    const pollHealth = (async () => {
      while (polling.on) {
        const at = Date.now()
        const [ha, hb] = await Promise.all([a.health(), b.health()])
        health.push({ node: 'a', at, status: ha.status }, { node: 'b', at, status: hb.status })
        await sleep(50)
      }
    })()

    const killedAt = Date.now()
    await set.master.kill()
    set.replica.signal('SIGCONT')
    let promotedAt = 0
    const promotion = until(
      'the sentinels promote the replica',
      async () => (await set.masterPort()) === set.replica.port,
      { timeoutMs: 30_000, intervalMs: 20 },
    ).then(() => {
      promotedAt = Date.now()
    })
    let m7: Answer
    try {
      m7 = await publishRetried('m7', 30_000)
    } finally {
      polling.on = false
      await pollHealth
    }
    const firstAt = Date.now()
    await promotion

    t.ok(refusals.length > 0, 'publishes were refused during the failover')
    t.ok(
      refusals.every((r) => r.status === 503 && r.body.error === 'RELAY_ERR_BROKER_UNAVAILABLE'),
      'each refusal a 503 RELAY_ERR_BROKER_UNAVAILABLE',
    )
    const slowest = Math.max(...refusals.map((r) => r.ms))
    t.ok(slowest < PROMPT_MS, `none hung past the command timeout (slowest ${slowest} ms)`)
    t.ok(firstAt - promotedAt < 5000, 'publishing back within 5 s of the promotion')
    for (const node of ['a', 'b'] as const) {
      const seen = health.filter((h) => h.node === node && h.at < promotedAt)
      const firstDown = seen.findIndex((h) => h.status === 503)
      t.ok(firstDown >= 0, `node ${node}: /health not ready once the master is gone`)
      t.ok(
        seen.slice(firstDown).every((h) => h.status === 503),
        `node ${node}: and not ready until the promotion`,
      )
    }
    t.comment(
      `failover timeline (relay processes): kill → promotion ${promotedAt - killedAt} ms → ` +
        `first 200 ${firstAt - killedAt} ms (${firstAt - promotedAt} ms after the promotion), ` +
        `${refusals.length} publishes refused, slowest ${slowest} ms`,
    )

    // While the sentinels converge a connection may drop once more: the backend retries.
    const m8 = await publishRetried('m8', 5000)
    const m9 = await publishRetried('m9', 5000)
    const epoch = m7.at!.epoch
    t.not(epoch, oldEpoch, 'what the failover lost is fenced: a new epoch')
    t.match(
      [m7, m8, m9].map((m) => m.at),
      [1, 2, 3].map((offset) => ({ room_id: room, epoch, offset })),
      'the new epoch from offset 1',
    )
    t.same(
      await viewer.nextExcept('presence', WAIT_MS),
      { type: 'resync', room_id: room, epoch, offset: 0 },
      'the subscriber is told (resync)',
    )
    for (let n = 7; n <= 9; n++) {
      t.match(await viewer.nextExcept('presence', WAIT_MS), {
        type: 'message',
        cmd: `m${n}`,
        epoch,
        offset: n - 6,
      })
    }
    t.ok(await viewer.silentFor(300), 'each once')
    viewer.send({ type: 'ping' })
    t.same(await viewer.next(WAIT_MS), { type: 'pong' }, 'the subscriber stayed connected')

    t.match(
      await subscribeNew(a, {
        room_id: room,
        token,
        uuid: 'page',
        since: positionIn(subscribed, 6),
      }),
      { type: 'subscribed', epoch, offset: 3, recovered: false },
      'a resume from before the failover is not recovered',
    )
    await allReady([a, b], 'both nodes ready')
    for (const node of [a, b] as RelayNode[]) {
      t.match(node.output(), /"msg":"Redis came back as another server/)
      t.notMatch(node.output(), /unhandled rejection|uncaught exception/, 'nothing crashed')
      t.equal(node.child.exitCode, null, 'still running')
    }
  })
}

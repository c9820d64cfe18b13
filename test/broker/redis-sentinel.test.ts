/**
 * Sentinel: a master, a replica and three sentinels on loopback; two broker
 * nodes found through the sentinels, a listener on one, publishes through the other. The
 * replica is paused (SIGSTOP) while publishing continues, so it lags; the master is
 * killed and the replica resumed and promoted. Publishes fail fast meanwhile, come back
 * within 5 s of the promotion, and what the failover lost is fenced: a new epoch, no
 * (epoch, offset) given twice. The timeline is printed as a TAP comment.
 */
import { randomUUID } from 'node:crypto'
import t from 'tap'
import type { StoredMessage } from '../../src/broker/broker.js'
import { RedisBroker } from '../../src/broker/redis-broker.js'
import { testMessage as message } from '../helpers/messages.js'
import { requireRedis } from '../helpers/redis.js'
import { startSentinelSet } from '../helpers/sentinel.js'
import { until as waitUntil } from '../helpers/wait.js'

const WAIT_MS = 20_000
const NAME = 'relaymaster'

/** `until`, within WAIT_MS, where a check that throws (no master yet) counts as not yet. */
const until = (what: string, check: () => boolean | Promise<boolean>): Promise<void> =>
  waitUntil(
    what,
    () =>
      Promise.resolve()
        .then(check)
        .catch(() => false),
    { timeoutMs: WAIT_MS, intervalMs: 50 },
  )

const binary = requireRedis(t)
if (binary !== null) {
  t.test('failover: fast 503s, back within 5 s of the promotion, lost writes fenced', async (t) => {
    const set = await startSentinelSet(t, binary, NAME)
    const { master, replica } = set

    const keyPrefix = `sentinel-${randomUUID()}:`
    const node = async (): Promise<RedisBroker> => {
      const broker = new RedisBroker({
        // With sentinels the URL's host is not used: the master is asked of them.
        url: 'redis://127.0.0.1:1',
        sentinels: set.sentinels,
        sentinelName: NAME,
        keyPrefix,
        historySize: 100,
        historyTtlMs: 300_000,
        connectTimeoutMs: 1000,
      })
      t.teardown(() => broker.close())
      await broker.whenReady(WAIT_MS)
      return broker
    }
    const a = await node()
    const b = await node()
    const room = `room-${randomUUID()}`
    const got: StoredMessage[] = []
    await b.subscribe(room, (m) => got.push(m))
    const given = new Map<string, string>()
    const publish = async (cmd: string): Promise<StoredMessage> => {
      const [m] = (await a.publish([message(room, cmd)])).stored
      const key = `${m!.epoch}/${m!.offset}`
      t.notOk(given.has(key), `${cmd} at ${key}: not given to ${given.get(key)} before`)
      given.set(key, cmd)
      return m!
    }
    for (let n = 1; n <= 3; n++) await publish(`m${n}`)
    await until('b got m1..m3', () => got.length === 3)

    replica.signal('SIGSTOP')
    let last: StoredMessage | undefined
    for (let n = 4; n <= 6; n++) last = await publish(`m${n}`)
    await until('b got m4..m6', () => got.length === 6)

    const killedAt = Date.now()
    await master.kill()
    replica.signal('SIGCONT')
    let promotedAt = 0
    const watchPromotion = (async () => {
      await until('the replica is promoted', async () => (await set.masterPort()) === replica.port)
      promotedAt = Date.now()
    })()
    let slowest = 0
    let refused = 0
    let m7: StoredMessage | undefined
    const deadline = Date.now() + WAIT_MS
    while (!m7 && Date.now() < deadline) {
      const started = Date.now()
      try {
        m7 = await publish('m7')
      } catch (err) {
        t.match(err, { code: 'RELAY_ERR_BROKER_UNAVAILABLE' }, 'refused with 503', {
          diagnostic: false,
        })
        refused++
        await new Promise((resolve) => setTimeout(resolve, 50))
      }
      slowest = Math.max(slowest, Date.now() - started)
    }
    const firstAt = Date.now()
    await watchPromotion
    t.ok(m7, 'publishing resumed')
    t.ok(refused > 0, 'publishes were refused during the failover')
    t.ok(slowest < 5500, `no publish hung past the command timeout (slowest ${slowest} ms)`)
    t.ok(firstAt - promotedAt < 5000, 'publishing back within 5 s of the promotion')
    t.comment(
      `failover timeline: kill → promotion ${promotedAt - killedAt} ms → first 200 ${firstAt - killedAt} ms (${firstAt - promotedAt} ms after the promotion), ${refused} publishes refused, slowest ${slowest} ms`,
    )
    // Right after a failover the sentinels may still disagree, and a connection may drop
    // once more: a publish then answers 503 at once and the backend retries, within 5 s.
    const retried = async (cmd: string): Promise<StoredMessage> => {
      const until = Date.now() + 5000
      for (;;) {
        try {
          return await publish(cmd)
        } catch (err) {
          if (Date.now() > until) throw err
          await new Promise((resolve) => setTimeout(resolve, 50))
        }
      }
    }
    const m8 = await retried('m8')
    const m9 = await retried('m9')
    t.not(m7!.epoch, last!.epoch, 'what the failover lost is fenced: a new epoch')
    t.same([m7!.offset, m8.offset, m9.offset], [1, 2, 3])
    // Node b may come back on the new master after m7 was published: then it hands its
    // listener the room's latest message, and the hub catches up from history (resync).
    await until('b got m9', () => got.at(-1)?.cmd === 'm9')
    t.same(
      got.slice(0, 6).map((m) => [m.cmd, m.epoch, m.offset]),
      [1, 2, 3, 4, 5, 6].map((n) => [`m${n}`, last!.epoch, n]),
      'the listener on the other node got m1..m6 once, in order',
    )
    const later = got.slice(6)
    t.ok(
      later.every((m, i) => m.epoch === m7!.epoch && m.offset > (later[i - 1]?.offset ?? 0)),
      'then only the new epoch, offsets growing',
    )
    // A node that only reads (b) learns of the new master on its own reconnect.
    await until('both nodes ready on the new master', () => a.ready && b.ready)
    t.same((await b.history(room, { epoch: last!.epoch, offset: 6 })).messages, null)
    t.ok(a.counts.failovers >= 1, 'the failover is counted')
    t.ok(b.counts.roomsResynced >= 1, 'the resynced room is counted')
  })
}

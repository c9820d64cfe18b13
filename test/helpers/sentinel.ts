/**
 * A Sentinel set-up on loopback for failover tests: a master, a replica in sync with it
 * and three sentinels (the same redis-server binary with `--sentinel`) that agree on both,
 * quick to fail over (down-after 500 ms). Every process is killed at teardown.
 */
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { Redis } from 'ioredis'
import { freePort } from './ports.js'
import { spawnRedis, testDir, type RedisProcess, type RedisTest } from './redis.js'
import { until } from './wait.js'

/** Bound of each wait on the set-up. */
const WAIT_MS = 20_000

/** A running master, replica and sentinels. */
export interface SentinelSet {
  readonly name: string
  readonly master: RedisProcess
  readonly replica: RedisProcess
  /** `127.0.0.1:port` of each sentinel. */
  readonly sentinels: readonly string[]
  /** The port the sentinels name as the master now (null when they cannot answer). */
  masterPort(): Promise<number | null>
}

/** A Redis client to 127.0.0.1:`port` that fails fast and never reports errors. */
const quietClient = (port: number): Redis => {
  const c = new Redis({ port, host: '127.0.0.1', maxRetriesPerRequest: 0, lazyConnect: true })
  c.on('error', () => undefined)
  return c
}

/** `until` for a set-up step: a check that throws counts as not yet. */
const settled = (what: string, check: () => Promise<boolean>): Promise<void> =>
  until(what, () => check().catch(() => false), { timeoutMs: WAIT_MS, intervalMs: 50 })

/**
 * A master and a replica (`--replicaof`), no persistence, in `dir` on free loopback ports;
 * resolves once the replica is in sync.
 */
export async function startMasterReplica(
  t: RedisTest,
  binary: string,
  dir: string = testDir(t),
): Promise<{ readonly master: RedisProcess; readonly replica: RedisProcess }> {
  const [mPort, rPort] = [await freePort(), await freePort()]
  const plain = ['--bind', '127.0.0.1', '--save', '', '--appendonly', 'no']
  const master = await spawnRedis(t, binary, dir, mPort, ['--port', String(mPort), ...plain])
  const replica = await spawnRedis(t, binary, dir, rPort, [
    '--port',
    String(rPort),
    ...plain,
    '--replicaof',
    '127.0.0.1',
    String(mPort),
  ])
  const inReplica = quietClient(rPort)
  t.teardown(() => inReplica.disconnect())
  await settled('the replica is in sync', async () =>
    /master_link_status:up/.test(await inReplica.info('replication')),
  )
  inReplica.disconnect()
  return { master, replica }
}

/** Start the set-up for `t` with redis-server `binary`; the master is named `name`. */
export async function startSentinelSet(
  t: RedisTest,
  binary: string,
  name = 'relaymaster',
): Promise<SentinelSet> {
  const dir = testDir(t)
  const { master, replica } = await startMasterReplica(t, binary, dir)
  const sPorts = await Promise.all(Array.from({ length: 3 }, () => freePort()))
  for (const port of sPorts) {
    const conf = join(dir, `sentinel-${port}.conf`)
    writeFileSync(
      conf,
      [
        `port ${port}`,
        'bind 127.0.0.1',
        `dir ${dir}`,
        `sentinel monitor ${name} 127.0.0.1 ${master.port} 2`,
        `sentinel down-after-milliseconds ${name} 500`,
        `sentinel failover-timeout ${name} 2000`,
        `sentinel parallel-syncs ${name} 1`,
        '',
      ].join('\n'),
    )
    await spawnRedis(t, binary, dir, port, [conf, '--sentinel'])
  }
  const sentinel = quietClient(sPorts[0]!)
  t.teardown(() => sentinel.disconnect())
  await settled('the sentinels know each other and the replica', async () => {
    const replicas = (await sentinel.call('SENTINEL', 'REPLICAS', name)) as unknown[]
    const others = (await sentinel.call('SENTINEL', 'SENTINELS', name)) as unknown[]
    return replicas.length === 1 && others.length === 2
  })
  return {
    name,
    master,
    replica,
    sentinels: sPorts.map((p) => `127.0.0.1:${p}`),
    async masterPort() {
      try {
        const addr = (await sentinel.call('SENTINEL', 'GET-MASTER-ADDR-BY-NAME', name)) as string[]
        return Number(addr[1])
      } catch {
        return null
      }
    },
  }
}

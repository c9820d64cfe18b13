/**
 * Command line and scenario sizes: the full default (docs/performance.md's sizes, 3 runs) and
 * `--quick` (small sizes, 1 run, a smoke check).
 */
import { parseArgs } from 'node:util'
import { KINDS, type FloorHttp, type Kind } from './common.js'
import type { FanOutParams } from './fanout.js'
import type { ManyRoomsParams, ThroughputParams } from './workloads.js'

/** Which scenarios to run. */
export type Scenario = 'fanout' | 'throughput' | 'rooms'
const SCENARIOS: readonly Scenario[] = ['fanout', 'throughput', 'rooms']

/** Everything a bench invocation does. */
export interface BenchParams {
  readonly mode: 'full' | 'quick' | 'profile' | 'heap' | 'idle'
  readonly runs: number
  readonly kinds: readonly Kind[]
  readonly scenarios: readonly Scenario[]
  readonly fanOut: readonly FanOutParams[]
  readonly throughput: ThroughputParams
  readonly manyRooms: ManyRoomsParams
  /** The whole invocation is aborted (exit 1) after this. */
  readonly deadlineMs: number
  /** Subscribers held at once at most: the server needs that many descriptors. */
  readonly maxSubscribers: number
  /** Idle subscribers for `--heap` and `--idle`. */
  readonly idleSubscribers: number
  /** Extra Node.js flags for every server child (`--node-flags`), e.g. `--trace-gc`. */
  readonly serverNodeFlags: readonly string[]
  /** Relay settings over the bench's own (`--relay-config`), e.g. a longer heartbeat. */
  readonly relayConfig: Readonly<Record<string, unknown>>
  /** The floor's HTTP layer (`--floor-http`): Node's own, or fastify's (what fastify costs). */
  readonly floorHttp: FloorHttp
}

export const USAGE = `usage: npm run bench -- [options]
  (default)            full run: fan-out 1,000/5,000/10,000, idle memory at 10,000, publish
                       throughput (100 subscribers), many rooms (1,000 × 10); 3 runs; relay,
                       floor, socket.io, relaysio and cluster; median per metric; targets PASS/FAIL
  --quick              small sizes (fan-out 100/500, 50 rooms × 10), 1 run: a smoke check
  --runs N             runs per measurement
  --sizes A,B,...      fan-out room sizes
  --kinds relay,floor,socketio,relaysio,cluster
                       relaysio: the relay with Tuleap pages (socket.io-client, websocket
                       transport) on its socket.io endpoint as subscribers
                       cluster: the relay as two nodes on one Redis (the bench starts its own
                       redis-server; left out when none is installed), publisher on node A,
                       subscribers split between A and B
  --scenarios fanout,throughput,rooms
  --rooms N            many rooms: N rooms of 10 (default 1,000)
  --profile [N]        relay fan-out at N (default 10,000) once, server under --cpu-prof;
                       prints where the server's CPU goes while publishing (--kinds to
                       profile the baselines too, --scenarios to profile the others)
  --heap [N]           relay and floor with N idle subscribers (default 2,000), heap snapshot
                       before and after connecting; prints what each connection holds
  --idle [N]           idle memory only: N subscribers (default 10,000), --runs (default 3),
                       --kinds (default relay,floor); no publishing; and the server's CPU
                       at rest for 10 s (the heartbeat's cost), then the longest its event
                       loop was held at once in another 10 s
  --node-flags="..."   extra Node.js flags for the server children, e.g. "--trace-gc"
                       (each server's log is in bench-results/logs/)
  --relay-config=JSON  relay settings over the bench's own, e.g.
                       '{"heartbeat_interval_ms":3600000}' (no heartbeat within a run)
  --floor-http=fastify the floor's POST /message through a bare fastify route instead of
                       Node's request handler: what fastify alone costs (default: node)
Results: bench-results/bench-<mode>-<time>.json and .txt. Exit 1 on any loss or failure, 2 when a
target fails (full runs only).`

/**
 * One room size: a steady phase of 20 messages/s but at most about 20,000 deliveries/s
 * (2 messages/s at 10,000), so that each message's fan-out is over before the next one
 * comes and latency is the fan-out's own, not a queue's; then bursts of about `perBurst`
 * deliveries each.
 */
function fanOutFor(n: number, steadyS: number, bursts: number, perBurst: number): FanOutParams {
  const steadyRate = Math.max(1, Math.min(20, Math.round(20_000 / n)))
  return {
    n,
    steadyRate,
    steadyCount: Math.max(4, Math.round(steadyRate * steadyS)),
    bursts,
    burstSize: Math.max(4, Math.ceil(perBurst / n)),
    burstConcurrency: 4,
    clientProcesses: n < 200 ? 1 : 4,
  }
}

function list<T extends string>(
  value: string | undefined,
  allowed: readonly T[],
  what: string,
): T[] | undefined {
  if (value === undefined) return undefined
  const items = value.split(',').map((s) => s.trim())
  for (const item of items) {
    if (!allowed.includes(item as T))
      throw new Error(`--${what}: unknown ${item} (${allowed.join(', ')})`)
  }
  return items as T[]
}

function relayConfig(json: string | undefined): Record<string, unknown> {
  if (json === undefined) return {}
  let parsed: unknown
  try {
    parsed = JSON.parse(json)
  } catch (err) {
    throw new Error(`--relay-config: not JSON (${(err as Error).message})`, { cause: err })
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
    throw new Error('--relay-config: a JSON object of relay settings')
  return parsed as Record<string, unknown>
}

function floorHttp(value: string | undefined): FloorHttp {
  if (value === undefined || value === 'node' || value === 'fastify') return value ?? 'node'
  throw new Error(`--floor-http: node or fastify, not ${JSON.stringify(value)}`)
}

/** Parse argv into bench parameters; throws with a message on a bad option. */
export function parseParams(argv: readonly string[]): BenchParams | 'help' {
  const { values, positionals } = parseArgs({
    args: [...argv],
    allowPositionals: true,
    options: {
      quick: { type: 'boolean', default: false },
      runs: { type: 'string' },
      sizes: { type: 'string' },
      kinds: { type: 'string' },
      scenarios: { type: 'string' },
      profile: { type: 'boolean', default: false },
      heap: { type: 'boolean', default: false },
      idle: { type: 'boolean', default: false },
      rooms: { type: 'string' },
      'node-flags': { type: 'string' },
      'relay-config': { type: 'string' },
      'floor-http': { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  })
  if (values.help) return 'help'
  const quick = values.quick
  const count = positionals[0] === undefined ? undefined : Number(positionals[0])
  const sizes = values.sizes?.split(',').map(Number) ?? (quick ? [100, 500] : [1000, 5000, 10000])
  if (sizes.some((n) => !Number.isInteger(n) || n < 1))
    throw new Error('--sizes: positive integers')
  const mode = values.profile
    ? 'profile'
    : values.heap
      ? 'heap'
      : values.idle
        ? 'idle'
        : quick
          ? 'quick'
          : 'full'
  const memory = mode === 'heap' || mode === 'idle'
  const single = mode === 'profile' || mode === 'heap'
  const profileN = count ?? (quick ? 500 : 10_000)
  const fanOut = (mode === 'profile' ? [profileN] : sizes).map((n) =>
    quick ? fanOutFor(n, 2, 2, 20_000) : fanOutFor(n, 6, 3, 100_000),
  )
  const runs = values.runs === undefined ? (quick || single ? 1 : 3) : Number(values.runs)
  if (!Number.isInteger(runs) || runs < 1) throw new Error('--runs: a positive integer')
  const manyRooms: ManyRoomsParams = quick
    ? { rooms: 50, perRoom: 10, steadyRate: 100, parallel: 4, phpPublishes: 50, clientProcesses: 2 }
    : {
        rooms: values.rooms === undefined ? 1000 : Number(values.rooms),
        perRoom: 10,
        steadyRate: 200,
        parallel: 4,
        phpPublishes: 500,
        clientProcesses: 4,
      }
  if (!Number.isInteger(manyRooms.rooms) || manyRooms.rooms < 1)
    throw new Error('--rooms: a positive integer')
  const idleN = count ?? (mode === 'heap' ? 2000 : 10_000)
  const kinds =
    mode === 'profile'
      ? (list(values.kinds, KINDS, 'kinds') ?? ['relay'])
      : memory
        ? (list(values.kinds, KINDS, 'kinds') ?? ['relay', 'floor'])
        : (list(values.kinds, KINDS, 'kinds') ?? KINDS)
  const kindCount = kinds.length
  return {
    mode,
    runs,
    kinds,
    scenarios:
      mode === 'heap'
        ? ['fanout']
        : (list(values.scenarios, SCENARIOS, 'scenarios') ??
          (mode === 'profile' ? ['fanout'] : SCENARIOS)),
    fanOut,
    throughput: quick
      ? { subscribers: 100, durationMs: 2000, concurrency: 8, pool: 10_000 }
      : { subscribers: 100, durationMs: 5000, concurrency: 8, pool: 30_000 },
    manyRooms,
    // About 2 (quick) or 9 minutes per server kind and run, plus set-up.
    deadlineMs: (2 + (quick ? 2 : 9) * runs * kindCount) * 60_000,
    maxSubscribers: memory
      ? idleN
      : Math.max(...fanOut.map((f) => f.n), manyRooms.rooms * manyRooms.perRoom),
    idleSubscribers: idleN,
    serverNodeFlags: values['node-flags']?.split(/\s+/).filter((f) => f !== '') ?? [],
    relayConfig: relayConfig(values['relay-config']),
    floorHttp: floorHttp(values['floor-http']),
  }
}

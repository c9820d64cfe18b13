/**
 * Fan-out to one room: idle memory with every subscriber connected, then per room size
 * (largest first, subscribers dropped in between) a warm-up, a steady rate and bursts.
 */
import { PHASE, roomOf, type Kind, type Latency, type ProcessSample } from './common.js'
import {
  collect,
  Deliveries,
  progress,
  sampleAll,
  setUp,
  shrink,
  tally,
  tearDown,
  type BenchEnv,
  type Loss,
  type Setup,
} from './scenarios.js'

const MS = 1000
const WARM = 5

/** Fan-out parameters for one room size. */
export interface FanOutParams {
  readonly n: number
  readonly steadyRate: number
  readonly steadyCount: number
  readonly bursts: number
  readonly burstSize: number
  readonly burstConcurrency: number
  readonly clientProcesses: number
}

/** Idle memory per subscribed connection, bytes, from the server's own memoryUsage(). */
export interface IdleMemory {
  readonly connections: number
  readonly rssPerConn: number
  readonly heapPerConn: number
  readonly externalPerConn: number
  readonly before: ProcessSample
  readonly after: ProcessSample
}

/** One fan-out measurement. */
export interface FanOutResult {
  readonly kind: Kind
  readonly n: number
  /** Time to connect and subscribe the largest size (the series connects once). */
  readonly connectMs: number
  /** Measured before the first publish, at the largest size only. */
  readonly idle: IdleMemory | null
  /** Deliveries over all bursts / time from each burst's first POST to its last receive. */
  readonly deliveriesPerSec: number
  readonly burstMs: number[]
  readonly steady: Latency
  readonly burst: Latency
  readonly serverCpuUsPerDelivery: number
  readonly clientCpuUsPerDelivery: number
  /** The server child's tag (names its logs and profile). */
  readonly tag: string
  /** Monotonic µs windows of the publishing phases, to cut a CPU profile to them. */
  readonly windows: [number, number][]
  readonly loss: Loss
}

function idleMemory(s: Setup): IdleMemory {
  const { before, after } = s.idle
  const n = Math.max(1, s.subscribers)
  return {
    connections: s.subscribers,
    rssPerConn: (after.rss - before.rss) / n,
    heapPerConn: (after.heapUsed - before.heapUsed) / n,
    externalPerConn: (after.external - before.external) / n,
    before,
    after,
  }
}

/** Messages one fan-out size publishes into the room. */
function messagesOf(p: FanOutParams): number {
  return WARM + p.steadyCount + p.bursts * p.burstSize
}

/**
 * One room on one fresh server, largest size first: connect all subscribers, measure idle
 * memory, then for each size (subscribers dropped between sizes) warm-up, a steady rate,
 * then bursts. Connecting is the slow part of the bench; this does it once per server.
 */
export async function fanOutSeries(
  env: BenchEnv,
  kind: Kind,
  sizes: readonly FanOutParams[],
  tag: string,
): Promise<FanOutResult[]> {
  const ordered = [...sizes].sort((a, b) => b.n - a.n)
  const top = ordered[0]
  if (!top) return []
  const maxSeq = ordered.reduce((sum, p) => sum + messagesOf(p), 0) + 8
  const s = await setUp(
    env,
    kind,
    {
      subscribers: top.n,
      rooms: 1,
      clientProcesses: top.clientProcesses,
      maxSeq,
      publisherSockets: 8,
    },
    tag,
  )
  const results: FanOutResult[] = []
  try {
    const d = new Deliveries(s)
    for (const p of ordered) {
      if (d.incomplete) break
      if (p !== top) {
        await shrink(s, p.n)
        // Collect what the dropped connections left, so that this size does not pay for it.
        await sampleAll(s.servers, true)
      }
      results.push(await fanOutSize(s, d, kind, p, p === top ? idleMemory(s) : null, tag))
    }
  } finally {
    await tearDown(s)
  }
  return results
}

async function fanOutSize(
  s: Setup,
  d: Deliveries,
  kind: Kind,
  p: FanOutParams,
  idle: IdleMemory | null,
  tag: string,
): Promise<FanOutResult> {
  const rooms = [roomOf(0, 1)]
  const n = s.subscribers
  const wait = (messages: number): number => 60 * MS + messages * n * 0.2
  tally(
    s,
    await s.publisher.call(
      'burst',
      { rooms, count: WARM, concurrency: 1, phase: PHASE.warm },
      60 * MS,
    ),
  )
  await d.add(WARM * n, wait(WARM))
  const steadyRun = tally(
    s,
    await s.publisher.call(
      'steady',
      { rooms, rate: p.steadyRate, count: p.steadyCount, phase: PHASE.steady },
      60 * MS + (p.steadyCount / p.steadyRate) * MS,
    ),
  )
  const steadyEnd = await d.add(p.steadyCount * n, wait(p.steadyCount))
  const cpu0 = await sampleAll(s.servers, false)
  const clients0 = await progress(s)
  const burstMs: number[] = []
  const bursts: [number, number][] = []
  for (let b = 0; b < p.bursts && !d.incomplete; b++) {
    const run = tally(
      s,
      await s.publisher.call(
        'burst',
        { rooms, count: p.burstSize, concurrency: p.burstConcurrency, phase: PHASE.burst },
        120 * MS,
      ),
    )
    const end = await d.add(p.burstSize * n, wait(p.burstSize))
    burstMs.push((end - run.startUs) / 1000)
    bursts.push([run.startUs, end])
  }
  const cpu1 = await sampleAll(s.servers, false)
  const clients1 = await progress(s)
  const c = await collect(s, d.incomplete)
  const burstDeliveries = burstMs.length * p.burstSize * n
  const burstSeconds = burstMs.reduce((a, b) => a + b, 0) / 1000
  return {
    kind,
    n,
    connectMs: s.connectMs,
    idle,
    deliveriesPerSec: burstSeconds > 0 ? burstDeliveries / burstSeconds : 0,
    burstMs,
    steady: c.latency(PHASE.steady),
    burst: c.latency(PHASE.burst),
    serverCpuUsPerDelivery: (cpu1.cpuUs - cpu0.cpuUs) / Math.max(1, burstDeliveries),
    clientCpuUsPerDelivery: (clients1.cpuUs - clients0.cpuUs) / Math.max(1, burstDeliveries),
    tag,
    windows: [[steadyRun.startUs, steadyEnd], ...bursts],
    loss: c.loss,
  }
}

/**
 * Publish throughput into a room of 100, and many small rooms. (Fan-out: fanout.ts.)
 */
import { PHASE, roomOf, type Kind, type Latency } from './common.js'
import type { Connect } from './publisher-child.js'
import {
  collect,
  Deliveries,
  sampleAll,
  setUp,
  tally,
  tearDown,
  type BenchEnv,
  type Loss,
} from './scenarios.js'

const MS = 1000

/** Publish throughput parameters. */
export interface ThroughputParams {
  readonly subscribers: number
  readonly durationMs: number
  readonly concurrency: number
  readonly pool: number
}

/** One publish-throughput measurement. */
export interface ThroughputResult {
  readonly kind: Kind
  readonly requestsPerSec: number
  readonly sent: number
  readonly exhausted: boolean
  /** Deliveries / time from the first POST to the last receive. */
  readonly deliveriesPerSec: number
  readonly serverCpuUsPerRequest: number
  readonly tag: string
  /** Monotonic µs window of the timed publishing, to cut a CPU profile to it. */
  readonly windows: [number, number][]
  readonly loss: Loss
}

/** Signed POSTs as fast as `concurrency` keep-alive requests allow, into one room. */
export async function throughput(
  env: BenchEnv,
  kind: Kind,
  p: ThroughputParams,
  tag: string,
): Promise<ThroughputResult> {
  const warm = 20
  const s = await setUp(
    env,
    kind,
    {
      subscribers: p.subscribers,
      rooms: 1,
      clientProcesses: 2,
      maxSeq: warm + p.pool + 8,
      publisherSockets: p.concurrency,
    },
    tag,
  )
  try {
    const room = roomOf(0, 1)
    const d = new Deliveries(s)
    const n = s.subscribers
    tally(
      s,
      await s.publisher.call(
        'burst',
        { rooms: [room], count: warm, concurrency: 4, phase: PHASE.warm },
        60 * MS,
      ),
    )
    await d.add(warm * n, 60 * MS)
    const cpu0 = await sampleAll(s.servers, false)
    const run = await s.publisher.call(
      'throughput',
      { room, durationMs: p.durationMs, concurrency: p.concurrency, pool: p.pool },
      120 * MS + p.durationMs,
    )
    tally(s, run)
    const end = await d.add(run.sent * n, 120 * MS)
    const cpu1 = await sampleAll(s.servers, false)
    const c = await collect(s, d.incomplete)
    return {
      kind,
      requestsPerSec: run.sent / ((run.endUs - run.startUs) / 1e6),
      sent: run.sent,
      exhausted: run.exhausted,
      deliveriesPerSec: (run.sent * n) / ((end - run.startUs) / 1e6),
      serverCpuUsPerRequest: (cpu1.cpuUs - cpu0.cpuUs) / Math.max(1, run.sent),
      tag,
      windows: [[run.startUs, end]],
      loss: c.loss,
    }
  } finally {
    await tearDown(s)
  }
}

/** Many-rooms parameters. */
export interface ManyRoomsParams {
  readonly rooms: number
  readonly perRoom: number
  readonly steadyRate: number
  /** Publishers in parallel in the second burst (the first has one). */
  readonly parallel: number
  /** Publishes of each PHP-style phase (a new TLS connection each). */
  readonly phpPublishes: number
  readonly clientProcesses: number
}

/** One burst of publishes: how fast, and the server's CPU for each. */
export interface BurstResult {
  readonly publishesPerSec: number
  readonly serverCpuUsPerPublish: number
  /** Of which in the kernel (system CPU time). */
  readonly serverSysUsPerPublish: number
  /**
   * Of which outside the main thread: V8's and libuv's worker threads (Linux only, else 0).
   * The main thread's part is read in 10 ms ticks: about ±5 µs a publish over 2,000.
   */
  readonly serverOtherThreadsUsPerPublish: number
  /** The server's write- and read-family system calls per publish (Linux only, else 0). */
  readonly serverWritesPerPublish: number
  readonly serverReadsPerPublish: number
  /** Publishes whose new TLS connection resumed a session (PHP-style phases). */
  readonly resumed: number
  readonly count: number
}

/** One many-rooms measurement. */
export interface ManyRoomsResult {
  readonly kind: Kind
  readonly rooms: number
  readonly subscribers: number
  readonly connectMs: number
  readonly steady: Latency
  /** One publisher, one kept-alive connection, one publish at a time. */
  readonly single: BurstResult
  /** `parallel` such publishers at once. */
  readonly parallel: BurstResult
  /** PHP-style: a new TLS connection per publish, full handshake each time. */
  readonly phpFull: BurstResult
  /** PHP-style: a new TLS connection per publish, resuming the previous session. */
  readonly phpResumed: BurstResult
  readonly tag: string
  /** Monotonic µs windows of the steady and burst phases, to cut a CPU profile to them. */
  readonly windows: [number, number][]
  readonly loss: Loss
}

/**
 * `rooms` rooms of `perRoom`: one message per room at a steady rate (latency); then, each
 * as fast as it goes, two per room from one kept-alive publisher, two per room from
 * `parallel` publishers at once, and `phpPublishes` from one publisher opening a new TLS
 * connection for each (without, then with, session resumption).
 */
export async function manyRooms(
  env: BenchEnv,
  kind: Kind,
  p: ManyRoomsParams,
  tag: string,
): Promise<ManyRoomsResult> {
  const s = await setUp(
    env,
    kind,
    {
      subscribers: p.rooms * p.perRoom,
      rooms: p.rooms,
      clientProcesses: p.clientProcesses,
      maxSeq: 16 + Math.ceil((2 * p.phpPublishes) / p.rooms),
      publisherSockets: p.parallel,
    },
    tag,
  )
  try {
    const rooms = Array.from({ length: p.rooms }, (_, i) => roomOf(i, p.rooms))
    const d = new Deliveries(s)
    const per = s.subscribers / p.rooms
    const warm = Math.min(p.rooms, 100)
    tally(
      s,
      await s.publisher.call(
        'burst',
        { rooms, count: warm, concurrency: 4, phase: PHASE.warm },
        60 * MS,
      ),
    )
    await d.add(warm * per, 60 * MS)
    const steadyRun = tally(
      s,
      await s.publisher.call(
        'steady',
        { rooms, rate: p.steadyRate, count: p.rooms, phase: PHASE.steady },
        60 * MS + (p.rooms / p.steadyRate) * MS,
      ),
    )
    const steadyEnd = await d.add(p.rooms * per, 60 * MS)
    const windows: [number, number][] = [[steadyRun.startUs, steadyEnd]]
    const burst = async (
      count: number,
      concurrency: number,
      connect: Connect,
    ): Promise<BurstResult> => {
      const cpu0 = await sampleAll(s.servers, false)
      const run = tally(
        s,
        await s.publisher.call(
          'burst',
          { rooms, count, concurrency, phase: PHASE.burst, connect },
          180 * MS,
        ),
      )
      const end = await d.add(count * per, 120 * MS)
      const cpu1 = await sampleAll(s.servers, false)
      windows.push([run.startUs, end])
      return {
        publishesPerSec: count / ((end - run.startUs) / 1e6),
        serverCpuUsPerPublish: (cpu1.cpuUs - cpu0.cpuUs) / count,
        serverSysUsPerPublish: (cpu1.cpuSysUs - cpu0.cpuSysUs) / count,
        serverOtherThreadsUsPerPublish:
          cpu0.cpuMainUs === 0 || cpu1.cpuMainUs === 0
            ? 0
            : (cpu1.cpuUs - cpu1.cpuMainUs - (cpu0.cpuUs - cpu0.cpuMainUs)) / count,
        serverWritesPerPublish: (cpu1.syscw - cpu0.syscw) / count,
        serverReadsPerPublish: (cpu1.syscr - cpu0.syscr) / count,
        resumed: run.resumed,
        count,
      }
    }
    const single = await burst(2 * p.rooms, 1, 'keepalive')
    const parallel = await burst(2 * p.rooms, p.parallel, 'keepalive')
    const phpFull = await burst(p.phpPublishes, 1, 'full')
    const phpResumed = await burst(p.phpPublishes, 1, 'resumed')
    const c = await collect(s, d.incomplete)
    return {
      kind,
      rooms: p.rooms,
      subscribers: s.subscribers,
      connectMs: s.connectMs,
      steady: c.latency(PHASE.steady),
      single,
      parallel,
      phpFull,
      phpResumed,
      tag,
      windows,
      loss: c.loss,
    }
  } finally {
    await tearDown(s)
  }
}

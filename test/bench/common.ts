/**
 * What the bench's processes share: the servers under test, the message they publish,
 * the clock, and the latency histogram.
 */
import { readFileSync } from 'node:fs'

/**
 * The servers under test: the relay, the `ws` floor, the socket.io 4 baseline, the relay
 * serving Tuleap's pages through its socket.io endpoint (`relaysio`: socket.io viewers,
 * see sio-viewer.ts), and the relay as two nodes sharing one Redis: the publisher posts to
 * node A, the subscribers are split between A and B.
 */
export type Kind = 'relay' | 'floor' | 'socketio' | 'relaysio' | 'cluster'
/** The floor's HTTP layer: Node's request handler, or a bare fastify route (`--floor-http`). */
export type FloorHttp = 'node' | 'fastify'
export const KINDS: readonly Kind[] = ['relay', 'floor', 'socketio', 'relaysio', 'cluster']
export const KIND_LABEL: Record<Kind, string> = {
  relay: 'relay',
  floor: 'floor',
  socketio: 'socket.io',
  relaysio: 'relay socket.io',
  cluster: 'relay ×2 (Redis)',
}

/**
 * What the publisher speaks to a kind: the cluster and the relay's socket.io viewers are
 * published to as the relay is (signed `POST /message`).
 */
export type Protocol = 'relay' | 'floor' | 'socketio'
export function protocolOf(kind: Kind): Protocol {
  return kind === 'cluster' || kind === 'relaysio' ? 'relay' : kind
}

/** Relay nodes a kind runs. */
export function nodesOf(kind: Kind): number {
  return kind === 'cluster' ? 2 : 1
}

/** Publishing phases; latencies are kept apart per phase. */
export const PHASE = { warm: 0, steady: 1, burst: 2, throughput: 3 } as const
export const PHASE_COUNT = 4

/** The command every scenario publishes. */
export const CMD = 'kanban_item:move'

/**
 * Microseconds on the monotonic clock. Linux's CLOCK_MONOTONIC is system-wide, so a
 * timestamp taken in the publisher process can be subtracted from one taken in a client.
 */
export function nowUs(): number {
  return Number(process.hrtime.bigint() / 1000n)
}

/** Bench bookkeeping carried in `data.bench`: per-room sequence, phase, publish time. */
export interface BenchMark {
  readonly seq: number
  readonly phase: number
  readonly t: number
}

/** A Kanban card move as Tuleap publishes it, plus the bench mark. */
export function kanbanData(mark: BenchMark): Record<string, unknown> {
  const item = 4000 + (mark.seq % 997)
  return {
    artifact_id: item,
    in_column: 3,
    from_column: 2,
    ordered_destination_column_items_ids: [item, 4101, 4102, 4103, 4104, 4105, 4106, 4107],
    bench: mark,
  }
}

/** The `rights` of a Kanban message: every bench subscriber may see it (docs/protocol.md §4, A). */
export const KANBAN_RIGHTS = {
  submitter_id: 1,
  submitter_can_view: true,
  submitter_only: ['@gpig_project_admin'],
  tracker: ['@site_active', '@ug_101'],
  artifact: [],
} as const

/**
 * A message as a bench publisher sends it: a Kanban move with its rights. A type, not an
 * interface, so that it is assignable to the claims `signPublishToken` takes.
 */
export type KanbanMessage = {
  readonly room_id: string
  readonly cmd: string
  readonly data: Record<string, unknown>
  readonly rights: typeof KANBAN_RIGHTS
  readonly sender_user_id: number
  readonly sender_uuid: string
}

/** The message a bench publisher sends to `room`. */
export function kanbanMessage(room: string, mark: BenchMark): KanbanMessage {
  return {
    room_id: room,
    cmd: CMD,
    data: kanbanData(mark),
    rights: KANBAN_RIGHTS,
    sender_user_id: 1,
    sender_uuid: 'bench-publisher',
  }
}

/** The groups of every bench subscriber's token. */
export const SUBSCRIBER_GROUPS = ['@site_active', '@ug_101', '@ug_102', '@gpig_project_members']

/** Room of subscriber number `i` when `rooms` rooms share the subscribers round-robin. */
export function roomOf(i: number, rooms: number): string {
  return rooms === 1 ? '42' : `kanban_${i % rooms}`
}

const BUCKETS_PER_E = 100
const BUCKETS = 2200

/** Log-scale latency histogram in microseconds, about 1 % resolution, mergeable. */
export class Histogram {
  readonly counts: Float64Array
  count = 0
  max = 0

  constructor(counts?: Float64Array, count = 0, max = 0) {
    this.counts = counts ?? new Float64Array(BUCKETS)
    this.count = count
    this.max = max
  }

  add(us: number): void {
    const v = us < 0 ? 0 : us
    const i = Math.min(BUCKETS - 1, Math.floor(Math.log1p(v) * BUCKETS_PER_E))
    this.counts[i] = (this.counts[i] ?? 0) + 1
    this.count += 1
    if (v > this.max) this.max = v
  }

  merge(other: { counts: Float64Array; count: number; max: number }): void {
    for (let i = 0; i < BUCKETS; i++)
      this.counts[i] = (this.counts[i] ?? 0) + (other.counts[i] ?? 0)
    this.count += other.count
    if (other.max > this.max) this.max = other.max
  }

  /** The `q` quantile (0..1) in microseconds, or NaN when empty. */
  quantile(q: number): number {
    if (this.count === 0) return NaN
    const rank = Math.ceil(q * this.count)
    let seen = 0
    for (let i = 0; i < BUCKETS; i++) {
      seen += this.counts[i] ?? 0
      if (seen >= rank) return Math.min(this.max, Math.expm1((i + 0.5) / BUCKETS_PER_E))
    }
    return this.max
  }
}

/** Latency summary in milliseconds. */
export interface Latency {
  readonly count: number
  readonly p50: number
  readonly p99: number
  readonly max: number
}

/** Summarise a histogram in milliseconds. */
export function latencyOf(h: Histogram): Latency {
  return {
    count: h.count,
    p50: h.quantile(0.5) / 1000,
    p99: h.quantile(0.99) / 1000,
    max: h.max / 1000,
  }
}

/** What subscribers lost or got wrong: anything non-zero fails the run. */
export interface DeliveryLoss {
  readonly missing: number
  readonly duplicates: number
  readonly unexpected: number
  readonly subscribersWithLoss: number
  readonly unexpectedCloses: number
  readonly errorFrames: number
}

/** The fields of a DeliveryLoss, each of which sums across client processes. */
export const DELIVERY_LOSS_FIELDS = [
  'missing',
  'duplicates',
  'unexpected',
  'subscribersWithLoss',
  'unexpectedCloses',
  'errorFrames',
] as const satisfies readonly (keyof DeliveryLoss)[]

/** Memory and CPU of a process, as its own `process.memoryUsage()`/`cpuUsage()` say. */
export interface ProcessSample {
  readonly rss: number
  readonly heapUsed: number
  readonly heapTotal: number
  readonly external: number
  readonly arrayBuffers: number
  /** User plus system CPU time, microseconds. */
  readonly cpuUs: number
  /** Of which system (kernel) CPU time, microseconds. */
  readonly cpuSysUs: number
  /**
   * Of which the main thread's, microseconds, at the kernel's 10 ms resolution (Linux
   * `/proc/thread-self/stat`; 0 elsewhere): the rest is V8's and libuv's worker threads
   * (garbage collection, compilation).
   */
  readonly cpuMainUs: number
  /** Read- and write-family system calls so far (Linux `/proc/self/io`; 0 elsewhere). */
  readonly syscr: number
  readonly syscw: number
  /** Open sockets or subscribers the server knows of. */
  readonly connections: number
}

/** The fields of a ProcessSample, each of which sums across processes. */
export const PROCESS_SAMPLE_FIELDS = [
  'rss',
  'heapUsed',
  'heapTotal',
  'external',
  'arrayBuffers',
  'cpuUs',
  'cpuSysUs',
  'cpuMainUs',
  'syscr',
  'syscw',
  'connections',
] as const satisfies readonly (keyof ProcessSample)[]

/** For each of `keys`, the sum of that field over `records`. */
export function sumFields<K extends string>(
  records: readonly Readonly<Record<K, number>>[],
  keys: readonly K[],
): Record<K, number> {
  const sums = {} as Record<K, number>
  for (const key of keys) sums[key] = records.reduce<number>((n, r) => n + r[key], 0)
  return sums
}

/** This process's read and write system calls so far, from `/proc/self/io` (Linux). */
function systemCalls(): { syscr: number; syscw: number } {
  try {
    const io = readFileSync('/proc/self/io', 'latin1')
    const field = (name: string): number =>
      Number(new RegExp(`^${name}: (\\d+)$`, 'm').exec(io)?.[1] ?? 0)
    return { syscr: field('syscr'), syscw: field('syscw') }
  } catch {
    return { syscr: 0, syscw: 0 }
  }
}

/** USER_HZ, the unit of `/proc` CPU times: 100 on Linux x86 and ARM. */
const CLOCK_TICKS_PER_S = 100

/** The calling thread's user plus system CPU time in µs, from `/proc/thread-self/stat` (Linux). */
function threadCpuUs(): number {
  try {
    const stat = readFileSync('/proc/thread-self/stat', 'latin1')
    // utime and stime are fields 14 and 15 of proc(5): 12th and 13th after the command name
    // (which may hold spaces, hence the last ')'), counting the state as the 1st.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    const ticks = Number(fields[11] ?? 0) + Number(fields[12] ?? 0)
    return (ticks * 1_000_000) / CLOCK_TICKS_PER_S
  } catch {
    return 0
  }
}

/** This process's sample (called on its main thread). */
export function sampleProcess(connections: number): ProcessSample {
  const m = process.memoryUsage()
  const c = process.cpuUsage()
  return {
    ...systemCalls(),
    rss: m.rss,
    heapUsed: m.heapUsed,
    heapTotal: m.heapTotal,
    external: m.external,
    arrayBuffers: m.arrayBuffers,
    cpuUs: c.user + c.system,
    cpuSysUs: c.system,
    cpuMainUs: threadCpuUs(),
    connections,
  }
}

/** Wait `ms`. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms))
}

const started = Date.now()

/** A progress line on stdout, stamped with the seconds since the bench started. */
export function say(line: string): void {
  process.stdout.write(`[${((Date.now() - started) / 1000).toFixed(0).padStart(4)} s] ${line}\n`)
}

/**
 * The scenarios of docs/performance.md, each run against one server kind in fresh processes: a
 * server child, client children holding the subscribers, and a publisher child.
 */
import { randomBytes } from 'node:crypto'
import { join } from 'node:path'
import type { ClientApi, ClientReport } from './client-child.js'
import {
  DELIVERY_LOSS_FIELDS,
  PROCESS_SAMPLE_FIELDS,
  sumFields,
  type DeliveryLoss,
  Histogram,
  latencyOf,
  nodesOf,
  sleep,
  type FloorHttp,
  type Kind,
  type Latency,
  type ProcessSample,
} from './common.js'
import { spawnChild, type Child } from './ipc.js'
import type { PublisherApi, PublishRun } from './publisher-child.js'
import type { ServerApi } from './server-child.js'

/** What every scenario needs from the orchestrator. */
export interface BenchEnv {
  readonly certFile: string
  readonly keyFile: string
  readonly ca: string
  readonly key: string
  /** Directory of the compiled children. */
  readonly here: string
  readonly logDir: string
  /** Relay settings over the bench's own (relay kinds only). */
  readonly relayConfig: Readonly<Record<string, unknown>>
  readonly floorHttp: FloorHttp
  /** Extra node flags for the server child of `tag` (e.g. --cpu-prof). */
  readonly serverFlags: (kind: Kind, tag: string) => readonly string[]
  /** Connections each client process opens at once. */
  readonly connectConcurrency: number
  /** Heap snapshot files to write before and after connecting (`--heap`), if any. */
  readonly snapshots?: (kind: Kind) => { readonly before: string; readonly after: string }
  /** The bench's own redis-server, when the cluster kind runs. */
  readonly redisUrl?: string
}

/** Loss accounting of one scenario: anything non-zero fails the run. */
export interface Loss extends DeliveryLoss {
  readonly connectFailures: number
  readonly publishFailures: number
  readonly incomplete: boolean
  readonly notes: string[]
}

/** A running scenario's processes. */
export interface Setup {
  /** The node the publisher posts to. */
  readonly server: Child<ServerApi>
  /** Every node: `server` alone, or both cluster nodes. */
  readonly servers: Child<ServerApi>[]
  readonly clients: Child<ClientApi>[]
  readonly publisher: Child<PublisherApi>
  readonly connectMs: number
  readonly idle: { readonly before: ProcessSample; readonly after: ProcessSample }
  /** Subscribed now (`shrink` lowers it). */
  subscribers: number
  /** Subscribers per client process, in order. */
  readonly perProcess: number[]
  readonly failures: { connect: number; publish: number; notes: string[] }
}

/** Layout of the subscribers of a scenario. */
export interface Layout {
  readonly subscribers: number
  readonly rooms: number
  readonly clientProcesses: number
  readonly maxSeq: number
  readonly publisherSockets: number
}

const MS = 1000

/** Start server, clients (all subscribed) and publisher; measure idle memory around it. */
export async function setUp(
  env: BenchEnv,
  kind: Kind,
  layout: Layout,
  tag: string,
): Promise<Setup> {
  const nodes = nodesOf(kind)
  if (nodes > 1 && env.redisUrl === undefined) throw new Error(`${kind} needs redis-server`)
  // A fresh prefix: nothing of an earlier scenario's history is seen.
  const redis = env.redisUrl
    ? { url: env.redisUrl, keyPrefix: `bench-${tag}-${randomBytes(4).toString('hex')}:` }
    : undefined
  const servers = Array.from({ length: nodes }, (_, i) =>
    spawnChild<ServerApi>({
      name: `${kind} server${nodes > 1 ? ` ${i}` : ''}`,
      script: join(env.here, 'server-child.js'),
      execArgv: ['--expose-gc', ...env.serverFlags(kind, nodes > 1 ? `${tag}-node${i}` : tag)],
      logFile: join(env.logDir, `${tag}-${kind}-server${nodes > 1 ? i : ''}.log`),
    }),
  )
  const server = servers[0] as Child<ServerApi>
  const clients: Child<ClientApi>[] = []
  let publisher: Child<PublisherApi> | undefined
  try {
    const ports = (
      await Promise.all(
        servers.map((node) =>
          node.call(
            'start',
            {
              kind,
              certFile: env.certFile,
              keyFile: env.keyFile,
              key: env.key,
              relayConfig: env.relayConfig,
              floorHttp: env.floorHttp,
              ...(nodes > 1 && redis ? { redis } : {}),
            },
            30 * MS,
          ),
        ),
      )
    ).map((r) => r.port)
    const port = ports[0] ?? 0
    const before = await sampleAll(servers, true)
    const snapshots = env.snapshots?.(kind)
    if (snapshots) await server.call('snapshot', { file: snapshots.before }, 120 * MS)
    // Subscribers are split evenly between the nodes: at least one client process each.
    const processes = Math.max(nodes, layout.clientProcesses)
    const per = Math.ceil(layout.subscribers / processes)
    const starts = []
    for (let p = 0, first = 0; first < layout.subscribers; p++, first += per) {
      const client = spawnChild<ClientApi>({
        name: `${kind} client ${p}`,
        script: join(env.here, 'client-child.js'),
      })
      clients.push(client)
      const count = Math.min(per, layout.subscribers - first)
      starts.push(
        client.call(
          'start',
          {
            kind,
            port: ports[p % nodes] ?? port,
            ca: env.ca,
            key: env.key,
            first,
            count,
            rooms: layout.rooms,
            maxSeq: layout.maxSeq,
            concurrency: env.connectConcurrency,
          },
          60 * MS + count * 20,
        ),
      )
    }
    const t0 = Date.now()
    const connected = await Promise.all(starts)
    const connectMs = Date.now() - t0
    const notes = connected.flatMap((c) => c.errors)
    await sleep(500)
    // Every subscription the server has taken (a socket.io page's gets no answer).
    const want = connected.reduce((n, c) => n + c.connected, 0)
    for (let waited = 0; (await sampleAll(servers, false)).connections < want; waited += 100) {
      if (waited > 60 * MS) throw new Error(`the server counts fewer than ${want} subscribers`)
      await sleep(100)
    }
    const after = await sampleAll(servers, true)
    if (snapshots) await server.call('snapshot', { file: snapshots.after }, 300 * MS)
    publisher = spawnChild<PublisherApi>({
      name: `${kind} publisher`,
      script: join(env.here, 'publisher-child.js'),
    })
    await publisher.call(
      'start',
      { kind, port, ca: env.ca, key: env.key, sockets: layout.publisherSockets },
      10 * MS,
    )
    return {
      server,
      servers,
      clients,
      publisher,
      connectMs,
      idle: { before, after },
      subscribers: connected.reduce((s, c) => s + c.connected, 0),
      perProcess: connected.map((c) => c.connected),
      failures: { connect: connected.reduce((s, c) => s + c.failed, 0), publish: 0, notes },
    }
  } catch (err) {
    await Promise.all(
      [...servers, ...clients, ...(publisher ? [publisher] : [])].map((c) => c.stop()),
    )
    throw err
  }
}

/**
 * Keep `n` subscribers, spread evenly over the client processes, and wait until the
 * server has seen the others go.
 */
export async function shrink(s: Setup, n: number, timeoutMs = 60 * MS): Promise<void> {
  const procs = s.clients.length
  const results = await Promise.all(
    s.clients.map((c, i) =>
      c.call('drop', { keep: Math.floor(n / procs) + (i < n % procs ? 1 : 0) }, 30 * MS),
    ),
  )
  s.subscribers = results.reduce((sum, r) => sum + r.subscribers, 0)
  results.forEach((r, i) => (s.perProcess[i] = r.subscribers))
  const deadline = Date.now() + timeoutMs
  while ((await sampleAll(s.servers, false)).connections > s.subscribers) {
    if (Date.now() > deadline) throw new Error(`the server still counts more than ${n} connections`)
    await sleep(100)
  }
}

/** Stop every process of a setup: clients first, then publisher and server. */
export async function tearDown(s: Setup): Promise<void> {
  await Promise.all(s.clients.map((c) => c.stop()))
  await Promise.all([s.publisher.stop(), ...s.servers.map((n) => n.stop())])
}

/**
 * Memory, CPU and connections of every node, summed (the cluster's figures are the
 * whole cluster's). With `gc`, each node collects garbage first.
 */
export async function sampleAll(
  servers: readonly Child<ServerApi>[],
  gc: boolean,
): Promise<ProcessSample> {
  const all = await Promise.all(servers.map((n) => n.call('sample', { gc }, 60 * MS)))
  return sumFields(all, PROCESS_SAMPLE_FIELDS)
}

/** Count a publish run's failures into the setup. */
export function tally(s: Setup, run: PublishRun): PublishRun {
  s.failures.publish += run.failed
  if (run.firstError !== null && s.failures.notes.length < 10) {
    s.failures.notes.push(`publish: ${run.firstError}`)
  }
  return run
}

/** Progress of all subscribers: distinct deliveries, last receive time, client CPU. */
export async function progress(
  s: Setup,
): Promise<{ received: number; lastRecvUs: number; cpuUs: number }> {
  const all = await Promise.all(s.clients.map((c) => c.call('progress', null, 30 * MS)))
  return {
    received: all.reduce((n, p) => n + p.received, 0),
    lastRecvUs: Math.max(...all.map((p) => p.lastRecvUs)),
    cpuUs: all.reduce((n, p) => n + p.cpuUs, 0),
  }
}

/** Wait until `expected` distinct deliveries were made, or `timeoutMs` passed. */
export async function waitDelivered(
  s: Setup,
  expected: number,
  timeoutMs: number,
): Promise<{ complete: boolean; received: number; lastRecvUs: number; cpuUs: number }> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const p = await progress(s)
    if (p.received >= expected) return { complete: true, ...p }
    if (Date.now() > deadline) return { complete: false, ...p }
    await sleep(p.received === 0 ? 50 : 20)
  }
}

/** The clients' final reports, merged: loss accounting and latency per phase. */
export async function collect(
  s: Setup,
  incomplete: boolean,
): Promise<{ loss: Loss; latency: (phase: number) => Latency; clientCpuUs: number }> {
  const expected = await s.publisher.call('counts', null, 10 * MS)
  const reports: ClientReport[] = await Promise.all(
    s.clients.map((c) => c.call('collect', { expected }, 60 * MS)),
  )
  await Promise.all(s.clients.map((c) => c.call('reset', null, 10 * MS)))
  const hists = reports[0]?.hists.map((_, phase) => {
    const h = new Histogram()
    for (const r of reports) {
      const part = r.hists[phase]
      if (part) h.merge(part)
    }
    return h
  })
  return {
    loss: {
      ...sumFields(reports, DELIVERY_LOSS_FIELDS),
      connectFailures: s.failures.connect,
      publishFailures: s.failures.publish,
      incomplete,
      notes: s.failures.notes,
    },
    latency: (phase) => latencyOf(hists?.[phase] ?? new Histogram()),
    clientCpuUs: sumFields(reports, ['cpuUs']).cpuUs,
  }
}

/** Whether a loss record shows any loss or failure. */
export function lossFree(l: Loss): boolean {
  return (
    l.missing === 0 &&
    l.duplicates === 0 &&
    l.unexpected === 0 &&
    l.unexpectedCloses === 0 &&
    l.errorFrames === 0 &&
    l.connectFailures === 0 &&
    l.publishFailures === 0 &&
    !l.incomplete
  )
}

/** Waits for each phase's deliveries; after a timeout, publishes no more. */
export class Deliveries {
  expected = 0
  incomplete = false
  constructor(private readonly s: Setup) {}

  /** Wait for `deliveries` more; resolves with the last receive time (µs). */
  async add(deliveries: number, timeoutMs: number): Promise<number> {
    this.expected += deliveries
    const w = await waitDelivered(this.s, this.expected, timeoutMs)
    if (!w.complete) this.incomplete = true
    return w.lastRecvUs
  }
}

/**
 * What a bench invocation does between setting up and reporting: the measured runs
 * (fan-out series, publish throughput, many rooms, each server in turn), the memory-only
 * modes (`--idle`, `--heap`), and the CPU profile report (`--profile`).
 */
import { existsSync } from 'node:fs'
import { loadavg } from 'node:os'
import { join } from 'node:path'
import { KIND_LABEL, say, sleep, type Kind } from './common.js'
import { fanOutSeries, type FanOutResult } from './fanout.js'
import { heapGrowth, heapText, heapTotals } from './heap.js'
import type { BenchParams, Scenario } from './params.js'
import { profileText, summariseProfile } from './profile.js'
import { median, type Measurements } from './report.js'
import { lossFree, sampleAll, setUp, tearDown, type BenchEnv, type Loss } from './scenarios.js'
import { manyRooms, throughput, type BurstResult } from './workloads.js'

const kb = (b: number): string => `${(b / 1024).toFixed(1)} KB`
const num = (x: number): string => Math.round(x).toLocaleString('en-US')

/** `no loss`, or the loss record. */
const lossText = (loss: Loss): string =>
  lossFree(loss) ? 'no loss' : `LOSS ${JSON.stringify(loss)}`

function describeFanOut(r: FanOutResult): string {
  const idle = r.idle
    ? `, idle RSS ${kb(r.idle.rssPerConn)}/conn, heap ${kb(r.idle.heapPerConn)}/conn, connect ${(r.connectMs / 1000).toFixed(1)} s`
    : ''
  return `${num(r.n)}: ${num(r.deliveriesPerSec)} deliveries/s (server ${r.serverCpuUsPerDelivery.toFixed(1)} µs CPU/delivery), steady p50 ${r.steady.p50.toFixed(1)} / p99 ${r.steady.p99.toFixed(1)} / max ${r.steady.max.toFixed(1)} ms${idle}, ${lossText(r.loss)}`
}

function rotate<T>(xs: readonly T[], by: number): T[] {
  return xs.map((_, i) => xs[(i + by) % xs.length] as T)
}

/** The measured runs; a scenario that throws is recorded in `errors` and the rest go on. */
export async function measure(
  p: BenchParams,
  env: BenchEnv,
  m: Measurements,
  errors: string[],
  /** Called after each scenario, e.g. to save what was measured so far. */
  checkpoint: () => void = () => undefined,
): Promise<void> {
  for (let run = 0; run < p.runs; run++) {
    const jobs: { name: string; kind: Kind; go: () => Promise<string> }[] = []
    // Kinds rotate between runs so that no server always runs first or last.
    const kinds = rotate(p.kinds, run)
    /** One job per kind for `scenario`, when it is asked for. */
    const add = (
      scenario: Scenario,
      name: string,
      go: (kind: Kind, tag: string) => Promise<string>,
    ): void => {
      if (!p.scenarios.includes(scenario)) return
      for (const kind of kinds)
        jobs.push({ name, kind, go: () => go(kind, `run${run + 1}-${scenario}`) })
    }
    add('fanout', 'fan-out', async (kind, tag) => {
      const rs = await fanOutSeries(env, kind, p.fanOut, tag)
      m.fanOut.push(...rs)
      return rs.map(describeFanOut).join('; ')
    })
    add('throughput', 'publish throughput', async (kind, tag) => {
      const r = await throughput(env, kind, p.throughput, tag)
      m.throughput.push(r)
      return `${num(r.requestsPerSec)} req/s (${r.sent} sent${r.exhausted ? ', pool exhausted' : ''}), ${lossText(r.loss)}`
    })
    add('rooms', 'many rooms', async (kind, tag) => {
      const r = await manyRooms(env, kind, p.manyRooms, tag)
      m.manyRooms.push(r)
      const b = (x: BurstResult): string =>
        `${num(x.publishesPerSec)}/s (${x.serverCpuUsPerPublish.toFixed(0)} µs CPU)`
      return `publishes: 1 publisher ${b(r.single)}, ${p.manyRooms.parallel} in parallel ${b(r.parallel)}, PHP-style full handshake ${b(r.phpFull)}, resumed ${b(r.phpResumed)} (${r.phpResumed.resumed}/${r.phpResumed.count} resumed); steady p50 ${r.steady.p50.toFixed(1)} / p99 ${r.steady.p99.toFixed(1)} ms, ${lossText(r.loss)}`
    })
    for (const job of jobs) {
      const started = Date.now()
      try {
        const text = await job.go()
        say(
          `run ${run + 1}/${p.runs} ${job.name} ${KIND_LABEL[job.kind]}: ${text} (${((Date.now() - started) / 1000).toFixed(0)} s, load ${(loadavg()[0] ?? 0).toFixed(2)})`,
        )
      } catch (err) {
        const msg = `run ${run + 1} ${job.name} ${KIND_LABEL[job.kind]} failed: ${err instanceof Error ? err.message : String(err)}`
        errors.push(msg)
        say(msg)
      }
      checkpoint()
    }
  }
}

/**
 * How long `--idle` watches the server's CPU with every subscriber connected and nothing
 * published: what holding the connections costs (the heartbeat's pings and pongs), and
 * then, for as long again, how long the event loop is held at once.
 */
const IDLE_CPU_MS = 10_000

/** `--heap` and `--idle`: idle subscribers only; with `--heap`, what each one holds. */
export async function memoryMode(p: BenchParams, env: BenchEnv): Promise<string> {
  const parts: string[] = []
  const perConn: Record<
    string,
    {
      rss: number[]
      heap: number[]
      external: number[]
      cpu: number[]
      loopMax: number[]
      loopP99: number[]
    }
  > = {}
  const n = p.idleSubscribers
  for (let run = 0; run < p.runs; run++) {
    for (const kind of rotate(p.kinds, run)) {
      const layout = {
        subscribers: n,
        rooms: 1,
        clientProcesses: 4,
        maxSeq: 8,
        publisherSockets: 1,
      }
      const s = await setUp(env, kind, layout, `idle-run${run + 1}`)
      const cpuBefore = await sampleAll(s.servers, false)
      await sleep(IDLE_CPU_MS)
      const cpuAfter = await sampleAll(s.servers, false)
      // Then, apart (the monitor's timer costs CPU), how long the event loop is held at rest.
      await Promise.all(s.servers.map((n) => n.call('loopDelay', { action: 'start' }, 10_000)))
      await sleep(IDLE_CPU_MS)
      const delays = await Promise.all(
        s.servers.map((n) => n.call('loopDelay', { action: 'stop' }, 10_000)),
      )
      await tearDown(s)
      const { before, after } = s.idle
      const c = Math.max(1, s.subscribers)
      const mine = (perConn[kind] ??= {
        rss: [],
        heap: [],
        external: [],
        cpu: [],
        loopMax: [],
        loopP99: [],
      })
      mine.rss.push((after.rss - before.rss) / c)
      mine.heap.push((after.heapUsed - before.heapUsed) / c)
      mine.external.push((after.external - before.external) / c)
      // Percent of one core.
      mine.cpu.push(((cpuAfter.cpuUs - cpuBefore.cpuUs) / (IDLE_CPU_MS * 1000)) * 100)
      mine.loopMax.push(Math.max(...delays.map((d) => d.maxMs)))
      mine.loopP99.push(Math.max(...delays.map((d) => d.p99Ms)))
      say(
        `run ${run + 1}/${p.runs} idle ${KIND_LABEL[kind]}, ${s.subscribers} subscribed: RSS ${kb(mine.rss.at(-1) ?? 0)}/conn, heapUsed ${kb(mine.heap.at(-1) ?? 0)}/conn, external ${kb(mine.external.at(-1) ?? 0)}/conn, server CPU at rest ${(mine.cpu.at(-1) ?? 0).toFixed(1)} % of a core, event loop held at most ${(mine.loopMax.at(-1) ?? 0).toFixed(1)} ms (p99 ${(mine.loopP99.at(-1) ?? 0).toFixed(1)} ms), connected in ${(s.connectMs / 1000).toFixed(1)} s${s.failures.connect > 0 ? `, ${s.failures.connect} failed to connect` : ''}`,
      )
      const files = env.snapshots?.(kind)
      if (!files) continue
      const growth = heapGrowth(heapTotals(files.before), heapTotals(files.after), c)
      parts.push(
        `== ${KIND_LABEL[kind]}, ${s.subscribers} idle subscribers (snapshots ${files.before}, ${files.after}; RSS is inflated by the first snapshot):\n${heapText(growth)}`,
      )
    }
  }
  const medians = Object.entries(perConn).map(
    ([kind, v]) =>
      `${KIND_LABEL[kind as Kind].padEnd(10)} RSS ${kb(median(v.rss))}/conn, heapUsed ${kb(median(v.heap))}/conn, external ${kb(median(v.external))}/conn, CPU at rest ${median(v.cpu).toFixed(1)} % of a core, event loop held at most ${median(v.loopMax).toFixed(1)} ms (median of ${v.rss.length}; RSS runs: ${v.rss.map((x) => (x / 1024).toFixed(1)).join(', ')})`,
  )
  return [
    `idle memory per subscribed connection, ${n} connections:`,
    ...medians,
    '',
    ...parts,
  ].join('\n')
}

/** `--profile`: each profiled server's CPU profile, cut to its publishing windows. */
export function profileReport(
  m: Measurements,
  profDir: string,
  fileOf: (kind: Kind, tag: string) => string,
  errors: string[],
): string {
  const parts: string[] = []
  const results = [
    ...m.fanOut.map((r) => ({
      ...r,
      what: `fan-out to ${r.n}`,
      cpu: `${r.serverCpuUsPerDelivery.toFixed(1)} µs CPU per delivery in bursts`,
    })),
    ...m.throughput.map((r) => ({
      ...r,
      what: 'publish throughput',
      cpu: `${r.serverCpuUsPerRequest.toFixed(0)} µs CPU per request`,
    })),
    ...m.manyRooms.map((r) => ({
      ...r,
      what: `many rooms (${r.rooms})`,
      cpu: `${r.single.publishesPerSec.toFixed(0)} publishes/s from one publisher`,
    })),
  ]
  for (const r of results) {
    const file = join(profDir, fileOf(r.kind, r.tag))
    if (!existsSync(file)) {
      errors.push(`no CPU profile was written for ${r.kind} (${file})`)
      continue
    }
    const s = summariseProfile(file, r.windows)
    parts.push(
      `CPU profile of the ${KIND_LABEL[r.kind]} server child, ${r.what}, publishing phases only (${file}), ${r.cpu}:\n${profileText(s)}`,
    )
  }
  return parts.join('\n\n')
}

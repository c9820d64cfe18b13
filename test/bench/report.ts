/**
 * Medians over runs, the printed table, and the speed targets (docs/performance.md,
 * "Against the targets") checked against it.
 */
import { KINDS, KIND_LABEL, type Kind } from './common.js'
import { lossFree, type Loss } from './scenarios.js'
import type { FanOutResult } from './fanout.js'
import type { ManyRoomsResult, ThroughputResult } from './workloads.js'

/** Every measurement of a bench invocation, all runs. */
export interface Measurements {
  readonly fanOut: FanOutResult[]
  readonly throughput: ThroughputResult[]
  readonly manyRooms: ManyRoomsResult[]
}

/** One line of the table: a metric's median per server, and the ratios. */
export interface Row {
  readonly scenario: string
  readonly metric: string
  readonly higherIsBetter: boolean
  readonly values: Partial<Record<Kind, number>>
  readonly relayOverFloor: number | null
  readonly relayOverSocketIo: number | null
  /** Two nodes on Redis over one node (beside the single-node figures). */
  readonly clusterOverRelay: number | null
  /** The relay's socket.io viewers over the historic socket.io design. */
  readonly sioOverSocketIo: number | null
  /** The relay's socket.io viewers over its `/ws` ones. */
  readonly sioOverRelay: number | null
  readonly runs: number
}

/** A speed target, checked. `pass` is null when it could not be evaluated. */
export interface Target {
  readonly name: string
  readonly pass: boolean | null
  readonly detail: string
}

/** Median of the finite values, NaN when there is none. */
export function median(values: readonly number[]): number {
  const v = values.filter(Number.isFinite).sort((a, b) => a - b)
  if (v.length === 0) return NaN
  const mid = Math.floor(v.length / 2)
  return v.length % 2 ? (v[mid] ?? NaN) : ((v[mid - 1] ?? NaN) + (v[mid] ?? NaN)) / 2
}

/**
 * One metric's medians. A run that did not complete (a publish failed, deliveries timed
 * out) measured nothing sound: it is reported under losses and left out of the medians,
 * where its zero would flatter whoever it is compared with.
 */
function row<T extends { kind: Kind; loss?: Loss }>(
  scenario: string,
  metric: string,
  higherIsBetter: boolean,
  results: readonly T[],
  get: (r: T) => number,
  /** Ratios of near-zero figures say nothing: leave them out. */
  ratios = true,
): Row {
  const values: Partial<Record<Kind, number>> = {}
  let runs = 0
  for (const kind of KINDS) {
    const mine = results.filter((r) => r.kind === kind && r.loss?.incomplete !== true)
    if (mine.length === 0) continue
    runs = Math.max(runs, mine.length)
    values[kind] = median(mine.map(get))
  }
  const ratio = (of: Kind, over: Kind): number | null => {
    const a = values[of]
    const b = values[over]
    return ratios && a !== undefined && b !== undefined && b !== 0 ? a / b : null
  }
  return {
    scenario,
    metric,
    higherIsBetter,
    values,
    relayOverFloor: ratio('relay', 'floor'),
    relayOverSocketIo: ratio('relay', 'socketio'),
    clusterOverRelay: ratio('cluster', 'relay'),
    sioOverSocketIo: ratio('relaysio', 'socketio'),
    sioOverRelay: ratio('relaysio', 'relay'),
    runs,
  }
}

const KB = 1024

/** The table's rows, in print order. */
export function summarise(m: Measurements): Row[] {
  const rows: Row[] = []
  const sizes = [...new Set(m.fanOut.map((r) => r.n))].sort((a, b) => a - b)
  for (const n of sizes) {
    const rs = m.fanOut.filter((r) => r.n === n)
    const sc = `fan-out, 1 room × ${n.toLocaleString('en-US')}`
    rows.push(row(sc, 'deliveries/s (bursts)', true, rs, (r) => r.deliveriesPerSec))
    rows.push(row(sc, 'latency p50 ms (steady)', false, rs, (r) => r.steady.p50))
    rows.push(row(sc, 'latency p99 ms (steady)', false, rs, (r) => r.steady.p99))
    rows.push(row(sc, 'latency max ms (steady)', false, rs, (r) => r.steady.max))
    rows.push(row(sc, 'latency p99 ms (bursts)', false, rs, (r) => r.burst.p99))
    rows.push(row(sc, 'server CPU µs/delivery', false, rs, (r) => r.serverCpuUsPerDelivery))
    rows.push(row(sc, 'client CPU µs/delivery', false, rs, (r) => r.clientCpuUsPerDelivery))
  }
  const idle = m.fanOut.flatMap((r) => (r.idle ? [{ kind: r.kind, idle: r.idle }] : []))
  const top = Math.max(...idle.map((r) => r.idle.connections))
  if (idle.length > 0) {
    const sc = `idle memory, ${top.toLocaleString('en-US')} subscribed`
    rows.push(row(sc, 'RSS KB/connection', false, idle, (r) => r.idle.rssPerConn / KB))
    rows.push(row(sc, 'JS heap KB/connection', false, idle, (r) => r.idle.heapPerConn / KB))
    rows.push(
      row(sc, 'external KB/connection', false, idle, (r) => r.idle.externalPerConn / KB, false),
    )
  }
  if (m.throughput.length > 0) {
    const sc = 'publish throughput, 100 subscribers'
    rows.push(row(sc, 'POST /message req/s', true, m.throughput, (r) => r.requestsPerSec))
    rows.push(row(sc, 'server CPU µs/request', false, m.throughput, (r) => r.serverCpuUsPerRequest))
  }
  if (m.manyRooms.length > 0) {
    const first = m.manyRooms[0]
    const sc = `many rooms, ${first?.rooms ?? 0} × ${(first?.subscribers ?? 0) / (first?.rooms ?? 1)}`
    const mr = m.manyRooms
    const add = (
      label: string,
      higher: boolean,
      f: (r: ManyRoomsResult) => number,
      ratios = true,
    ): void => {
      rows.push(row(sc, label, higher, mr, f, ratios))
    }
    add('latency p50 ms (steady)', false, (r) => r.steady.p50)
    add('latency p99 ms (steady)', false, (r) => r.steady.p99)
    add('publishes/s, 1 kept-alive', true, (r) => r.single.publishesPerSec)
    add('  server CPU µs/publish', false, (r) => r.single.serverCpuUsPerPublish)
    add('    of which system', false, (r) => r.single.serverSysUsPerPublish)
    add('    of which other threads', false, (r) => r.single.serverOtherThreadsUsPerPublish)
    add('  server writes/publish', false, (r) => r.single.serverWritesPerPublish)
    add('  server reads/publish', false, (r) => r.single.serverReadsPerPublish)
    add('publishes/s, 4 in parallel', true, (r) => r.parallel.publishesPerSec)
    add('  server CPU µs/publish', false, (r) => r.parallel.serverCpuUsPerPublish)
    add('    of which other threads', false, (r) => r.parallel.serverOtherThreadsUsPerPublish)
    add('PHP-style publishes/s, full TLS', true, (r) => r.phpFull.publishesPerSec)
    add('  server CPU µs/publish', false, (r) => r.phpFull.serverCpuUsPerPublish)
    add('PHP-style publishes/s, resumed', true, (r) => r.phpResumed.publishesPerSec)
    add('  server CPU µs/publish', false, (r) => r.phpResumed.serverCpuUsPerPublish)
    add(
      '  sessions resumed %',
      true,
      (r) => (100 * r.phpResumed.resumed) / Math.max(1, r.phpResumed.count),
      false,
    )
  }
  return rows
}

function allLoss(m: Measurements): { kind: Kind; scenario: string; loss: Loss }[] {
  return [
    ...m.fanOut.map((r) => ({ kind: r.kind, scenario: `fan-out ${r.n}`, loss: r.loss })),
    ...m.throughput.map((r) => ({ kind: r.kind, scenario: 'throughput', loss: r.loss })),
    ...m.manyRooms.map((r) => ({ kind: r.kind, scenario: 'many rooms', loss: r.loss })),
  ]
}

/** Runs with any loss or failure, described. */
export function losses(m: Measurements): string[] {
  return allLoss(m)
    .filter((x) => !lossFree(x.loss))
    .map((x) => `${KIND_LABEL[x.kind]} ${x.scenario}: ${JSON.stringify(x.loss)}`)
}

/** A target on `ratio` (named `of`, e.g. relay/floor): at least or at most `bound`. */
function check(
  name: string,
  ratio: number | null,
  of: string,
  op: '≥' | '≤',
  bound: number,
): Target {
  if (ratio === null || !Number.isFinite(ratio)) return { name, pass: null, detail: 'not measured' }
  const pass = op === '≥' ? ratio >= bound : ratio <= bound
  return { name, pass, detail: `ratio ${ratio.toFixed(2)} (${of} ${op} ${bound.toFixed(2)})` }
}

/** A target on `row`'s relay/floor ratio, named `<scenario>: <what> <op> <bound> × floor`. */
const vsFloor = (row: Row, what: string, op: '≥' | '≤', bound: number): Target =>
  check(
    `${row.scenario}: ${what} ${op} ${bound.toFixed(1)} × floor`,
    row.relayOverFloor,
    'relay/floor',
    op,
    bound,
  )

/** The speed targets, on the medians. */
export function targets(m: Measurements, rows: readonly Row[]): Target[] {
  const out: Target[] = []
  for (const r of rows.filter((x) => x.metric === 'deliveries/s (bursts)')) {
    out.push(vsFloor(r, 'deliveries/s', '≥', 1))
    out.push(
      check(
        `${r.scenario}: deliveries/s ≥ 3 × socket.io`,
        r.relayOverSocketIo,
        'relay/socket.io',
        '≥',
        3,
      ),
    )
    out.push(
      check(
        `${r.scenario}: socket.io viewers' deliveries/s ≥ socket.io`,
        r.sioOverSocketIo,
        'relay socket.io/socket.io',
        '≥',
        1,
      ),
    )
  }
  const p99 = rows
    .filter((x) => x.metric === 'latency p99 ms (steady)' && x.scenario.startsWith('fan-out'))
    .at(-1)
  if (p99) out.push(vsFloor(p99, 'p99 latency', '≤', 1))
  for (const r of rows.filter((x) => x.metric.startsWith('publishes/s, '))) {
    out.push(vsFloor(r, r.metric, '≥', 1))
  }
  const roomsP99 = rows.find(
    (x) => x.metric === 'latency p99 ms (steady)' && x.scenario.startsWith('many rooms'),
  )
  if (roomsP99) out.push(vsFloor(roomsP99, 'steady p99', '≤', 1.5))
  const mem = rows.find((x) => x.metric === 'RSS KB/connection')
  if (mem) out.push(vsFloor(mem, 'RSS per connection', '≤', 1.2))
  const relayLoss = allLoss(m).filter(
    (x) => x.kind === 'relay' || x.kind === 'relaysio' || x.kind === 'cluster',
  )
  const lost = relayLoss.filter((x) => !lossFree(x.loss))
  out.push({
    name: 'relay (one node and two, /ws and socket.io viewers): zero messages lost',
    pass: relayLoss.length === 0 ? null : lost.length === 0,
    detail: `${relayLoss.length - lost.length}/${relayLoss.length} scenario runs complete, no loss, no duplicate`,
  })
  return out
}

function fmt(v: number | undefined): string {
  if (v === undefined || !Number.isFinite(v)) return '—'
  if (Math.abs(v) >= 1000) return Math.round(v).toLocaleString('en-US')
  if (Math.abs(v) >= 100) return v.toFixed(0)
  if (Math.abs(v) >= 10) return v.toFixed(1)
  return v.toFixed(2)
}

const pad = (s: string, w: number): string => s.padStart(w)

/** The table, as printed and written next to the JSON. */
export function table(rows: readonly Row[]): string {
  const head = [
    'metric (median)',
    'relay',
    'floor',
    'socket.io',
    'relay/floor',
    'relay/sio',
    'relay ×2 Redis',
    'relay sio',
    'rsio/sio',
    'rsio/relay',
  ]
  const w = [34, 11, 11, 11, 12, 10, 15, 11, 10, 11]
  const lines: string[] = []
  let scenario = ''
  lines.push(head.map((h, i) => (i === 0 ? h.padEnd(w[0] ?? 0) : pad(h, w[i] ?? 0))).join(''))
  for (const r of rows) {
    if (r.scenario !== scenario) {
      scenario = r.scenario
      lines.push(`${scenario}  (${r.runs} run${r.runs === 1 ? '' : 's'})`)
    }
    const ratio = (x: number | null): string => (x === null ? '—' : `${x.toFixed(2)}×`)
    lines.push(
      [
        `  ${r.metric}`.padEnd(w[0] ?? 0),
        pad(fmt(r.values.relay), w[1] ?? 0),
        pad(fmt(r.values.floor), w[2] ?? 0),
        pad(fmt(r.values.socketio), w[3] ?? 0),
        pad(ratio(r.relayOverFloor), w[4] ?? 0),
        pad(ratio(r.relayOverSocketIo), w[5] ?? 0),
        pad(fmt(r.values.cluster), w[6] ?? 0),
        pad(fmt(r.values.relaysio), w[7] ?? 0),
        pad(ratio(r.sioOverSocketIo), w[8] ?? 0),
        pad(ratio(r.sioOverRelay), w[9] ?? 0),
      ].join(''),
    )
  }
  return lines.join('\n')
}

/** The targets, one PASS/FAIL line each. */
export function targetLines(ts: readonly Target[]): string {
  return ts
    .map((t) => `${t.pass === null ? 'N/A ' : t.pass ? 'PASS' : 'FAIL'}  ${t.name}: ${t.detail}`)
    .join('\n')
}

/**
 * Summarise a V8 `.cpuprofile` (written by `node --cpu-prof`) over chosen time windows:
 * self and inclusive time per function, and self time per area (relay source, ws, node
 * internals, GC...). Sample timestamps are V8 ticks in µs on CLOCK_MONOTONIC, the clock
 * of `nowUs()`, so the publishing windows measured by the harness cut the profile.
 */
import { readFileSync } from 'node:fs'

interface CallFrame {
  readonly functionName: string
  readonly url: string
  readonly lineNumber: number
}

interface ProfileNode {
  readonly id: number
  readonly callFrame: CallFrame
  readonly children?: number[]
}

interface CpuProfile {
  readonly nodes: ProfileNode[]
  readonly startTime: number
  readonly endTime: number
  readonly samples: number[]
  readonly timeDeltas: number[]
}

/** One function's share of the sampled time in the windows. */
export interface FunctionShare {
  readonly name: string
  readonly where: string
  readonly selfPct: number
  readonly totalPct: number
}

/** A profile cut to windows. */
export interface ProfileSummary {
  readonly samples: number
  readonly sampledMs: number
  readonly byArea: { area: string; selfPct: number }[]
  readonly bySelf: FunctionShare[]
  readonly byTotal: FunctionShare[]
}

/** Where a frame's code lives, coarsely. */
export function areaOf(f: CallFrame): string {
  const u = f.url
  if (u === '') {
    const n = f.functionName
    if (n === '(garbage collector)' || n === '(program)' || n === '(idle)' || n === '(root)')
      return n
    return '(native)'
  }
  if (u.includes('/dist/src/')) return 'relay (src/)'
  const m = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(u)
  if (m?.[1]) return m[1]
  if (u.startsWith('node:')) return `node:${u.slice(5).split('/')[0] ?? ''}`
  if (u.includes('/test/bench/')) return 'bench harness'
  return u
}

function shortWhere(f: CallFrame): string {
  const u = f.url
  const i = u.lastIndexOf('node_modules/')
  const tail =
    i >= 0 ? u.slice(i + 13) : u.includes('/dist/') ? u.slice(u.indexOf('/dist/') + 6) : u
  return tail === '' ? '' : `${tail}:${f.lineNumber + 1}`
}

/** Summarise `file` over the sample times that fall in any of `windows` ([startUs, endUs]). */
export function summariseProfile(
  file: string,
  windows: readonly (readonly [number, number])[],
  top = 25,
): ProfileSummary {
  const p = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile
  const byId = new Map(p.nodes.map((n) => [n.id, n]))
  const parent = new Map<number, number>()
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id)
  const key = (n: ProfileNode): string =>
    `${n.callFrame.functionName || '(anonymous)'}\t${shortWhere(n.callFrame)}`
  const self = new Map<string, number>()
  const total = new Map<string, number>()
  const area = new Map<string, number>()
  let t = p.startTime
  let counted = 0
  let sampledUs = 0
  for (let i = 0; i < p.samples.length; i++) {
    const dt = p.timeDeltas[i] ?? 0
    t += dt
    if (!windows.some(([a, b]) => t >= a && t <= b)) continue
    const node = byId.get(p.samples[i] ?? -1)
    if (!node) continue
    counted += 1
    sampledUs += dt
    const k = key(node)
    self.set(k, (self.get(k) ?? 0) + 1)
    const a = areaOf(node.callFrame)
    area.set(a, (area.get(a) ?? 0) + 1)
    const seen = new Set<string>()
    for (let id: number | undefined = node.id; id !== undefined; id = parent.get(id)) {
      const n = byId.get(id)
      if (!n) break
      const nk = key(n)
      if (seen.has(nk)) continue
      seen.add(nk)
      total.set(nk, (total.get(nk) ?? 0) + 1)
    }
  }
  const pct = (x: number): number => (counted === 0 ? 0 : (100 * x) / counted)
  const shares = (m: Map<string, number>): FunctionShare[] =>
    [...m.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([k]) => {
        const [name = '', where = ''] = k.split('\t')
        return { name, where, selfPct: pct(self.get(k) ?? 0), totalPct: pct(total.get(k) ?? 0) }
      })
  return {
    samples: counted,
    sampledMs: sampledUs / 1000,
    byArea: [...area.entries()]
      .sort((a, b) => b[1] - a[1])
      .map(([a, n]) => ({ area: a, selfPct: pct(n) })),
    bySelf: shares(self),
    byTotal: shares(new Map([...total.entries()].filter(([k]) => !k.startsWith('(root)')))),
  }
}

/** The summary as text. */
export function profileText(s: ProfileSummary): string {
  const line = (f: FunctionShare): string =>
    `${f.selfPct.toFixed(1).padStart(6)} % ${f.totalPct.toFixed(1).padStart(6)} %  ${f.name}  ${f.where}`
  return [
    `${s.samples} samples, ${s.sampledMs.toFixed(0)} ms sampled in the publishing windows`,
    'self time by area:',
    ...s.byArea.slice(0, 15).map((a) => `${a.selfPct.toFixed(1).padStart(6)} %  ${a.area}`),
    '',
    '  self    total   function (top by self time)',
    ...s.bySelf.map(line),
    '',
    '  self    total   function (top by inclusive time)',
    ...s.byTotal.map(line),
  ].join('\n')
}

/**
 * The machine a bench ran on, and how busy it was: the load average, and the CPU that
 * processes other than the bench's used meanwhile (Linux /proc), since on a shared
 * 2-core machine that is what makes two runs differ.
 */
import { execSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { availableParallelism, cpus, loadavg, release, totalmem } from 'node:os'

/** Output of a shell command, or '' when it fails. */
export function sh(cmd: string): string {
  try {
    return execSync(cmd, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim()
  } catch {
    return ''
  }
}

/** What the results record of the machine and the code. */
export interface MachineInfo {
  readonly nproc: number
  readonly cpuModel: string
  readonly memGiB: number
  readonly node: string
  readonly kernel: string
  readonly ulimitN: string
  readonly git: string
  /** Files under src/ that differ from the commit: the relay measured is not exactly `git`. */
  readonly srcUncommitted: number
}

/** Describe the machine; `root` is the repository. */
export function machine(root: string): MachineInfo {
  return {
    nproc: availableParallelism(),
    cpuModel: cpus()[0]?.model ?? 'unknown',
    memGiB: Math.round(totalmem() / 2 ** 30),
    node: process.version,
    kernel: release(),
    ulimitN: sh('ulimit -n'),
    git: sh(`git -C ${root} rev-parse --short HEAD`),
    srcUncommitted: sh(`git -C ${root} status --porcelain src`).split('\n').filter(Boolean).length,
  }
}

/** How busy the machine was during the run. */
export interface Contention {
  readonly loadBefore: number[]
  readonly load1: { readonly min: number; readonly mean: number; readonly max: number }
  /** Average cores used by the bench's processes and by everything else; null off Linux. */
  readonly benchCores: number | null
  readonly otherCores: number | null
}

/** Busy jiffies of the whole machine, and of this process plus its reaped children. */
function jiffies(): { busy: number; mine: number } | null {
  try {
    const cpu = readFileSync('/proc/stat', 'utf8').split('\n')[0]?.trim().split(/\s+/) ?? []
    // user nice system idle iowait irq softirq steal
    const f = cpu.slice(1, 9).map(Number)
    const busy = (f[0] ?? 0) + (f[1] ?? 0) + (f[2] ?? 0) + (f[5] ?? 0) + (f[6] ?? 0)
    const stat = readFileSync('/proc/self/stat', 'utf8')
    const rest = stat
      .slice(stat.lastIndexOf(')') + 2)
      .split(' ')
      .map(Number)
    // Fields 14-17 of stat(5): utime stime cutime cstime; `rest` starts at field 3.
    const mine = (rest[11] ?? 0) + (rest[12] ?? 0) + (rest[13] ?? 0) + (rest[14] ?? 0)
    return { busy, mine }
  } catch {
    return null
  }
}

/** Start watching; `stop()` after every child has exited (their CPU counts once reaped). */
export function watchContention(): { stop: () => Contention } {
  const loadBefore = loadavg()
  const samples = [loadBefore[0] ?? 0]
  const timer = setInterval(() => samples.push(loadavg()[0] ?? 0), 5000)
  const t0 = Date.now()
  const j0 = jiffies()
  return {
    stop: () => {
      clearInterval(timer)
      samples.push(loadavg()[0] ?? 0)
      const j1 = jiffies()
      const ticks = 100 * ((Date.now() - t0) / 1000)
      const bench = j0 && j1 ? (j1.mine - j0.mine) / ticks : null
      const all = j0 && j1 ? (j1.busy - j0.busy) / ticks : null
      return {
        loadBefore,
        load1: {
          min: Math.min(...samples),
          mean: samples.reduce((a, b) => a + b, 0) / samples.length,
          max: Math.max(...samples),
        },
        benchCores: bench,
        otherCores: bench !== null && all !== null ? Math.max(0, all - bench) : null,
      }
    },
  }
}

/** One line for the report. */
export function contentionText(c: Contention): string {
  const cores =
    c.benchCores === null || c.otherCores === null
      ? ''
      : `; CPU used: bench ${c.benchCores.toFixed(2)} cores, other processes ${c.otherCores.toFixed(2)} cores`
  return `load average before: ${c.loadBefore.map((x) => x.toFixed(2)).join(' ')}; during (1 min): min ${c.load1.min.toFixed(2)}, mean ${c.load1.mean.toFixed(2)}, max ${c.load1.max.toFixed(2)}${cores}`
}

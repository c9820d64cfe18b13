/**
 * `npm run bench`: the benchmark of docs/performance.md. The relay, the `ws` floor and the socket.io 4
 * baseline each run alone in a server child; subscribers live in client children and the
 * backend stand-in in a publisher child, all over wss/https on 127.0.0.1 with one
 * self-signed certificate made by ssl/make-self-signed.sh. Prints a table and the
 * targets; writes bench-results/bench-<mode>-<time>.json and .txt.
 *
 * Exit status: 0; 1 on any loss, failed connection or publish, or error; 2 when a target
 * fails (full runs only); 64 on a bad option.
 */
import { execFileSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { startRedis } from '../helpers/redis.js'
import { KIND_LABEL, say, type Kind } from './common.js'
import { contentionText, machine, sh, watchContention } from './machine.js'
import { measure, memoryMode, profileReport } from './modes.js'
import { parseParams, USAGE, type BenchParams } from './params.js'
import { losses, summarise, table, targetLines, targets, type Measurements } from './report.js'
import type { BenchEnv } from './scenarios.js'

const here = dirname(fileURLToPath(import.meta.url))
/** The repository: this file runs from dist/test/bench/. */
const root = resolve(here, '../../..')
const resultsDir = join(root, 'bench-results')
const stamp = new Date().toISOString().replace(/[:.]/g, '-').slice(0, 19)

/** A throwaway certificate and key, removed when the bench exits. */
function makeCert(): { certFile: string; keyFile: string } {
  const dir = mkdtempSync(join(tmpdir(), 'tuleap-realtime-bench-'))
  process.on('exit', () => {
    rmSync(dir, { recursive: true, force: true })
  })
  const certFile = join(dir, 'cert.pem')
  const keyFile = join(dir, 'key.pem')
  execFileSync('bash', [join(root, 'ssl/make-self-signed.sh'), certFile, keyFile], {
    stdio: 'ignore',
  })
  return { certFile, keyFile }
}

/** Run at exit, in order: what the bench started outside its children. */
const cleanups: (() => unknown)[] = []

/**
 * The cluster's redis-server (test/helpers/redis.ts: own port on 127.0.0.1, no
 * persistence), or null when none is installed: then the cluster is left out.
 */
async function clusterRedis(): Promise<string | null> {
  const skipped: string[] = []
  const redis = await startRedis({
    teardown: (fn) => cleanups.push(fn),
    fail: (message) => skipped.push(message),
    pass: (message) => skipped.push(message),
  })
  for (const why of skipped) say(`${KIND_LABEL.cluster} left out: ${why}`)
  return redis?.url ?? null
}

function environment(
  p: BenchParams,
  profDir: string,
  logDir: string,
  redisUrl: string | null,
): BenchEnv {
  const { certFile, keyFile } = makeCert()
  return {
    ...(redisUrl === null ? {} : { redisUrl }),
    certFile,
    keyFile,
    ca: readFileSync(certFile, 'utf8'),
    key: randomBytes(48).toString('base64'),
    here,
    logDir,
    connectConcurrency: 16,
    relayConfig: p.relayConfig,
    floorHttp: p.floorHttp,
    serverFlags: (kind, tag) => [
      ...p.serverNodeFlags,
      ...(p.mode === 'profile'
        ? ['--cpu-prof', `--cpu-prof-dir=${profDir}`, `--cpu-prof-name=${profileName(kind, tag)}`]
        : []),
    ],
    ...(p.mode === 'heap'
      ? {
          snapshots: (kind: Kind) => ({
            before: join(profDir, `${kind}-idle-before-${stamp}.heapsnapshot`),
            after: join(profDir, `${kind}-idle-after-${stamp}.heapsnapshot`),
          }),
        }
      : {}),
  }
}

function profileName(kind: Kind, tag: string): string {
  return `${kind}-${tag}-${stamp}.cpuprofile`
}

async function main(): Promise<number> {
  let p: BenchParams | 'help'
  try {
    p = parseParams(process.argv.slice(2))
  } catch (err) {
    process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n${USAGE}\n`)
    return 64
  }
  if (p === 'help') {
    process.stdout.write(`${USAGE}\n`)
    return 0
  }
  const fds = Number(sh('ulimit -n'))
  const needed = p.maxSubscribers + 256
  if (Number.isFinite(fds) && fds < needed) {
    process.stderr.write(
      `bench: the server child needs about ${needed} file descriptors but ulimit -n is ${fds}: run 'ulimit -n ${p.maxSubscribers + 1024}' first, or use --quick\n`,
    )
    return 1
  }
  const logDir = join(resultsDir, 'logs', stamp)
  const profDir = join(resultsDir, 'profiles')
  mkdirSync(logDir, { recursive: true })
  mkdirSync(profDir, { recursive: true })
  let redisUrl: string | null = null
  if (p.kinds.includes('cluster')) {
    redisUrl = await clusterRedis()
    if (redisUrl === null) p = { ...p, kinds: p.kinds.filter((k) => k !== 'cluster') }
  }
  const env = environment(p, profDir, logDir, redisUrl)
  const deadline = setTimeout(() => {
    process.stderr.write(`bench: deadline of ${p.deadlineMs / 60_000} min passed; aborting\n`)
    process.exit(1)
  }, p.deadlineMs)
  deadline.unref()

  const info = machine(root)
  say(`bench ${p.mode}: ${JSON.stringify(info)}`)
  const watch = watchContention()
  const t0 = Date.now()
  const m: Measurements = { fanOut: [], throughput: [], manyRooms: [] }
  const errors: string[] = []
  const memoryOnly = p.mode === 'heap' || p.mode === 'idle'
  let extra = ''
  const base = join(resultsDir, `bench-${p.mode}-${stamp}`)
  // Saved after each scenario: if the deadline ends the run, what was measured stays.
  const checkpoint = (): void => {
    writeFileSync(
      `${base}.partial.json`,
      `${JSON.stringify({ params: p, errors, measurements: m })}\n`,
    )
  }
  if (memoryOnly) extra = await memoryMode(p, env)
  else await measure(p, env, m, errors, checkpoint)
  if (p.mode === 'profile') extra = profileReport(m, profDir, profileName, errors)
  const contention = watch.stop()

  const rows = summarise(m)
  const ts = memoryOnly ? [] : targets(m, rows)
  const lost = losses(m)
  const source = `${info.git || 'no git'}${info.srcUncommitted > 0 ? ` + ${info.srcUncommitted} uncommitted file(s) in src/` : ''}`
  const out = [
    `tuleap-realtime bench, ${p.mode}, ${new Date().toISOString()}, relay at ${source}`,
    `machine: ${info.nproc} CPUs (${info.cpuModel}), ${info.memGiB} GiB, node ${info.node}, ulimit -n ${info.ulimitN}`,
    ...(p.floorHttp === 'fastify'
      ? ['floor: POST /message through a bare fastify route (--floor-http=fastify)']
      : []),
    contentionText(contention),
    ...(memoryOnly
      ? []
      : [
          '',
          table(rows),
          '',
          p.mode === 'full'
            ? 'targets (median of runs):'
            : "targets (indicative only: not the full run's sizes or run count):",
          targetLines(ts),
        ]),
    ...(lost.length > 0 ? ['', 'LOSS OR FAILURE:', ...lost] : []),
    ...(errors.length > 0 ? ['', 'ERRORS:', ...errors] : []),
    ...(extra ? ['', extra] : []),
  ].join('\n')
  process.stdout.write(`\n${out}\n`)
  const json = {
    version: 1,
    mode: p.mode,
    startedAt: new Date(t0).toISOString(),
    durationS: (Date.now() - t0) / 1000,
    machine: info,
    contention,
    params: p,
    rows,
    targets: ts,
    losses: lost,
    errors,
    measurements: m,
  }
  writeFileSync(`${base}.txt`, `${out}\n`)
  writeFileSync(`${base}.json`, `${JSON.stringify(json, null, 2)}\n`)
  rmSync(`${base}.partial.json`, { force: true })
  say(`wrote ${base}.json and .txt`)
  if (lost.length > 0 || errors.length > 0) return 1
  if (p.mode === 'full' && ts.some((t) => t.pass === false)) return 2
  return 0
}

// An exit that did not wait (the deadline) still signals what it started (kill is sync).
process.on('exit', () => {
  for (const c of cleanups.splice(0)) void c()
})

async function cleanUp(): Promise<void> {
  for (const c of cleanups.splice(0)) await c()
}

main().then(
  async (code) => {
    await cleanUp()
    process.exit(code)
  },
  async (err: unknown) => {
    process.stderr.write(
      `bench: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
    )
    await cleanUp()
    process.exit(1)
  },
)

import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { connect } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { freePort } from './ports.js'
import { sleep } from './wait.js'

/** What the helper needs of its caller: tap's Test, or the benchmark's own stand-in. */
export interface RedisTest {
  teardown(fn: () => unknown): void
  fail(message: string): unknown
  pass(message: string, extra: { skip: string }): unknown
}

/** A redis-server of this test alone, on a free loopback port, stopped at teardown. */
export interface TestRedis {
  readonly port: number
  readonly url: string
  /** SIGKILL it (no shutdown, no save): what a crash looks like to the relay. */
  kill(): Promise<void>
  /**
   * Start it again on the same port: empty, or from the last `snapshot()` (as a Redis with
   * RDB persistence comes back after a crash: behind what it acknowledged since).
   */
  restart(): Promise<void>
  /** SAVE an RDB snapshot that the next `restart()` loads. */
  snapshot(): Promise<void>
  /** Whether it is running. */
  readonly running: boolean
}

/** Bound of every wait on redis-server. */
const WAIT_MS = 10_000

/** The redis-server binary, or null when none is installed. */
export function redisServerBinary(): string | null {
  const found = spawnSync('sh', ['-c', 'command -v redis-server'], { encoding: 'utf8' })
  const path = found.stdout.trim()
  return found.status === 0 && path !== '' ? path : null
}

/** Send one inline command to 127.0.0.1:port; resolves with the first line of the answer. */
export function command(port: number, line: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1')
    let answer = ''
    socket.setTimeout(WAIT_MS, () => {
      socket.destroy()
      reject(new Error(`no answer to ${line.split(' ')[0]} on port ${port}`))
    })
    socket.on('connect', () => socket.write(`${line}\r\n`))
    socket.on('data', (d) => {
      answer += d.toString()
      if (answer.includes('\r\n')) {
        socket.destroy()
        resolve(answer.slice(0, answer.indexOf('\r\n')))
      }
    })
    socket.on('error', reject)
  })
}

/** Resolves once something answers PING on the port with PONG, within WAIT_MS. */
async function waitForPong(port: number, child: ChildProcess): Promise<void> {
  const deadline = Date.now() + WAIT_MS
  for (;;) {
    if (child.exitCode !== null) throw new Error(`redis-server exited with ${child.exitCode}`)
    const ok = await new Promise<boolean>((resolve) => {
      const socket = connect(port, '127.0.0.1')
      let answer = ''
      socket.setTimeout(500, () => {
        socket.destroy()
        resolve(false)
      })
      socket.on('connect', () => socket.write('PING\r\n'))
      socket.on('data', (d) => {
        answer += d.toString()
        if (answer.includes('\r\n')) {
          socket.destroy()
          resolve(answer.startsWith('+PONG'))
        }
      })
      socket.on('error', () => {
        resolve(false)
      })
    })
    if (ok) return
    if (Date.now() > deadline) throw new Error(`redis-server on port ${port} did not answer PING`)
    await sleep(50)
  }
}

/**
 * Start redis-server for one test file. Without redis-server installed the test is skipped
 * with a message, except under CI=true, where that is a failure (CI installs it). Returns
 * null when skipped or failed.
 */
export async function startRedis(t: RedisTest): Promise<TestRedis | null> {
  const binary = redisServerBinary()
  if (binary === null) {
    const message =
      'redis-server is not installed (dnf/apt install redis-server): Redis tests skipped'
    if (process.env.CI === 'true') t.fail(message)
    else t.pass(message, { skip: message })
    return null
  }
  const dir = mkdtempSync(join(tmpdir(), 'tuleap-realtime-redis-'))
  const port = await freePort()
  let child: ChildProcess | null = null
  let exited: Promise<void> = Promise.resolve()

  const start = async (): Promise<void> => {
    const proc = spawn(
      binary,
      ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
      { cwd: dir, stdio: 'ignore' },
    )
    child = proc
    exited = new Promise((resolve) => proc.once('exit', () => resolve()))
    await waitForPong(port, proc)
  }
  const snapshot = async (): Promise<void> => {
    const answer = await command(port, 'SAVE')
    if (!answer.startsWith('+OK')) throw new Error(`SAVE answered ${answer}`)
  }
  const kill = async (): Promise<void> => {
    if (!child || child.exitCode !== null || child.signalCode !== null) return
    child.kill('SIGKILL')
    await exited
    child = null
  }
  t.teardown(async () => {
    await kill()
    rmSync(dir, { recursive: true, force: true })
  })
  await start()
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    kill,
    restart: start,
    snapshot,
    get running() {
      return child !== null && child.exitCode === null && child.signalCode === null
    },
  }
}

/** A redis-server (or sentinel) process of a test, killed at teardown. */
export interface RedisProcess {
  readonly port: number
  /** SIGKILL it and wait for its exit (no-op when gone). */
  kill(): Promise<void>
  /** Send a signal (SIGSTOP, SIGCONT). */
  signal(signal: NodeJS.Signals): void
}

/**
 * Spawn `redis-server ...args` in `dir` and wait until it answers PING on `port` (give
 * `ping: false` for a TLS-only server, which answers no plain-text PING).
 */
export async function spawnRedis(
  t: RedisTest,
  binary: string,
  dir: string,
  port: number,
  args: readonly string[],
  ping = true,
): Promise<RedisProcess> {
  const child = spawn(binary, args, { cwd: dir, stdio: 'ignore' })
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  const kill = async (): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return
    child.kill('SIGCONT')
    child.kill('SIGKILL')
    await exited
  }
  t.teardown(kill)
  if (ping) await waitForPong(port, child)
  return { port, kill, signal: (signal) => child.kill(signal) }
}

/** redis-server, or null after skipping `t` (failing it under CI=true) with a message. */
export function requireRedis(t: RedisTest): string | null {
  const binary = redisServerBinary()
  if (binary !== null) return binary
  const message =
    'redis-server is not installed (dnf/apt install redis-server): Redis tests skipped'
  if (process.env.CI === 'true') t.fail(message)
  else t.pass(message, { skip: message })
  return null
}

/** A temporary directory of a test, removed at teardown. */
export function testDir(t: RedisTest): string {
  const dir = mkdtempSync(join(tmpdir(), 'tuleap-realtime-redis-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  return dir
}

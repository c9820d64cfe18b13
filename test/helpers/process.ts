/**
 * Child processes: the built relay (`node dist/src/main.js`) and other commands, with their
 * output captured and every wait bounded. Killed at teardown if still running.
 */
import {
  spawn,
  spawnSync,
  type ChildProcessByStdio,
  type SpawnSyncReturns,
} from 'node:child_process'
import { existsSync } from 'node:fs'
import type { Readable } from 'node:stream'
import { fileURLToPath } from 'node:url'
import type { Teardown } from './relay.js'

/** The built relay; tests that spawn it need `npm run build` (npm test runs it). */
export const mainJs = fileURLToPath(new URL('../../dist/src/main.js', import.meta.url))

/** The project root. */
export const projectRoot = fileURLToPath(new URL('../../', import.meta.url))

/** Upper bound of every wait on a child process. */
export const WAIT_MS = 15_000

/** How a process ended. */
export interface Exit {
  readonly code: number | null
  readonly signal: NodeJS.Signals | null
}

/** A stdout line: JSON (the relay's pino logs), or `{ text }` for anything else. */
export type LogLine = Record<string, unknown>

/** A spawned process whose output is captured. */
export interface Spawned {
  readonly child: ChildProcessByStdio<null, Readable, Readable>
  /** The stdout lines so far, parsed as JSON where they are. */
  readonly lines: LogLine[]
  /** stdout and stderr so far, interleaved as they came. */
  output(): string
  stdout(): string
  stderr(): string
  /**
   * The first stdout line matching `match` (from line `from` on), within WAIT_MS; rejects
   * if the process exits.
   */
  waitForLine(match: (line: LogLine) => boolean, what: string, from?: number): Promise<LogLine>
  /** Resolves once stdout or stderr holds `text`, within WAIT_MS; rejects if it exits. */
  waitFor(text: string): Promise<void>
  /** The exit, within `timeoutMs`. */
  exited(timeoutMs?: number): Promise<Exit>
  /** SIGTERM, then the exit (SIGKILL after WAIT_MS). */
  stop(): Promise<Exit>
  /** SIGKILL, then the exit. */
  kill(): Promise<Exit>
}

/** The environment of this process without the relay's own variables. */
export function cleanEnv(): NodeJS.ProcessEnv {
  return Object.fromEntries(
    Object.entries(process.env).filter(
      ([name]) => name !== 'PRIVATE_KEY' && !name.startsWith('TULEAP_REALTIME_'),
    ),
  )
}

/**
 * The command that runs `node dist/src/main.js ARGS` as the process itself (env execs it,
 * so the pid is node's), without NODE_OPTIONS: tap adds its process tracker there, and the
 * tracker fails at exit once the relay has dropped its privileges.
 */
export const relayCommand = (
  args: readonly string[],
  nodeArgs: readonly string[] = [],
): [string, string[]] => [
  'env',
  ['-u', 'NODE_OPTIONS', process.execPath, ...nodeArgs, mainJs, ...args],
]

/** Fails `t` and returns false when dist/src/main.js has not been built. */
export function requireBuild(t: { fail(message: string): unknown }): boolean {
  if (existsSync(mainJs)) return true
  t.fail(`${mainJs} is missing: run "npm run build" first (npm test does)`)
  return false
}

/** Spawn `command` with stdin ignored and its output captured; SIGKILLed at teardown. */
export function spawnProcess(
  t: Teardown,
  command: string,
  args: readonly string[],
  options: { cwd?: string; env?: NodeJS.ProcessEnv } = {},
): Spawned {
  const child = spawn(command, args, { ...options, stdio: ['ignore', 'pipe', 'pipe'] })
  const lines: LogLine[] = []
  let output = ''
  let stdout = ''
  let stderr = ''
  let partial = ''
  const listeners = new Set<() => void>()
  const notify = () => {
    for (const l of [...listeners]) l()
  }
  child.stdout.setEncoding('utf8')
  child.stdout.on('data', (chunk: string) => {
    stdout += chunk
    output += chunk
    const parts = (partial + chunk).split('\n')
    partial = parts.pop() ?? ''
    for (const text of parts) {
      try {
        lines.push(JSON.parse(text) as LogLine)
      } catch {
        lines.push({ text })
      }
    }
    notify()
  })
  child.stderr.setEncoding('utf8')
  child.stderr.on('data', (chunk: string) => {
    stderr += chunk
    output += chunk
    notify()
  })
  let exit: Exit | undefined
  const exitPromise = new Promise<Exit>((resolve) => {
    child.once('close', (code, signal) => {
      exit = { code, signal }
      resolve(exit)
      notify()
    })
  })
  const kill = async (): Promise<Exit> => {
    if (exit === undefined) child.kill('SIGKILL')
    return exitPromise
  }
  t.teardown(kill)
  const diagnostics = () => `stdout: ${stdout}\nstderr: ${stderr}`

  /** Resolves to `found()` once it is defined; rejects on exit or after WAIT_MS. */
  const waitUntil = <T>(found: () => T | undefined, what: string): Promise<T> =>
    new Promise((resolve, reject) => {
      const check = () => {
        const value = found()
        if (value !== undefined) {
          done()
          resolve(value)
        } else if (exit !== undefined) {
          done()
          reject(new Error(`exited (${JSON.stringify(exit)}) before ${what}\n${diagnostics()}`))
        }
      }
      const timer = setTimeout(() => {
        done()
        reject(new Error(`no ${what} within ${WAIT_MS} ms\n${diagnostics()}`))
      }, WAIT_MS)
      const done = () => {
        clearTimeout(timer)
        listeners.delete(check)
      }
      listeners.add(check)
      check()
    })

  return {
    child,
    lines,
    output: () => output,
    stdout: () => stdout,
    stderr: () => stderr,
    waitForLine: (match, what, from = 0) => waitUntil(() => lines.slice(from).find(match), what),
    waitFor: async (text) => {
      await waitUntil(() => (output.includes(text) ? true : undefined), JSON.stringify(text))
    },
    exited: (timeoutMs = WAIT_MS) =>
      new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          reject(new Error(`still running after ${timeoutMs} ms\n${diagnostics()}`))
        }, timeoutMs)
        void exitPromise.then((result) => {
          clearTimeout(timer)
          resolve(result)
        })
      }),
    stop: async () => {
      if (exit !== undefined) return exit
      child.kill('SIGTERM')
      const timer = setTimeout(() => child.kill('SIGKILL'), WAIT_MS)
      const result = await exitPromise
      clearTimeout(timer)
      return result
    },
    kill,
  }
}

/** Spawn the built relay with `args`, in a clean environment plus `env`. */
export function spawnRelay(
  t: Teardown,
  args: readonly string[],
  options: { cwd?: string; env?: NodeJS.ProcessEnv; nodeArgs?: readonly string[] } = {},
): Spawned {
  return spawnProcess(t, ...relayCommand(args, options.nodeArgs), {
    cwd: options.cwd,
    env: { ...cleanEnv(), ...options.env },
  })
}

/** Whether a log line is the relay's "listening" line. */
export const isListening = (line: LogLine): boolean => line.msg === 'tuleap-realtime listening'

/** Spawn the built relay and wait for its "listening" line; `port` is the one it logged. */
export async function startRelayProcess(
  t: Teardown,
  args: readonly string[],
  options: { cwd?: string; env?: NodeJS.ProcessEnv } = {},
): Promise<Spawned & { readonly port: number }> {
  const relay = spawnRelay(t, args, options)
  const listening = await relay.waitForLine(isListening, 'listening line')
  return Object.assign(relay, { port: listening.port as number })
}

/** The outcome of a command run to its end. */
export interface Ran {
  readonly status: number | null
  readonly stdout: string
  readonly stderr: string
}

/**
 * Run `command` to its end (killed after `timeoutMs`). Asynchronous on purpose: a relay
 * under test may run in this process, and a synchronous spawn would block it.
 */
export function run(
  command: string,
  args: readonly string[],
  options: { cwd?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {},
): Promise<Ran> {
  const { timeoutMs = 20_000, ...spawnOptions } = options
  return new Promise((resolve) => {
    const child = spawn(command, args, spawnOptions)
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()))
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()))
    const timer = setTimeout(() => child.kill(), timeoutMs)
    child.on('close', (status) => {
      clearTimeout(timer)
      resolve({ status, stdout, stderr })
    })
  })
}

/** Run the built relay's CLI (`node dist/src/main.js ARGS`) with only PATH and `env`. */
export const runMain = (args: readonly string[], env: NodeJS.ProcessEnv = {}): Promise<Ran> =>
  run(process.execPath, [mainJs, ...args], { env: { PATH: process.env.PATH, ...env } })

/**
 * Run the built relay to its end, synchronously, in a clean environment: for commands that
 * talk to nothing in this process (usage errors, check-config).
 */
export const runRelaySync = (
  args: readonly string[],
  options: { cwd?: string; timeoutMs?: number } = {},
): SpawnSyncReturns<string> =>
  spawnSync(...relayCommand(args), {
    cwd: options.cwd,
    env: cleanEnv(),
    encoding: 'utf8',
    timeout: options.timeoutMs ?? WAIT_MS,
  })

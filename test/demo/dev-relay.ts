/**
 * The real relay process for the demo tests: `node dist/src/main.js`, in development mode
 * (no --config) with its own folder (TULEAP_REALTIME_DEV_DIR) and port
 * (TULEAP_REALTIME_PORT), so it shares nothing with a developer's running dev relay; or
 * with a config file. Killed at teardown if still running.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { request as httpsRequest } from 'node:https'
import { createServer, type AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { Test } from 'tap'

export const mainJs = fileURLToPath(new URL('../../dist/src/main.js', import.meta.url))

/** Upper bound of every wait on the process. */
export const WAIT_MS = 15_000

type Exit = { code: number | null; signal: NodeJS.Signals | null }

/** A running relay process. */
export interface RelayProcess {
  readonly child: ChildProcess
  readonly port: number
  /** Everything it wrote so far (stdout and stderr). */
  output(): string
  /** Resolves once it wrote `text`, within WAIT_MS. */
  waitFor(text: string): Promise<void>
  /** SIGTERM, then its exit (SIGKILL after WAIT_MS). */
  stop(): Promise<Exit>
}

/** A port that was free a moment ago (bind port 0, read it, close). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo
      server.close(() => {
        resolve(port)
      })
    })
  })
}

/** A temporary folder for development mode's files, removed at teardown. */
export function devDir(t: Test): string {
  const dir = mkdtempSync(join(tmpdir(), 'tuleap-realtime-demo-'))
  t.teardown(() => {
    rmSync(dir, { recursive: true, force: true })
  })
  return dir
}

/** The environment of this process without the relay's own variables. */
function cleanEnv(): NodeJS.ProcessEnv {
  return Object.fromEntries(
    Object.entries(process.env).filter(
      ([name]) => name !== 'PRIVATE_KEY' && !name.startsWith('TULEAP_REALTIME_'),
    ),
  )
}

/**
 * Start the relay and wait for its "listening" line. `dev`: development mode with that
 * folder; otherwise `args` carries --config. env execs node (same pid) without
 * NODE_OPTIONS, where tap adds a process tracker that fails once privileges are dropped.
 */
export async function startRelay(
  t: Test,
  options: { port: number; dev?: string; args?: string[] },
): Promise<RelayProcess> {
  const env = cleanEnv()
  env.TULEAP_REALTIME_PORT = String(options.port)
  if (options.dev !== undefined) env.TULEAP_REALTIME_DEV_DIR = options.dev
  const child = spawn(
    'env',
    ['-u', 'NODE_OPTIONS', process.execPath, mainJs, ...(options.args ?? [])],
    {
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  )
  let output = ''
  child.stdout.setEncoding('utf8')
  child.stderr.setEncoding('utf8')
  child.stdout.on('data', (chunk: string) => (output += chunk))
  child.stderr.on('data', (chunk: string) => (output += chunk))
  let exit: Exit | undefined
  const exited = new Promise<Exit>((resolve) => {
    child.once('close', (code, signal) => {
      exit = { code, signal }
      resolve(exit)
    })
  })
  t.teardown(async () => {
    if (exit === undefined) {
      child.kill('SIGKILL')
      await exited
    }
  })
  const waitFor = (text: string): Promise<void> =>
    new Promise<void>((resolve, reject) => {
      const done = (): void => {
        clearTimeout(timer)
        child.stdout.off('data', check)
        child.stderr.off('data', check)
      }
      const check = (): void => {
        if (output.includes(text)) {
          done()
          resolve()
        }
      }
      const timer = setTimeout(() => {
        done()
        reject(
          new Error(
            `the relay did not write ${JSON.stringify(text)} within ${WAIT_MS} ms\n${output}`,
          ),
        )
      }, WAIT_MS)
      child.stdout.on('data', check)
      child.stderr.on('data', check)
      void exited.then((e) => {
        done()
        reject(
          new Error(
            `the relay exited (${JSON.stringify(e)}) before writing ${JSON.stringify(text)}\n${output}`,
          ),
        )
      })
      check()
    })
  await waitFor('"msg":"tuleap-realtime listening"')
  return {
    child,
    port: options.port,
    output: () => output,
    waitFor,
    stop: async () => {
      if (exit !== undefined) return exit
      child.kill('SIGTERM')
      const timer = setTimeout(() => child.kill('SIGKILL'), WAIT_MS)
      const result = await exited
      clearTimeout(timer)
      return result
    },
  }
}

/** The development certificate the relay made in `dir`. */
export const devCert = (dir: string): Buffer => readFileSync(join(dir, 'dev-cert.pem'))

/** GET `path` over HTTPS, trusting only `ca`; the body parsed as JSON when it is. */
export function httpsGet(
  port: number,
  path: string,
  ca: Buffer,
): Promise<{ status: number; headers: Record<string, unknown>; text: string; json: unknown }> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(
      { host: '127.0.0.1', port, path, method: 'GET', ca, agent: false, timeout: WAIT_MS },
      (res) => {
        let text = ''
        res.setEncoding('utf8')
        res.on('data', (chunk: string) => (text += chunk))
        res.on('end', () => {
          let json: unknown = undefined
          try {
            json = JSON.parse(text)
          } catch {
            // not JSON
          }
          resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json })
        })
      },
    )
    req.on('timeout', () => req.destroy(new Error(`GET ${path}: no answer within ${WAIT_MS} ms`)))
    req.on('error', reject)
    req.end()
  })
}

import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { existsSync } from 'node:fs'
import { request as httpsRequest } from 'node:https'
import { createServer, type AddressInfo } from 'node:net'
import { connect as tlsConnect } from 'node:tls'
import { fileURLToPath } from 'node:url'
import type { Test } from 'tap'

/** The built relay binary (npm test builds it first). */
export const mainJs = fileURLToPath(new URL('../../dist/src/main.js', import.meta.url))
/** Upper bound of every wait on a child process. */
export const WAIT_MS = 15_000
/** nobody: whom the relay becomes when the tests run as root. */
export const NOBODY = 65534
export const isRoot = process.getuid?.() === 0

/** A stdout log line (JSON); anything else is kept as `{ text }`. */
export type LogLine = Record<string, unknown>

/** A spawned relay (or CLI command), killed at teardown if still running. */
export interface RelayProcess {
  readonly child: ChildProcess
  readonly lines: LogLine[]
  stderr(): string
  /** The first stdout line matching `match` (from `from` on), within WAIT_MS. */
  waitForLine(match: (line: LogLine) => boolean, what: string, from?: number): Promise<LogLine>
  exited(timeoutMs?: number): Promise<{ code: number | null; signal: NodeJS.Signals | null }>
}

/** This process's environment without the relay's own variables (and tap's NODE_OPTIONS). */
export function cleanEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env = Object.fromEntries(
    Object.entries(process.env).filter(
      ([name]) =>
        name !== 'PRIVATE_KEY' && name !== 'NODE_OPTIONS' && !name.startsWith('TULEAP_REALTIME_'),
    ),
  )
  return { ...env, ...extra }
}

/** Fail (not skip) when the binary is missing: npm test always builds it. */
export function requireBuilt(t: Test): boolean {
  if (existsSync(mainJs)) return true
  t.fail(`${mainJs} is missing: run "npm run build" first (npm test does)`)
  return false
}

/** Skip (fail on CI) when openssl, which testCert() needs, is missing. */
export function hasOpenssl(t: Test): boolean {
  if (spawnSync('openssl', ['version'], { stdio: 'ignore' }).status === 0) return true
  if (process.env.CI === 'true') t.fail('openssl is required on CI')
  else t.plan(0, 'openssl is not installed: cannot make test certificates')
  return false
}

/** Spawn `node dist/src/main.js ARGS`; stdout lines are parsed as they come. */
export function spawnRelay(
  t: Test,
  args: string[],
  options: { env?: NodeJS.ProcessEnv; cwd?: string } = {},
): RelayProcess {
  const child = spawn(process.execPath, [mainJs, ...args], {
    cwd: options.cwd,
    env: cleanEnv(options.env),
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  const lines: LogLine[] = []
  let stderr = ''
  let partial = ''
  const listeners = new Set<() => void>()
  const notify = () => {
    for (const l of [...listeners]) l()
  }
  child.stdout.setEncoding('utf8')
  child.stdout.on('data', (chunk: string) => {
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
  })
  let exit: { code: number | null; signal: NodeJS.Signals | null } | undefined
  const exitPromise = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>(
    (resolve) => {
      child.once('close', (code, signal) => {
        exit = { code, signal }
        resolve(exit)
        notify()
      })
    },
  )
  t.teardown(async () => {
    if (exit === undefined) {
      child.kill('SIGKILL')
      await exitPromise
    }
  })
  const diagnostics = () => `stdout: ${JSON.stringify(lines)}\nstderr: ${stderr}`
  return {
    child,
    lines,
    stderr: () => stderr,
    waitForLine: (match, what, from = 0) =>
      new Promise((resolve, reject) => {
        const check = () => {
          const found = lines.slice(from).find(match)
          if (found) {
            done()
            resolve(found)
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
      }),
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
  }
}

/** The relay's start-up line. */
export const isListening = (line: LogLine): boolean => line.msg === 'tuleap-realtime listening'

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

/** The SHA-256 fingerprint of the certificate a fresh TLS handshake gets on `port`. */
export function servedFingerprint(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = tlsConnect({ host: '127.0.0.1', port, rejectUnauthorized: false }, () => {
      resolve(socket.getPeerCertificate().fingerprint256)
      socket.end()
    })
    socket.setTimeout(WAIT_MS, () => socket.destroy(new Error('TLS handshake timed out')))
    socket.on('error', reject)
  })
}

/** An HTTPS request to the relay on loopback, trusting only `ca`. */
export function httpsCall(
  port: number,
  method: string,
  path: string,
  ca: Buffer,
  body?: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(
      { host: '127.0.0.1', port, path, method, ca, agent: false, timeout: WAIT_MS, headers },
      (res) => {
        let text = ''
        res.setEncoding('utf8')
        res.on('data', (chunk: string) => (text += chunk))
        res.on('end', () => {
          resolve({ status: res.statusCode ?? 0, body: text })
        })
      },
    )
    req.on('timeout', () => req.destroy(new Error(`${method} ${path}: no answer in time`)))
    req.on('error', reject)
    req.end(body)
  })
}

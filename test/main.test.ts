import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { request as httpsRequest } from 'node:https'
import { createServer, type AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { connect as tlsConnect } from 'node:tls'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import t, { type Test } from 'tap'
import { WebSocket } from 'ws'
import { testCert } from './helpers/certs.js'
import { testConfigFile } from './helpers/config.js'
import { subscriberToken } from './helpers/tokens.js'

const mainJs = fileURLToPath(new URL('../dist/src/main.js', import.meta.url))
/** Upper bound of every wait on a child process. */
const WAIT_MS = 15_000
const NOBODY = 65534
const isRoot = process.getuid?.() === 0

/** Log lines are JSON; anything else is kept as `{ text }`. */
type LogLine = Record<string, unknown>

/** A spawned `node dist/src/main.js`, killed at teardown if still running. */
interface Relay {
  readonly child: ChildProcess
  readonly lines: LogLine[]
  stderr(): string
  /** The first stdout line matching `match`, within WAIT_MS; rejects if the process exits. */
  waitForLine(match: (line: LogLine) => boolean, what: string): Promise<LogLine>
  /** The exit, within `timeoutMs`. */
  exited(timeoutMs?: number): Promise<{ code: number | null; signal: NodeJS.Signals | null }>
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
 * The command that runs `node dist/src/main.js ARGS` as the process itself (env execs it,
 * so the pid is node's), without NODE_OPTIONS: tap adds its process tracker there, and the
 * tracker fails at exit once the relay has dropped its privileges.
 */
const relayCommand = (args: string[]): [string, string[]] => [
  'env',
  ['-u', 'NODE_OPTIONS', process.execPath, mainJs, ...args],
]
function startRelay(t: Test, args: string[], cwd: string): Relay {
  const child = spawn(...relayCommand(args), {
    cwd,
    env: cleanEnv(),
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
    waitForLine: (match, what) =>
      new Promise((resolve, reject) => {
        const check = () => {
          const found = lines.find(match)
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

const isListening = (line: LogLine) => line.msg === 'tuleap-realtime listening'

/** Resolves to an error code (EADDRINUSE, EACCES…) if `port` cannot be bound now, else null. */
function portProblem(port: number, host = '127.0.0.1'): Promise<string | null> {
  return new Promise((resolve) => {
    const server = createServer()
    server.once('error', (err: NodeJS.ErrnoException) => {
      resolve(err.code ?? err.message)
    })
    server.listen(port, host, () => {
      server.close(() => {
        resolve(null)
      })
    })
  })
}

/** A port that was free a moment ago (bind port 0, read it, close). */
function freePort(): Promise<number> {
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

/** GET `path` over HTTPS, trusting only `ca`. */
function httpsGet(
  port: number,
  path: string,
  ca: Buffer,
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(
      { host: '127.0.0.1', port, path, method: 'GET', ca, agent: false, timeout: WAIT_MS },
      (res) => {
        let body = ''
        res.setEncoding('utf8')
        res.on('data', (chunk: string) => (body += chunk))
        res.on('end', () => {
          resolve({ status: res.statusCode ?? 0, body })
        })
      },
    )
    req.on('timeout', () => req.destroy(new Error(`GET ${path}: no answer within ${WAIT_MS} ms`)))
    req.on('error', reject)
    req.end()
  })
}

/** The Uid, Gid and Groups lines of /proc/<pid>/status, as numbers. */
function procIds(pid: number): { uid: number[]; gid: number[]; groups: number[] } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8')
  const field = (name: string): number[] => {
    const match = new RegExp(`^${name}:(.*)$`, 'm').exec(status)
    if (!match) throw new Error(`no ${name} line in /proc/${pid}/status`)
    return (match[1] ?? '').trim().split(/\s+/).filter(Boolean).map(Number)
  }
  return { uid: field('Uid'), gid: field('Gid'), groups: field('Groups') }
}

/** Skip the test unless running as root; on CI, being unable to is a failure. */
function requireRoot(t: Test): boolean {
  if (isRoot) return true
  if (process.env.CI === 'true') t.fail('CI runs the process tests as root; this run is not root')
  else t.plan(0, 'not root: the privilege drop can only be tested when started as root')
  return false
}

/** Skip (fail on CI) when openssl, which testCert() needs, is missing. */
function hasOpenssl(t: Test): boolean {
  if (spawnSync('openssl', ['version'], { stdio: 'ignore' }).status === 0) return true
  if (process.env.CI === 'true') t.fail('openssl is required on CI')
  else t.plan(0, 'openssl is not installed: cannot make test certificates')
  return false
}

t.test('the relay process', async (t) => {
  if (!existsSync(mainJs)) {
    t.fail(`${mainJs} is missing: run "npm run build" first (npm test does)`)
    return
  }
  if (!hasOpenssl(t)) return
  const cert = testCert()
  const dir = mkdtempSync(join(tmpdir(), 'tuleap-realtime-main-'))
  t.teardown(() => {
    rmSync(dir, { recursive: true, force: true })
  })
  /** A config file: the test key and certificate on 127.0.0.1, then `values`. */
  const configFile = (values: Record<string, unknown>): string =>
    testConfigFile(t, { log_level: 'info', ...values })
  /** As root, the relay must be told whom to become. */
  const dropTo = isRoot ? { process_uid: NOBODY, process_gid: NOBODY } : {}

  t.test('as root on port 443: binds, drops to 65534, serves, stops on SIGTERM', async (t) => {
    if (!requireRoot(t)) return
    const problem = await portProblem(443)
    if (problem !== null) {
      t.fail(`port 443 on 127.0.0.1 cannot be bound (${problem}): stop what is using it`)
      return
    }
    const relay = startRelay(
      t,
      [`--config=${configFile({ port: 443, process_uid: NOBODY, process_gid: '65534' })}`],
      dir,
    )
    const listening = await relay.waitForLine(isListening, 'listening log line')
    t.match(listening, { port: 443, address: '127.0.0.1', tls: true, uid: NOBODY, gid: NOBODY })
    const pid = relay.child.pid!
    t.same(procIds(pid), {
      uid: [NOBODY, NOBODY, NOBODY, NOBODY],
      gid: [NOBODY, NOBODY, NOBODY, NOBODY],
      groups: [],
    })
    const health = await httpsGet(443, '/health', cert.cert)
    t.equal(health.status, 200, `GET /health: ${health.body}`)
    relay.child.kill('SIGTERM')
    t.same(await relay.exited(), { code: 0, signal: null })
    t.match(
      relay.lines.filter((l) => l.msg === 'shutting down' || l.msg === 'stopped'),
      [{ msg: 'shutting down', signal: 'SIGTERM' }, { msg: 'stopped' }],
      'logs the signal, then "stopped"',
    )
    t.same(
      relay.lines.filter((l) => l.level === 'error' || l.level === 'fatal'),
      [],
      'no error logged',
    )
  })

  t.test('as root without process_uid/process_gid: exit 1 before listening', async (t) => {
    if (!requireRoot(t)) return
    const port = await freePort()
    const relay = startRelay(t, [`--config=${configFile({ port })}`], dir)
    t.same(await relay.exited(), { code: 1, signal: null })
    t.match(relay.stderr(), /process_uid/)
    t.match(relay.stderr(), /^tuleap-realtime: configuration error: started as root/)
    t.notOk(relay.lines.some(isListening), 'never logged listening')
    t.equal(await portProblem(port), null, 'the port is free')
  })

  t.test('a configuration error: exit 1 naming the key', async (t) => {
    const relay = startRelay(
      t,
      [`--config=${configFile({ nodejs_server_jwt_private_key: 'private_key_to_change' })}`],
      dir,
    )
    t.same(await relay.exited(), { code: 1, signal: null })
    t.match(
      relay.stderr(),
      /^tuleap-realtime: configuration error: nodejs_server_jwt_private_key: still the placeholder/,
    )
    t.notOk(relay.lines.some(isListening), 'never logged listening')
  })

  t.test('an unusable TLS pair: exit 1 naming the files', async (t) => {
    const relay = startRelay(
      t,
      [`--config=${configFile({ full_path_ssl_key: join(dir, 'missing-key.pem'), ...dropTo })}`],
      dir,
    )
    t.same(await relay.exited(), { code: 1, signal: null })
    t.match(relay.stderr(), /full_path_ssl_key: cannot read .*missing-key\.pem/)
  })

  t.test('SIGTERM closes an open WebSocket with 1001 and exits 0 in time', async (t) => {
    const shutdownTimeoutMs = 10_000
    const port = await freePort()
    const relay = startRelay(
      t,
      [`--config=${configFile({ port, shutdown_timeout_ms: shutdownTimeoutMs, ...dropTo })}`],
      dir,
    )
    const listening = await relay.waitForLine(isListening, 'listening log line')
    t.match(listening, { port })
    const ws = new WebSocket(`wss://127.0.0.1:${port}/ws`, { ca: cert.cert })
    t.teardown(() => {
      ws.terminate()
    })
    const frames: Record<string, unknown>[] = []
    const closed = new Promise<{ code: number; reason: string }>((resolve) => {
      ws.on('close', (code, reason) => {
        resolve({ code, reason: reason.toString() })
      })
    })
    const waiters = new Set<() => void>()
    ws.on('message', (data: Buffer) => {
      frames.push(JSON.parse(data.toString('utf8')) as Record<string, unknown>)
      for (const w of [...waiters]) w()
    })
    ws.on('error', () => undefined)
    /** Resolves once `n` frames in all have arrived, within WAIT_MS. */
    const received = (n: number) =>
      new Promise<void>((resolve, reject) => {
        const check = () => {
          if (frames.length < n) return
          clearTimeout(timer)
          waiters.delete(check)
          resolve()
        }
        const timer = setTimeout(() => {
          waiters.delete(check)
          reject(
            new Error(`fewer than ${n} frames within ${WAIT_MS} ms: ${JSON.stringify(frames)}`),
          )
        }, WAIT_MS)
        waiters.add(check)
        check()
      })
    await received(1)
    t.match(frames[0], { type: 'hello', protocol: 1 })
    ws.send(
      JSON.stringify({
        type: 'subscribe',
        room_id: '42',
        token: subscriberToken(101, ['@site_active']),
        uuid: 'tab-a',
      }),
    )
    await received(2)
    t.match(frames[1], { type: 'subscribed', room_id: '42' })

    const signalled = Date.now()
    relay.child.kill('SIGTERM')
    const [close, exit] = await Promise.all([closed, relay.exited(shutdownTimeoutMs + WAIT_MS)])
    const elapsed = Date.now() - signalled
    t.same(close, { code: 1001, reason: 'server shutting down' })
    t.same(exit, { code: 0, signal: null })
    t.ok(elapsed < shutdownTimeoutMs, `exited in ${elapsed} ms, before the shutdown timeout`)
    t.notOk(
      relay.lines.some((l) => /still open at the shutdown timeout/.test(String(l.msg))),
      'no socket had to be terminated',
    )
  })

  t.test(
    'a request still in progress at the shutdown timeout does not hold the exit',
    async (t) => {
      const shutdownTimeoutMs = 1000
      const port = await freePort()
      const relay = startRelay(
        t,
        [`--config=${configFile({ port, shutdown_timeout_ms: shutdownTimeoutMs, ...dropTo })}`],
        dir,
      )
      await relay.waitForLine(isListening, 'listening log line')
      const socket = tlsConnect({ host: '127.0.0.1', port, ca: cert.cert })
      t.teardown(() => {
        socket.destroy()
      })
      socket.on('error', () => undefined)
      const clientClosed = new Promise<void>((resolve) => {
        socket.once('close', () => {
          resolve()
        })
      })
      // "100 Continue" proves the server has parsed the headers and waits for the body.
      const continued = new Promise<string>((resolve, reject) => {
        const timer = setTimeout(() => {
          reject(new Error(`no 100 Continue within ${WAIT_MS} ms`))
        }, WAIT_MS)
        socket.once('data', (data: Buffer) => {
          clearTimeout(timer)
          resolve(data.toString('latin1'))
        })
      })
      socket.write(
        'POST /message HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/jwt\r\n' +
          'Content-Length: 1000\r\nExpect: 100-continue\r\n\r\n',
      )
      t.match(await continued, /^HTTP\/1\.1 100 Continue/)
      socket.write('eyJ')

      const signalled = Date.now()
      relay.child.kill('SIGTERM')
      t.same(await relay.exited(), { code: 0, signal: null })
      const elapsed = Date.now() - signalled
      // Unbounded, the request would hold the exit until its own timeout (10 s and more).
      t.ok(elapsed < shutdownTimeoutMs + 5000, `exited ${elapsed} ms after SIGTERM`)
      t.ok(
        relay.lines.some((l) => /still open at the shutdown timeout/.test(String(l.msg))),
        'logs that connections were terminated',
      )
      await clientClosed
    },
  )

  t.test('SIGINT stops the relay too', async (t) => {
    const port = await freePort()
    const relay = startRelay(t, [`--config=${configFile({ port, ...dropTo })}`], dir)
    await relay.waitForLine(isListening, 'listening log line')
    relay.child.kill('SIGINT')
    t.same(await relay.exited(), { code: 0, signal: null })
  })

  t.test('a port in use: exit 1 with a hint', async (t) => {
    const blocker = createServer()
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve))
    t.teardown(() => new Promise<void>((resolve) => blocker.close(() => resolve())))
    const port = (blocker.address() as AddressInfo).port
    const relay = startRelay(t, [`--config=${configFile({ port, ...dropTo })}`], dir)
    t.same(await relay.exited(), { code: 1, signal: null })
    t.match(relay.stderr(), `cannot listen on 127.0.0.1 port ${port}: the port is in use`)
  })
})

t.test('usage', async (t) => {
  if (!existsSync(mainJs)) {
    t.fail(`${mainJs} is missing: run "npm run build" first (npm test does)`)
    return
  }
  const run = (...args: string[]) =>
    spawnSync(...relayCommand(args), {
      env: cleanEnv(),
      encoding: 'utf8',
      timeout: WAIT_MS,
    })
  for (const args of [['frobnicate'], ['--nope'], ['--config'], ['check-config', 'extra']]) {
    const res = run(...args)
    t.equal(res.status, 2, `${args.join(' ')}: exit 2`)
    t.match(res.stderr, /^tuleap-realtime: /, `${args.join(' ')}: says what is wrong`)
    t.match(res.stderr, 'Usage: tuleap-realtime', `${args.join(' ')}: prints the usage`)
    t.equal(res.stdout, '', `${args.join(' ')}: nothing on stdout`)
  }
  for (const args of [['help'], ['--help'], ['-h']]) {
    const res = run(...args)
    t.equal(res.status, 0, `${args.join(' ')}: exit 0`)
    t.match(res.stdout, /^Usage: tuleap-realtime/, `${args.join(' ')}: usage on stdout`)
  }
})

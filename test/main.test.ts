import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { createServer, type AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { connect as tlsConnect } from 'node:tls'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import { WebSocket } from 'ws'
import { testCert } from './helpers/certs.js'
import { dropToNobody, isRoot, NOBODY, TEST_KEY, testConfigFile } from './helpers/config.js'
import { httpsGet } from './helpers/https.js'
import { freePort, portProblem } from './helpers/ports.js'
import {
  isListening,
  projectRoot,
  runRelaySync,
  requireBuild,
  spawnRelay,
  WAIT_MS,
} from './helpers/process.js'
import { TestClient } from './helpers/relay.js'
import { requireOpenssl } from './helpers/tools.js'
import { subscriberToken } from './helpers/tokens.js'

/**
 * What the start-up line tells an admin besides where it listens: the relay's version (as
 * package.json has it), the Node.js running it (the one the tests spawn) and the broker.
 */
const STARTUP_FIELDS = {
  version: (
    JSON.parse(readFileSync(join(projectRoot, 'package.json'), 'utf8')) as { version: string }
  ).version,
  node: process.versions.node,
  broker: 'memory',
} as const

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

t.test('the relay process', async (t) => {
  if (!requireBuild(t) || !requireOpenssl(t)) return
  const cert = testCert()
  const dir = mkdtempSync(join(tmpdir(), 'tuleap-realtime-main-'))
  t.teardown(() => {
    rmSync(dir, { recursive: true, force: true })
  })
  /** A config file: the test key and certificate on 127.0.0.1, then `values`. */
  const configFile = (values: Record<string, unknown>): string =>
    testConfigFile(t, { log_level: 'info', ...values })

  t.test('as root on port 443: binds, drops to 65534, serves, stops on SIGTERM', async (t) => {
    if (!requireRoot(t)) return
    const problem = await portProblem(443)
    if (problem !== null) {
      t.fail(`port 443 on 127.0.0.1 cannot be bound (${problem}): stop what is using it`)
      return
    }
    const relay = spawnRelay(
      t,
      [`--config=${configFile({ port: 443, process_uid: NOBODY, process_gid: '65534' })}`],
      { cwd: dir },
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
    t.equal(health.status, 200, `GET /health: ${health.text}`)
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
    const relay = spawnRelay(t, [`--config=${configFile({ port })}`], { cwd: dir })
    t.same(await relay.exited(), { code: 1, signal: null })
    t.match(relay.stderr(), /process_uid/)
    t.match(relay.stderr(), /^tuleap-realtime: configuration error: started as root/)
    t.notOk(relay.lines.some(isListening), 'never logged listening')
    t.equal(await portProblem(port), null, 'the port is free')
  })

  t.test('a configuration error: exit 1 naming the key', async (t) => {
    const relay = spawnRelay(
      t,
      [`--config=${configFile({ nodejs_server_jwt_private_key: 'private_key_to_change' })}`],
      { cwd: dir },
    )
    t.same(await relay.exited(), { code: 1, signal: null })
    t.match(
      relay.stderr(),
      /^tuleap-realtime: configuration error: nodejs_server_jwt_private_key: still the placeholder/,
    )
    t.notOk(relay.lines.some(isListening), 'never logged listening')
  })

  t.test('a broken config: the one-line messages of check-config, no stack trace', async (t) => {
    const broken = join(dir, 'broken.json')
    writeFileSync(broken, '{\n  "port": "8443",\n}\n')
    const syntax = spawnRelay(t, [`--config=${broken}`], { cwd: dir })
    t.same(await syntax.exited(), { code: 1, signal: null })
    t.match(
      syntax.stderr(),
      new RegExp(
        `^tuleap-realtime: configuration error: ${broken} is not valid JSON: line 3, column 1: [^\\n]*\\n$`,
      ),
    )
    const quoted = spawnRelay(t, [`--config=${configFile({ port: '8443', tls: 'true' })}`], {
      cwd: dir,
    })
    t.same(await quoted.exited(), { code: 1, signal: null })
    t.match(
      quoted.stderr(),
      /^tuleap-realtime: configuration error: port: "8443" is a string; write a number without quotes, e.g. "port": 8443\ntuleap-realtime: configuration error: tls: "true" is a string; [^\n]*\n$/,
    )
    for (const relay of [syntax, quoted]) t.notMatch(relay.output(), /\n\s+at /, 'no stack trace')
  })

  t.test('as root, a process_uid that does not exist: exit 1 before listening', async (t) => {
    if (!requireRoot(t)) return
    const port = await freePort()
    const relay = spawnRelay(
      t,
      [`--config=${configFile({ port, process_uid: 'no-such-user-42', process_gid: NOBODY })}`],
      { cwd: dir },
    )
    t.same(await relay.exited(), { code: 1, signal: null })
    t.match(
      relay.stderr(),
      /^tuleap-realtime: configuration error: process_uid: no user "no-such-user-42" on this host/,
    )
    t.notOk(relay.lines.some(isListening), 'never logged listening')
    t.equal(await portProblem(port), null, 'the port is free')
  })

  t.test('a key in the environment, no --config: no development mode', async (t) => {
    const port = await freePort()
    const relay = spawnRelay(t, [], {
      cwd: dir,
      env: {
        PRIVATE_KEY: TEST_KEY,
        TULEAP_REALTIME_TLS: 'false',
        TULEAP_REALTIME_ADDRESS: '127.0.0.1',
        TULEAP_REALTIME_PORT: String(port),
        ...(isRoot
          ? { TULEAP_REALTIME_UID: String(NOBODY), TULEAP_REALTIME_GID: String(NOBODY) }
          : {}),
      },
    })
    t.match(await relay.waitForLine(isListening, 'listening line'), {
      port,
      tls: false,
      tls_mode: 'plain http behind a TLS-terminating proxy',
      dev: false,
      ...STARTUP_FIELDS,
    })
    t.same(await relay.stop(), { code: 0, signal: null })
  })

  t.test('TULEAP_REALTIME_DEV=0 and no key: one line, exit 1', async (t) => {
    const relay = spawnRelay(t, [], { cwd: dir, env: { TULEAP_REALTIME_DEV: '0' } })
    t.same(await relay.exited(), { code: 1, signal: null })
    t.match(relay.stderr().trim().split('\n'), [/PRIVATE_KEY or PRIVATE_KEY_FILE/])
  })

  t.test('an unusable TLS pair: exit 1 naming the files', async (t) => {
    const relay = spawnRelay(
      t,
      [
        `--config=${configFile({ full_path_ssl_key: join(dir, 'missing-key.pem'), ...dropToNobody })}`,
      ],
      { cwd: dir },
    )
    t.same(await relay.exited(), { code: 1, signal: null })
    t.match(relay.stderr(), /full_path_ssl_key: cannot read .*missing-key\.pem/)
  })

  t.test('SIGTERM closes an open WebSocket with 1001 and exits 0 in time', async (t) => {
    const shutdownTimeoutMs = 10_000
    const port = await freePort()
    const relay = spawnRelay(
      t,
      [`--config=${configFile({ port, shutdown_timeout_ms: shutdownTimeoutMs, ...dropToNobody })}`],
      { cwd: dir },
    )
    const listening = await relay.waitForLine(isListening, 'listening log line')
    t.match(listening, { port, tls: true, tls_mode: 'https and wss', ...STARTUP_FIELDS })
    const client = new TestClient(new WebSocket(`wss://127.0.0.1:${port}/ws`, { ca: cert.cert }))
    t.teardown(() => {
      client.ws.terminate()
    })
    t.match(await client.next(WAIT_MS), { type: 'hello', protocol: 1 })
    t.match(
      await client.subscribe({
        room_id: '42',
        token: subscriberToken(101, ['@site_active']),
        uuid: 'tab-a',
      }),
      { type: 'subscribed', room_id: '42' },
    )

    const signalled = Date.now()
    relay.child.kill('SIGTERM')
    const [close, exit] = await Promise.all([
      client.closed,
      relay.exited(shutdownTimeoutMs + WAIT_MS),
    ])
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
      const relay = spawnRelay(
        t,
        [
          `--config=${configFile({ port, shutdown_timeout_ms: shutdownTimeoutMs, ...dropToNobody })}`,
        ],
        { cwd: dir },
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
    const relay = spawnRelay(t, [`--config=${configFile({ port, ...dropToNobody })}`], { cwd: dir })
    await relay.waitForLine(isListening, 'listening log line')
    relay.child.kill('SIGINT')
    t.same(await relay.exited(), { code: 0, signal: null })
  })

  t.test('a port in use: exit 1 with a hint', async (t) => {
    const blocker = createServer()
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve))
    t.teardown(() => new Promise<void>((resolve) => blocker.close(() => resolve())))
    const port = (blocker.address() as AddressInfo).port
    const relay = spawnRelay(t, [`--config=${configFile({ port, ...dropToNobody })}`], { cwd: dir })
    t.same(await relay.exited(), { code: 1, signal: null })
    t.match(relay.stderr(), `cannot listen on 127.0.0.1 port ${port}: the port is in use`)
  })
})

t.test('usage', async (t) => {
  if (!requireBuild(t)) return
  const run = (...args: string[]) => runRelaySync(args)
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

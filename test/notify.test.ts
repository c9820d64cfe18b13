/**
 * src/notify.ts: READY=1 through `systemd-notify`, only under a notify socket, never
 * throwing; and the relay process calls it only once it listens and runs unprivileged.
 * A real systemd receiving it is test/systemd/nspawn.test.ts.
 */
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pino } from 'pino'
import t from 'tap'
import type { Logger } from '../src/log.js'
import { notifyReady } from '../src/notify.js'
import { dropToNobody, isRoot, NOBODY, testConfigFile } from './helpers/config.js'
import { isListening, requireBuild, spawnRelay } from './helpers/process.js'
import { requireOpenssl } from './helpers/tools.js'

/** A logger whose lines are kept as objects. */
function captureLogger(): { logger: Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = []
  const logger = pino(
    { level: 'debug' },
    { write: (line: string) => lines.push(JSON.parse(line) as Record<string, unknown>) },
  ) as unknown as Logger
  return { logger, lines }
}

/**
 * A stand-in for systemd-notify in a fresh directory (world-writable: the relay may run it
 * as nobody). It records its arguments, NOTIFY_SOCKET, its uid, and whether the port named
 * in --status accepted a TCP connection at that moment, then exits with `status`.
 */
function fakeNotify(t: { teardown(fn: () => void): void }, status = 0) {
  const dir = mkdtempSync(join(tmpdir(), 'tuleap-realtime-notify-'))
  chmodSync(dir, 0o777)
  t.teardown(() => {
    rmSync(dir, { recursive: true, force: true })
  })
  const record = join(dir, 'record')
  const command = join(dir, 'systemd-notify')
  writeFileSync(
    command,
    `#!/bin/bash
port=$(printf '%s\\n' "$@" | sed -n 's/^--status=.* port \\([0-9]*\\).*/\\1/p')
listening=no
if [ -n "$port" ] && (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then listening=yes; fi
{ printf 'arg=%s\\n' "$@"; echo "socket=$NOTIFY_SOCKET"; echo "uid=$(id -u)"; echo "listening=$listening"; } >"${record}.part"
mv "${record}.part" "${record}"
echo 'no systemd here' >&2
exit ${status}
`,
  )
  chmodSync(command, 0o755)
  const recorded = (): string[] => readFileSync(record, 'utf8').trim().split('\n')
  return { dir, command, recorded }
}

t.test('notifyReady', async (t) => {
  t.test('without NOTIFY_SOCKET: nothing is run', async (t) => {
    const fake = fakeNotify(t)
    const { logger, lines } = captureLogger()
    t.equal(await notifyReady({ env: {}, logger, status: 's', command: fake.command }), false)
    t.equal(await notifyReady({ env: { NOTIFY_SOCKET: '' }, logger, status: 's' }), false)
    t.throws(() => fake.recorded(), 'the command never ran')
    t.same(lines, [])
  })

  t.test('with NOTIFY_SOCKET: systemd-notify --ready --status=…', async (t) => {
    const fake = fakeNotify(t)
    const { logger, lines } = captureLogger()
    const env = { NOTIFY_SOCKET: '/run/systemd/notify', PATH: process.env.PATH }
    t.equal(await notifyReady({ env, logger, status: 'up and fine', command: fake.command }), true)
    t.match(fake.recorded(), [
      'arg=--ready',
      'arg=--status=up and fine',
      'socket=/run/systemd/notify',
    ])
    t.match(lines, [{ level: 20, msg: 'systemd notified: ready' }])
  })

  t.test('a failing systemd-notify is logged, not thrown', async (t) => {
    const fake = fakeNotify(t, 1)
    const { logger, lines } = captureLogger()
    const env = { NOTIFY_SOCKET: '/run/systemd/notify', PATH: process.env.PATH }
    t.equal(await notifyReady({ env, logger, status: 's', command: fake.command }), false)
    t.match(lines, [
      {
        level: 50,
        stderr: 'no systemd here',
        notify_socket: '/run/systemd/notify',
        msg: /cannot tell systemd the relay is ready .*TimeoutStartSec/,
      },
    ])
  })

  t.test('a missing systemd-notify is logged, not thrown', async (t) => {
    const { logger, lines } = captureLogger()
    const env = { NOTIFY_SOCKET: '/run/systemd/notify' }
    const command = join(tmpdir(), 'tuleap-realtime-no-such-command')
    t.equal(await notifyReady({ env, logger, status: 's', command }), false)
    t.match(lines, [{ level: 50, err: { code: 'ENOENT' } }])
  })
})

t.test('the relay notifies once listening, after dropping privileges', async (t) => {
  if (!requireBuild(t) || !requireOpenssl(t)) return
  const fake = fakeNotify(t)
  const values = { port: 0, log_level: 'info', ...dropToNobody }
  const relay = spawnRelay(t, [`--config=${testConfigFile(t, values)}`], {
    env: { NOTIFY_SOCKET: '/run/systemd/notify', PATH: `${fake.dir}:${process.env.PATH}` },
  })
  const listening = await relay.waitForLine(isListening, 'listening log line')
  // The notification follows the listening line; wait for its record.
  const deadline = Date.now() + 10_000
  let recorded: string[] = []
  while (Date.now() < deadline) {
    try {
      recorded = fake.recorded()
      break
    } catch {
      await new Promise((resolve) => setTimeout(resolve, 50))
    }
  }
  t.match(recorded, [
    'arg=--ready',
    `arg=--status=listening on 127.0.0.1 port ${String(listening.port)} as uid ${String(listening.uid)}`,
    'socket=/run/systemd/notify',
    `uid=${isRoot ? NOBODY : String(process.getuid?.())}`,
    'listening=yes',
  ])
  t.same(await relay.stop(), { code: 0, signal: null })
})

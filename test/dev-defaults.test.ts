import { spawn } from 'node:child_process'
import { createPrivateKey, X509Certificate } from 'node:crypto'
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
} from 'node:fs'
import { request as httpsRequest } from 'node:https'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import t, { type Test } from 'tap'
import { loadConfig } from '../src/config.js'
import { ConfigError } from '../src/errors.js'
import {
  DEV_ADDRESS,
  DEV_PORT,
  DEV_UNPRIVILEGED_ID,
  ensureDevSetup,
  projectRoot,
} from '../src/dev-defaults.js'
import { readTlsFiles } from '../src/tls.js'
import { requireOpenssl } from './helpers/tools.js'

const root = fileURLToPath(new URL('../', import.meta.url)).replace(/\/$/, '')
const mainJs = join(root, 'dist/src/main.js')
const script = join(root, 'ssl/make-self-signed.sh')
/** Upper bound of every wait on the child process. */
const WAIT_MS = 15_000

/** Skip (fail on CI) when openssl, which make-self-signed.sh needs, is missing. */
const hasOpenssl = (t: Test): boolean =>
  requireOpenssl(t, 'cannot make the development certificate')

/** A fresh project root holding only ssl/make-self-signed.sh; removed at teardown. */
function fakeRoot(t: Test, withScript = true): string {
  const dir = mkdtempSync(join(tmpdir(), 'tuleap-realtime-dev-'))
  t.teardown(() => {
    rmSync(dir, { recursive: true, force: true })
  })
  if (withScript) {
    mkdirSync(join(dir, 'ssl'))
    copyFileSync(script, join(dir, 'ssl/make-self-signed.sh'))
  }
  return dir
}

t.test('projectRoot finds the folder of our package.json', async (t) => {
  t.equal(projectRoot(join(root, 'src')), root)
  t.equal(projectRoot(join(root, 'dist/src/cli')), root)
  const elsewhere = fakeRoot(t, false)
  t.throws(() => projectRoot(elsewhere), ConfigError)
  t.throws(() => projectRoot(elsewhere), /pass --config=PATH/)
})

t.test('ensureDevSetup', async (t) => {
  if (!hasOpenssl(t)) return
  const dir = fakeRoot(t)
  const dev = ensureDevSetup(dir)
  const ssl = join(dir, 'ssl')

  t.test('makes a certificate, a key and a config under ssl/', async (t) => {
    t.match(dev, {
      configFile: join(ssl, 'dev-config.json'),
      certFile: join(ssl, 'dev-cert.pem'),
      keyFile: join(ssl, 'dev-key.pem'),
    })
    t.same(
      dev.values,
      process.getuid?.() === 0
        ? {
            full_path_ssl_cert: dev.certFile,
            full_path_ssl_key: dev.keyFile,
            process_uid: DEV_UNPRIVILEGED_ID,
            process_gid: DEV_UNPRIVILEGED_ID,
          }
        : { full_path_ssl_cert: dev.certFile, full_path_ssl_key: dev.keyFile },
    )
    t.equal(statSync(dev.configFile).mode & 0o777, 0o600, 'config (holds the key): 0600')
    t.equal(statSync(dev.keyFile).mode & 0o777, 0o600, 'TLS key: 0600')
    const written = JSON.parse(readFileSync(dev.configFile, 'utf8')) as Record<string, unknown>
    t.match(written, { address: '127.0.0.1', port: 4443, nodejs_server_jwt_private_key: String })
    t.equal(DEV_ADDRESS, '127.0.0.1')
    t.equal(DEV_PORT, 4443)
    const key = written.nodejs_server_jwt_private_key as string
    t.ok(Buffer.byteLength(key) >= 64, `key of ${Buffer.byteLength(key)} bytes`)
  })

  t.test('the certificate names localhost, 127.0.0.1 and ::1', async (t) => {
    const cert = new X509Certificate(readFileSync(dev.certFile))
    t.match(cert.subjectAltName, /(^|, )DNS:localhost(,|$)/)
    t.match(cert.subjectAltName, /(^|, )IP Address:127\.0\.0\.1(,|$)/)
    t.match(cert.subjectAltName, /(^|, )IP Address:(0:0:0:0:0:0:0:1|::1)(,|$)/)
    t.ok(cert.checkPrivateKey(createPrivateKey(readFileSync(dev.keyFile))), 'the key is its key')
  })

  t.test('the result loads as a config with a usable TLS pair', async (t) => {
    const config = loadConfig({ file: dev.configFile, values: dev.values })
    t.match(config, {
      address: '127.0.0.1',
      port: 4443,
      tls: true,
      full_path_ssl_cert: dev.certFile,
      full_path_ssl_key: dev.keyFile,
    })
    t.ok(readTlsFiles(config))
  })

  t.test('a second call keeps every file as it is', async (t) => {
    const before = [dev.configFile, dev.certFile, dev.keyFile].map((f) => ({
      content: readFileSync(f, 'utf8'),
      ino: statSync(f).ino,
      mtimeMs: statSync(f).mtimeMs,
    }))
    const again = ensureDevSetup(dir)
    t.same(again, dev)
    const after = [again.configFile, again.certFile, again.keyFile].map((f) => ({
      content: readFileSync(f, 'utf8'),
      ino: statSync(f).ino,
      mtimeMs: statSync(f).mtimeMs,
    }))
    t.same(after, before)
  })
})

t.test(
  'an installed copy (under /usr/lib) is never written: a ConfigError naming --config',
  async (t) => {
    const installed = '/usr/lib/tuleap-realtime-test-never-made'
    t.throws(() => ensureDevSetup(installed), ConfigError)
    t.throws(
      () => ensureDevSetup(installed),
      /^development mode writes its key and certificate in \/usr\/lib\/tuleap-realtime-test-never-made\/ssl, which is not writable .*--config=\/etc\/tuleap-realtime\/config\.json.*TULEAP_REALTIME_DEV_DIR/,
    )
    t.notOk(existsSync(installed), 'nothing made there')
  },
)

/** Resolves to true if `port` on 127.0.0.1 can be bound now. */
function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer()
    server.once('error', () => {
      resolve(false)
    })
    server.listen(port, '127.0.0.1', () => {
      server.close(() => {
        resolve(true)
      })
    })
  })
}

t.test('node dist/src/main.js without --config runs development mode', async (t) => {
  if (!existsSync(mainJs)) {
    t.fail(`${mainJs} is missing: run "npm run build" first (npm test does)`)
    return
  }
  if (!hasOpenssl(t)) return
  if (!(await portFree(DEV_PORT))) {
    t.plan(0, `port ${DEV_PORT} is in use: cannot run development mode`)
    return
  }
  const cwd = fakeRoot(t, false)
  // env execs node (same pid) without NODE_OPTIONS, where tap adds a process tracker that
  // fails at exit once the relay has dropped its privileges.
  const env = Object.fromEntries(
    Object.entries(process.env).filter(
      ([name]) => name !== 'PRIVATE_KEY' && !name.startsWith('TULEAP_REALTIME_'),
    ),
  )
  const child = spawn('env', ['-u', 'NODE_OPTIONS', process.execPath, mainJs], {
    cwd,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let stdout = ''
  let stderr = ''
  child.stdout.setEncoding('utf8')
  child.stderr.setEncoding('utf8')
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('close', (code, signal) => {
      resolve({ code, signal })
    })
  })
  let running = true
  void exited.then(() => (running = false))
  t.teardown(async () => {
    if (running) {
      child.kill('SIGKILL')
      await exited
    }
  })
  /** `promise`, or a rejection naming `what` after WAIT_MS. */
  const within = async <T>(promise: Promise<T>, what: string): Promise<T> => {
    let timer: NodeJS.Timeout | undefined
    const timeout = new Promise<never>((_resolve, reject) => {
      timer = setTimeout(() => {
        reject(new Error(`no ${what} within ${WAIT_MS} ms\nstdout: ${stdout}\nstderr: ${stderr}`))
      }, WAIT_MS)
    })
    try {
      return await Promise.race([promise, timeout])
    } finally {
      clearTimeout(timer)
    }
  }
  const banner = new Promise<void>((resolve, reject) => {
    child.stdout.on('data', (chunk: string) => (stdout += chunk))
    child.stderr.on('data', (chunk: string) => {
      stderr += chunk
      if (
        stderr.includes('tuleap-realtime is running in development mode') &&
        stderr.endsWith('\n')
      )
        resolve()
    })
    void exited.then((exit) => {
      reject(new Error(`exited (${JSON.stringify(exit)}) before the banner\nstderr: ${stderr}`))
    })
  })
  await within(banner, 'development banner')

  const sslDir = join(root, 'ssl')
  t.match(stderr, 'wss://127.0.0.1:4443/ws')
  t.match(stderr, `Key:         ${join(sslDir, 'dev-config.json')}`)
  t.match(stderr, `Certificate: ${join(sslDir, 'dev-cert.pem')}`)
  t.match(stdout, /"msg":"tuleap-realtime listening"/)
  t.match(stdout, /"dev":true/)

  const ca = readFileSync(join(sslDir, 'dev-cert.pem'))
  const health = await within(
    new Promise<number>((resolve, reject) => {
      const req = httpsRequest(
        { host: '127.0.0.1', port: DEV_PORT, path: '/health', ca, agent: false },
        (res) => {
          res.resume()
          resolve(res.statusCode ?? 0)
        },
      )
      req.on('error', reject)
      req.end()
    }),
    'answer from /health',
  )
  t.equal(health, 200, 'GET /health')

  child.kill('SIGTERM')
  t.same(await within(exited, 'exit after SIGTERM'), { code: 0, signal: null })
})

import { X509Certificate } from 'node:crypto'
import { chmodSync, chownSync, copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import { WebSocket } from 'ws'
import { makeCert } from './helpers/certs.js'
import { dropToNobody, isRoot, NOBODY, TEST_KEY } from './helpers/config.js'
import { httpsRequest, servedFingerprint } from './helpers/https.js'
import { freePort } from './helpers/ports.js'
import {
  isListening,
  requireBuild,
  spawnRelay,
  type LogLine,
  type Spawned,
} from './helpers/process.js'
import { requireOpenssl } from './helpers/tools.js'
import { kanbanRights, publishToken, subscriberToken } from './helpers/tokens.js'

const NEW_KEY = 'reloaded-key-' + 'x'.repeat(64)
const isReloaded = (l: LogLine) => l.msg === 'configuration reloaded'
const isReloadFailure = (l: LogLine) => /^reload failed/.test(String(l.msg))

/** A directory the relay's user (nobody, when the tests run as root) can read. */
function readableDir(t: Test): string {
  const dir = mkdtempSync(join(tmpdir(), 'tuleap-realtime-reload-'))
  t.teardown(() => {
    rmSync(dir, { recursive: true, force: true })
  })
  chmodSync(dir, 0o755)
  return dir
}

/** Let the relay's user read `file` after the privilege drop, as a certbot deploy hook would. */
function shareWithRelay(file: string): void {
  if (isRoot) chownSync(file, 0, NOBODY)
  chmodSync(file, 0o640)
}

/** SIGHUP, then the next reload line (success or failure) after the lines seen so far. */
async function hup(relay: Spawned): Promise<LogLine> {
  const from = relay.lines.length
  relay.child.kill('SIGHUP')
  return relay.waitForLine((l) => isReloaded(l) || isReloadFailure(l), 'reload line', from)
}

t.test('SIGHUP', async (t) => {
  if (!requireBuild(t) || !requireOpenssl(t)) return
  const dir = readableDir(t)
  const first = makeCert(dir, 'first')
  const second = makeCert(dir, 'second')
  const certFile = join(dir, 'cert.pem')
  const keyFile = join(dir, 'key.pem')
  const install = (pair: { certFile: string; keyFile: string }) => {
    copyFileSync(pair.certFile, certFile)
    copyFileSync(pair.keyFile, keyFile)
    shareWithRelay(certFile)
    shareWithRelay(keyFile)
  }
  install(first)
  const configFile = join(dir, 'config.json')
  const port = await freePort()
  const values = {
    nodejs_server_jwt_private_key: TEST_KEY,
    full_path_ssl_cert: certFile,
    full_path_ssl_key: keyFile,
    address: '127.0.0.1',
    port,
    log_level: 'info',
    ...dropToNobody,
  }
  const writeConfig = (over: Record<string, unknown>) => {
    writeFileSync(configFile, JSON.stringify({ ...values, ...over }))
    shareWithRelay(configFile)
  }
  writeConfig({})
  const relay = spawnRelay(t, [`--config=${configFile}`])
  await relay.waitForLine(isListening, 'listening line')
  const fingerprint = (cert: Buffer) => new X509Certificate(cert).fingerprint256
  t.equal(await servedFingerprint(port), fingerprint(first.cert), 'serves the first certificate')

  // A subscriber connected before the reload.
  const ws = new WebSocket(`wss://127.0.0.1:${port}/ws`, { ca: [first.cert, second.cert] })
  t.teardown(() => {
    ws.terminate()
  })
  const frames: Record<string, unknown>[] = []
  let wake: () => void = () => undefined
  ws.on('message', (data: Buffer) => {
    frames.push(JSON.parse(data.toString('utf8')) as Record<string, unknown>)
    wake()
  })
  ws.on('error', () => undefined)
  const nextFrame = async (): Promise<Record<string, unknown>> => {
    const deadline = Date.now() + 5000
    while (frames.length === 0 && Date.now() < deadline) {
      await new Promise<void>((resolve) => {
        wake = resolve
        setTimeout(resolve, 100)
      })
    }
    const frame = frames.shift()
    if (!frame) throw new Error('no frame within 5 s')
    return frame
  }
  t.match(await nextFrame(), { type: 'hello' })
  ws.send(
    JSON.stringify({
      type: 'subscribe',
      room_id: '42',
      token: subscriberToken(101, ['@site_active']),
      uuid: 'tab-a',
    }),
  )
  t.match(await nextFrame(), { type: 'subscribed', room_id: '42' })

  const publish = (key: string) =>
    httpsRequest(port, 'POST', '/message', {
      ca: second.cert,
      body: publishToken(
        { message: { room_id: '42', cmd: 'demo:ping', data: {}, rights: kanbanRights() } },
        key,
      ),
      headers: { 'content-type': 'application/jwt' },
    })

  t.test('a new certificate, key and log level: applied, connections kept', async (t) => {
    install(second)
    writeConfig({ nodejs_server_jwt_private_key: NEW_KEY, log_level: 'debug', port: port + 1 })
    const line = await hup(relay)
    t.match(line, {
      msg: 'configuration reloaded',
      level: 'info',
      key_changed: true,
      log_level: 'debug',
      certificate: { fingerprint256: fingerprint(second.cert) },
      restart_needed: ['port'],
    })
    t.notMatch(JSON.stringify(relay.lines), NEW_KEY, 'the new key is never logged')
    t.notMatch(JSON.stringify(relay.lines), TEST_KEY, 'nor the old one')
    t.equal(await servedFingerprint(port), fingerprint(second.cert), 'new handshakes: new cert')
    t.equal(ws.readyState, WebSocket.OPEN, 'the open WebSocket stays open')
    t.equal((await publish(TEST_KEY)).status, 401, 'the old key no longer publishes')
    const answer = await publish(NEW_KEY)
    t.equal(answer.status, 200, `the new key publishes: ${answer.text}`)
    t.match(await nextFrame(), { type: 'message', room_id: '42' }, 'to the connection kept')
    t.equal(relay.child.exitCode, null, 'still running')
  })

  t.test('a broken configuration: logged, the running state kept', async (t) => {
    writeFileSync(configFile, '{ "port": 443,, }')
    shareWithRelay(configFile)
    const line = await hup(relay)
    t.match(line, { level: 'error', msg: /^reload failed, still running as before: .*JSON/ })
    t.equal(await servedFingerprint(port), fingerprint(second.cert), 'same certificate')
    t.equal((await publish(NEW_KEY)).status, 200, 'same key')
    install(first)
    writeConfig({ nodejs_server_jwt_private_key: NEW_KEY, full_path_ssl_key: second.keyFile })
    shareWithRelay(second.keyFile)
    t.match(await hup(relay), { msg: /^reload failed.*do not load as a TLS pair/ })
    t.equal(await servedFingerprint(port), fingerprint(second.cert), 'a mismatched pair: kept')
  })

  t.test('an unreadable key file: the reason says who must read it', async (t) => {
    if (!isRoot) {
      t.plan(0, 'not root: the relay keeps its own user, every file it wrote stays readable')
      return
    }
    writeConfig({ nodejs_server_jwt_private_key: NEW_KEY })
    chownSync(keyFile, 0, 0)
    chmodSync(keyFile, 0o600)
    t.match(await hup(relay), { msg: /permission denied: a reload reads the files as process_uid/ })
    t.equal(await servedFingerprint(port), fingerprint(second.cert), 'kept')
  })

  t.test('a burst of SIGHUPs never stops the relay', async (t) => {
    install(first)
    writeConfig({ nodejs_server_jwt_private_key: NEW_KEY })
    for (let i = 0; i < 5; i++) relay.child.kill('SIGHUP')
    const from = relay.lines.length
    await hup(relay)
    await relay.waitForLine(isReloaded, 'reload', from)
    t.equal(relay.child.exitCode, null, 'still running')
    t.equal(await servedFingerprint(port), fingerprint(first.cert))
    const health = await httpsRequest(port, 'GET', '/health', { ca: first.cert })
    t.equal(health.status, 200)
  })
})

t.test('SIGHUP and the key from the environment', async (t) => {
  if (!requireBuild(t)) return
  const OTHER_KEY = 'file-edited-key-' + 'y'.repeat(64)
  /** A relay on plain HTTP (loopback), its key from `env`, its config file without a key. */
  const start = async (t: Test, env: NodeJS.ProcessEnv) => {
    const dir = readableDir(t)
    const configFile = join(dir, 'config.json')
    const port = await freePort()
    const values = { tls: false, address: '127.0.0.1', port, log_level: 'info', ...dropToNobody }
    const writeConfig = (over: Record<string, unknown> = {}) => {
      writeFileSync(configFile, JSON.stringify({ ...values, ...over }))
      shareWithRelay(configFile)
    }
    writeConfig()
    const relay = spawnRelay(t, [`--config=${configFile}`], { env })
    const publish = async (key: string): Promise<number> => {
      const res = await fetch(`http://127.0.0.1:${port}/message`, {
        method: 'POST',
        headers: { 'content-type': 'application/jwt' },
        body: publishToken({ message: { room_id: '42', cmd: 'demo:ping', data: {} } }, key),
      })
      await res.arrayBuffer()
      return res.status
    }
    return { relay, writeConfig, publish }
  }

  t.test(
    'PRIVATE_KEY_FILE is read again: the new key publishes, the old one gets 401',
    async (t) => {
      const dir = readableDir(t)
      const keyFile = join(dir, 'relay_key')
      writeFileSync(keyFile, `${TEST_KEY}\n`)
      shareWithRelay(keyFile)
      const { relay, publish } = await start(t, { PRIVATE_KEY_FILE: keyFile })
      await relay.waitForLine(isListening, 'listening line')
      t.equal(await publish(TEST_KEY), 200, 'the key of the file at start')
      // A rotated secret, as Kubernetes or an operator writes it: the file's content changes.
      writeFileSync(keyFile, `${NEW_KEY}\n`)
      t.match(await hup(relay), { msg: 'configuration reloaded', key_changed: true })
      t.equal(await publish(NEW_KEY), 200, 'the new key publishes')
      t.equal(await publish(TEST_KEY), 401, 'the old key no longer does')
      t.notMatch(JSON.stringify(relay.lines), NEW_KEY, 'the new key is never logged')
    },
  )

  t.test('PRIVATE_KEY is fixed at start, and wins over the file on reload', async (t) => {
    const { relay, writeConfig, publish } = await start(t, { PRIVATE_KEY: TEST_KEY })
    await relay.waitForLine(isListening, 'listening line')
    // The operator puts a new key in config.json; the environment still overrides it.
    writeConfig({ nodejs_server_jwt_private_key: OTHER_KEY })
    t.match(await hup(relay), { msg: 'configuration reloaded', key_changed: false })
    t.equal(await publish(TEST_KEY), 200, 'the key of the environment still publishes')
    t.equal(await publish(OTHER_KEY), 401, "the config file's key does not")
  })
})

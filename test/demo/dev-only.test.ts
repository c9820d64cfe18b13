/**
 * The demo exists in development mode only: the real process serves it without --config
 * and never with one, and never even loads its code with one.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { devCert, devDir, freePort, httpsGet, startRelay } from './dev-relay.js'
import { dropToNobody } from '../helpers/config.js'
import { moduleRecorder } from '../helpers/module-recorder.js'
import { requireBuild } from '../helpers/process.js'
import { requireOpenssl } from '../helpers/tools.js'

t.test('the demo is served in development mode and never with --config', async (t) => {
  if (!requireBuild(t)) return
  if (!requireOpenssl(t, 'cannot make the development certificate')) return
  const dir = devDir(t)
  const port = await freePort()

  const devModules = moduleRecorder(dir, 'dev-modules')
  const dev = await startRelay(t, { port, dev: dir, nodeArgs: devModules.nodeArgs })
  await dev.waitFor(`Kanban demo: https://127.0.0.1:${port}/demo/`)
  t.pass('the banner names the demo')
  const ca = devCert(dir)
  const page = await httpsGet(port, '/demo/', ca)
  t.equal(page.status, 200, 'GET /demo/')
  t.match(page.headers['content-type'], /^text\/html/)
  t.match(page.text, '<script type="module" src="/demo/assets/demo/browser/main.js">')
  t.match(page.headers['content-security-policy'], "default-src 'self'")
  const script = await httpsGet(port, '/demo/assets/demo/browser/main.js', ca)
  t.equal(script.status, 200, 'the page script')
  t.match(script.headers['content-type'], /^text\/javascript/)
  t.equal((await httpsGet(port, '/demo/assets/client/index.js', ca)).status, 200, 'the client')
  t.equal((await httpsGet(port, '/demo/api/board?user=alice', ca)).status, 200, 'the board')
  t.same(await dev.stop(), { code: 0, signal: null })
  t.ok(existsSync(join(dir, 'demo-board.json')), 'the board file is in the development folder')
  t.ok(
    devModules.loaded().some((url) => url.endsWith('/dist/src/demo/plugin.js')),
    'development mode loads the demo',
  )

  // The same key and certificate, from a config file: no demo.
  const key = (
    JSON.parse(readFileSync(join(dir, 'dev-config.json'), 'utf8')) as Record<string, unknown>
  ).nodejs_server_jwt_private_key
  const configFile = join(dir, 'config.json')
  writeFileSync(
    configFile,
    JSON.stringify({
      nodejs_server_jwt_private_key: key,
      full_path_ssl_cert: join(dir, 'dev-cert.pem'),
      full_path_ssl_key: join(dir, 'dev-key.pem'),
      address: '127.0.0.1',
      port,
      ...dropToNobody,
    }),
  )
  const modules = moduleRecorder(dir)
  const configured = await startRelay(t, {
    port,
    args: [`--config=${configFile}`],
    nodeArgs: modules.nodeArgs,
  })
  t.notMatch(configured.output(), 'Kanban demo')
  for (const path of [
    '/demo',
    '/demo/',
    '/demo/api/token?user=alice',
    '/demo/api/board?user=alice',
    '/demo/assets/client/index.js',
  ]) {
    const answer = await httpsGet(port, path, ca)
    t.equal(answer.status, 404, `GET ${path} with --config`)
  }
  t.equal((await httpsGet(port, '/health', ca)).status, 200, 'the relay itself answers')
  t.same(await configured.stop(), { code: 0, signal: null })
  const loaded = modules.loaded()
  const started = loaded.some((url) => url.endsWith('/src/main.js'))
  t.ok(started, 'the recorder saw the relay start')
  t.same(
    loaded.filter((url) => url.includes('/demo/')),
    [],
    'with --config, no demo module',
  )
})

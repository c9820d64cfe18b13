/**
 * `tuleap-realtime health`: exit 0 when the relay's /health answers 200, 1 with one line
 * otherwise; the URL from the configured port and TLS (the environment alone works, as in
 * the container image), or from --url.
 */
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import t from 'tap'
import { health, healthUrl } from '../../src/cli/health.js'
import { buildApp } from '../../src/app.js'
import { TEST_KEY, testConfig } from '../helpers/config.js'
import { collectIo } from '../helpers/fakes.js'
import { freePort } from '../helpers/ports.js'
import { startRelay } from '../helpers/relay.js'

t.test('healthUrl: loopback, the port, https unless tls is false', async (t) => {
  t.equal(healthUrl(testConfig({ port: 8443 })).href, 'https://127.0.0.1:8443/health')
  t.equal(
    healthUrl(testConfig({ tls: false, address: '::1', port: 8080 })).href,
    'http://[::1]:8080/health',
  )
  t.equal(
    healthUrl(
      testConfig({
        tls: false,
        plain_http_on_any_address: true,
        address: '0.0.0.0',
        port: 8080,
      }),
    ).href,
    'http://127.0.0.1:8080/health',
  )
})

t.test('over TLS, from the environment alone (self-signed certificate)', async (t) => {
  const relay = await startRelay(t)
  const io = collectIo({
    PRIVATE_KEY: TEST_KEY,
    TULEAP_REALTIME_PORT: String(relay.port),
    TULEAP_REALTIME_ADDRESS: '127.0.0.1',
  })
  t.equal(await health.run([], io), 0)
  t.same(io.outLines, [`health: https://127.0.0.1:${relay.port}/health ok`])
})

t.test('plain HTTP behind a proxy, with --url', async (t) => {
  const app = await buildApp(testConfig({ tls: false, address: '127.0.0.1' }), { tls: null })
  await app.listen({ port: 0, host: '127.0.0.1' })
  t.teardown(() => app.close())
  const port = (app.server.address() as AddressInfo).port
  const io = collectIo()
  t.equal(await health.run([`--url=http://127.0.0.1:${port}`], io), 0)
  t.same(io.errLines, [])
})

t.test('nothing listening: exit 1, one line', async (t) => {
  const port = await freePort()
  const io = collectIo()
  t.equal(await health.run([`--url=http://127.0.0.1:${port}`, '--timeout=2s'], io), 1)
  t.match(io.errLines, [new RegExp(`^health: http://127.0.0.1:${port}/health: .*ECONNREFUSED`)])
})

t.test('not 200: exit 1, the status', async (t) => {
  const server = createServer((_req, res) => {
    res.statusCode = 503
    res.end('{"status":"starting"}')
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())))
  const port = (server.address() as AddressInfo).port
  const io = collectIo()
  t.equal(await health.run([`--url=http://127.0.0.1:${port}/anything`], io), 1)
  t.same(io.errLines, [`health: http://127.0.0.1:${port}/health answered 503`])
})

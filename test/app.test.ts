/** buildApp's TLS server: ALPN as Node's https default, chosen by selectHttp11. */
import { connect as tlsConnect } from 'node:tls'
import t from 'tap'
import { buildApp, selectHttp11 } from '../src/app.js'
import { testCert } from './helpers/certs.js'
import { testConfig } from './helpers/config.js'
import { logSink } from './helpers/logs.js'
import { startRelay } from './helpers/relay.js'

t.test('selectHttp11 picks HTTP/1.1 or nothing', async (t) => {
  t.equal(selectHttp11({ protocols: ['h2', 'http/1.1'] }), 'http/1.1')
  t.equal(selectHttp11({ protocols: ['http/1.1'] }), 'http/1.1')
  t.equal(selectHttp11({ protocols: ['h2', 'http/1.0'] }), undefined)
})

t.test('ALPN over the real TLS server', async (t) => {
  const relay = await startRelay(t)
  const handshake = (offer: string[] | undefined) =>
    new Promise<string | false>((resolve, reject) => {
      const socket = tlsConnect({
        host: '127.0.0.1',
        port: relay.port,
        ca: testCert().cert,
        ...(offer ? { ALPNProtocols: offer } : {}),
      })
      socket.on('secureConnect', () => {
        resolve(socket.alpnProtocol ?? false)
        socket.end()
      })
      socket.on('error', reject)
    })
  t.equal(await handshake(['h2', 'http/1.1']), 'http/1.1', 'HTTP/1.1 chosen among offers')
  t.equal(await handshake(undefined), false, 'a client without ALPN is served')
  await t.rejects(
    handshake(['h2']),
    { code: 'ERR_SSL_TLSV1_ALERT_NO_APPLICATION_PROTOCOL' },
    'a client speaking only h2 is refused at the handshake, as by Node’s default',
  )
  t.equal((await relay.request('GET', '/health')).status, 200)
  t.equal(
    (relay.app.server as { ALPNProtocols?: unknown }).ALPNProtocols,
    undefined,
    'no ALPN list for Node to copy into every TLS socket',
  )
})

t.test("a request's log lines carry its id, through the deferred request logger", async (t) => {
  const sink = logSink()
  const app = await buildApp(testConfig(), { tls: null, logger: sink.logger })
  t.teardown(() => app.close())
  app.get('/fails', () => {
    throw new Error('it broke')
  })
  const answer = await app.inject({ method: 'GET', url: '/fails', headers: { host: 'relay' } })
  t.equal(answer.statusCode, 500)
  const line = sink.lines.find((l) => l.msg === 'request failed')
  t.match(line, { level: 'error', reqId: /^req-/, err: { message: 'it broke', type: 'Error' } })
})

/**
 * HTTP(S) limits: what a slow, silent or oversized client can hold. The
 * configured values are read back from the server; each mechanism is then exercised over
 * real sockets, some with the server's timeout shortened for the test (Node reads those
 * at check time) so that the suite stays fast, the TLS handshake, idle and request
 * bounds at their real values, concurrently with the rest of the file.
 */
import { request as httpsRequest } from 'node:https'
import { connect as netConnect, type Socket } from 'node:net'
import { connect as tlsConnect, type TLSSocket } from 'node:tls'
import t from 'tap'
import { WebSocket } from 'ws'
import { HTTP_LIMITS } from '../../src/app.js'
import { testCert } from '../helpers/certs.js'
import { startRelay } from '../helpers/relay.js'
import { within } from './hostile.js'

const cert = testCert()
const relay = await startRelay(t)
const server = relay.app.server

/** A raw TLS connection to the relay, once its handshake is done. */
async function rawTls(port = relay.port): Promise<TLSSocket> {
  const socket = tlsConnect({ host: '127.0.0.1', port, ca: cert.cert })
  socket.on('error', () => undefined)
  await within(
    new Promise<void>((resolve) => socket.once('secureConnect', () => resolve())),
    5000,
    'TLS handshake',
  )
  return socket
}

/** When `socket` closes, ms after `from`, and everything it received. */
function watch(socket: Socket, from = Date.now()): Promise<{ after: number; received: string }> {
  let received = ''
  socket.on('data', (chunk: Buffer) => (received += chunk.toString('latin1')))
  return new Promise((resolve) =>
    socket.once('close', () => {
      resolve({ after: Date.now() - from, received })
    }),
  )
}

// Started now, checked in the last test: the real bounds run alongside the other tests,
// against a relay of their own whose timeouts no test shortens.
const untouched = await startRelay(t)
const opened = Date.now()
const tcpOnly = netConnect({ host: '127.0.0.1', port: untouched.port })
tcpOnly.on('error', () => undefined)
const tcpOnlyClosed = watch(tcpOnly, opened)
const silentTls = await rawTls(untouched.port)
const silentTlsClosed = watch(silentTls)
// A body sent one byte every 100 ms: complete headers, so only the request timeout applies.
const slowBody = await rawTls(untouched.port)
const slowBodyClosed = watch(slowBody)
slowBody.write(
  'POST /message HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/jwt\r\n' +
    'Content-Length: 100000\r\n\r\n',
)
const drip = setInterval(() => slowBody.write('a'), 100)
t.teardown(() => clearInterval(drip))

/**
 * Run `fn` with a server timeout shortened to `value`, then put it back. Node reads these
 * two at check time (requestTimeout it does not: it is exercised at its real value).
 */
async function withServer(
  key: 'headersTimeout' | 'keepAliveTimeout',
  value: number,
  fn: () => Promise<void>,
): Promise<void> {
  const saved = server[key]
  server[key] = value
  try {
    await fn()
  } finally {
    server[key] = saved
  }
}

t.test('the configured limits are the server’s', async (t) => {
  t.equal(server.headersTimeout, HTTP_LIMITS.headersTimeoutMs, 'headersTimeout')
  t.equal(server.requestTimeout, HTTP_LIMITS.requestTimeoutMs, 'requestTimeout')
  t.equal(server.keepAliveTimeout, HTTP_LIMITS.keepAliveTimeoutMs, 'keepAliveTimeout')
  t.equal(server.timeout, HTTP_LIMITS.idleTimeoutMs, 'idle socket timeout (connectionTimeout)')
  t.equal(
    (server as unknown as { maxHeaderSize: number }).maxHeaderSize,
    HTTP_LIMITS.maxHeaderSize,
    'maxHeaderSize',
  )
  t.equal(
    (server as unknown as { connectionsCheckingInterval: number }).connectionsCheckingInterval,
    HTTP_LIMITS.timeoutCheckIntervalMs,
    'timeouts are checked every second',
  )
})

t.test('slow headers, one byte at a time: 408 and disconnected', async (t) => {
  const headersTimeout = 1000
  await withServer('headersTimeout', headersTimeout, async () => {
    const socket = await rawTls()
    const closed = watch(socket)
    socket.write('GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ')
    const drip = setInterval(() => socket.write('a'), 100)
    t.teardown(() => clearInterval(drip))
    const { after, received } = await within(closed, 10_000, 'slow-header disconnect')
    clearInterval(drip)
    t.match(received, /^HTTP\/1\.1 408 /, '408 Request Timeout')
    t.ok(
      after < headersTimeout + HTTP_LIMITS.timeoutCheckIntervalMs + 1000,
      `disconnected ${after} ms after its first byte, while still sending`,
    )
  })
  t.equal((await relay.request('GET', '/health')).status, 200, 'others are served')
})

t.test('headers over 16 KiB: 431', async (t) => {
  const get = (header: string) =>
    new Promise<number>((resolve, reject) => {
      const req = httpsRequest(
        {
          host: '127.0.0.1',
          port: relay.port,
          path: '/health',
          ca: cert.cert,
          agent: false,
          headers: { 'x-big': header },
        },
        (res) => {
          res.resume()
          resolve(res.statusCode ?? 0)
        },
      )
      req.on('error', reject)
      req.end()
    })
  t.equal(await get('a'.repeat(15 * 1024)), 200, '15 KiB of headers are served')
  t.equal(await get('a'.repeat(17 * 1024)), 431, '17 KiB: 431')
  t.equal(await get('a'.repeat(1024 * 1024)), 431, '1 MiB: 431, not read whole')
  t.equal((await relay.request('GET', '/health')).status, 200, 'others are served')
})

t.test('an idle keep-alive socket is closed after keepAliveTimeout', async (t) => {
  const keepAlive = 1000
  await withServer('keepAliveTimeout', keepAlive, async () => {
    const socket = await rawTls()
    let received = ''
    const answered = new Promise<number>((resolve) => {
      socket.on('data', (chunk: Buffer) => {
        received += chunk.toString('latin1')
        if (received.includes('"status"')) resolve(Date.now())
      })
    })
    const closed = new Promise<number>((resolve) => socket.once('close', () => resolve(Date.now())))
    socket.write('GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: keep-alive\r\n\r\n')
    const at = await within(answered, 5000, 'the answer')
    t.match(received, /^HTTP\/1\.1 200 /)
    t.match(received, /Keep-Alive: timeout=1\r\n/, 'the client is told the timeout')
    const idle = (await within(closed, 5000, 'keep-alive close')) - at
    // Node closes one second after the advertised timeout, so that the client closes first.
    t.ok(idle >= keepAlive - 100 && idle < keepAlive + 2500, `closed after ${idle} ms idle`)
  })
})

t.test('WebSocket compression is off, even when the client offers it', async (t) => {
  const ws = new WebSocket(`wss://127.0.0.1:${relay.port}/ws`, {
    ca: cert.cert,
    perMessageDeflate: { clientMaxWindowBits: 15, serverNoContextTakeover: true },
  })
  t.teardown(() => ws.terminate())
  // 'open' follows 'upgrade' in the same tick: listen for both before awaiting either.
  const opened = new Promise((resolve) => ws.once('open', resolve))
  const headers = await within(
    new Promise<Record<string, unknown>>((resolve, reject) => {
      ws.once('upgrade', (res) => resolve(res.headers))
      ws.once('error', reject)
    }),
    5000,
    'upgrade',
  )
  t.equal(headers['sec-websocket-extensions'], undefined, 'no Sec-WebSocket-Extensions')
  await within(opened, 5000, 'open')
  t.equal(ws.extensions, '', 'no extension negotiated')

  // The same with a hand-written offer, as a browser sends it.
  const status = await new Promise<{ code: number; ext: unknown }>((resolve, reject) => {
    const req = httpsRequest({
      host: '127.0.0.1',
      port: relay.port,
      path: '/ws',
      ca: cert.cert,
      agent: false,
      headers: {
        connection: 'Upgrade',
        upgrade: 'websocket',
        'sec-websocket-version': '13',
        'sec-websocket-key': Buffer.from('0123456789abcdef').toString('base64'),
        'sec-websocket-extensions': 'permessage-deflate; client_max_window_bits',
      },
    })
    req.on('upgrade', (res, socket) => {
      socket.destroy()
      resolve({ code: res.statusCode ?? 0, ext: res.headers['sec-websocket-extensions'] })
    })
    req.on('error', reject)
    req.end()
  })
  t.same(status, { code: 101, ext: undefined })
})

t.test('silent and slow sockets are dropped at the real bounds', { timeout: 60_000 }, async (t) => {
  const tcp = await within(tcpOnlyClosed, HTTP_LIMITS.handshakeTimeoutMs + 5000, 'no handshake')
  t.ok(
    tcp.after >= HTTP_LIMITS.handshakeTimeoutMs - 500 &&
      tcp.after < HTTP_LIMITS.handshakeTimeoutMs + 2000,
    `a TCP connection that never starts TLS is dropped after ${tcp.after} ms (handshake timeout)`,
  )
  const tls = await within(silentTlsClosed, HTTP_LIMITS.idleTimeoutMs + 5000, 'silent TLS')
  t.ok(
    tls.after >= HTTP_LIMITS.idleTimeoutMs - 500 && tls.after < HTTP_LIMITS.idleTimeoutMs + 2000,
    `a TLS connection that never sends a byte is dropped after ${tls.after} ms (idle and headers timeouts)`,
  )
  const body = await within(slowBodyClosed, HTTP_LIMITS.requestTimeoutMs + 10_000, 'slow body')
  clearInterval(drip)
  t.match(body.received, /^HTTP\/1\.1 408 /, 'a body trickled byte by byte gets 408')
  t.ok(
    body.after >= HTTP_LIMITS.requestTimeoutMs - 500 &&
      body.after < HTTP_LIMITS.requestTimeoutMs + 2000,
    `and is dropped after ${body.after} ms (request timeout ${HTTP_LIMITS.requestTimeoutMs} ms)`,
  )
  t.equal((await untouched.request('GET', '/health')).status, 200)
})

import type { AddressInfo } from 'node:net'
import type { FastifyInstance } from 'fastify'
import { WebSocket, type ClientOptions } from 'ws'
import { buildApp } from '../../src/app.js'
import type { Broker } from '../../src/broker/broker.js'
import type { Config } from '../../src/config.js'
import type { Logger } from '../../src/log.js'
import { testCert } from './certs.js'
import { testConfig } from './config.js'
import { httpsRequest, type HttpAnswer } from './https.js'
import { publishToken } from './tokens.js'

/** The subset of tap's Test that helpers use. */
export interface Teardown {
  teardown(fn: () => unknown): void
}

/** A JSON frame received by a test client. */
export type Frame = Record<string, unknown> & { type: string }

export type { HttpAnswer } from './https.js'

/**
 * A real `ws` client that queues every frame it receives, so tests can assert exact
 * sequences: `next()` is the next frame, whatever it is.
 */
export class TestClient {
  readonly frames: Frame[] = []
  private waiters: (() => void)[] = []
  readonly closed: Promise<{ code: number; reason: string }>
  readonly opened: Promise<void>

  constructor(readonly ws: WebSocket) {
    ws.on('message', (data) => {
      this.frames.push(JSON.parse((data as Buffer).toString('utf8')) as Frame)
      this.wake()
    })
    this.opened = new Promise((resolve, reject) => {
      ws.once('open', () => {
        resolve()
      })
      ws.once('error', reject)
    })
    this.closed = new Promise((resolve) => {
      ws.once('close', (code, reason) => {
        resolve({ code, reason: reason.toString() })
        this.wake()
      })
    })
    ws.on('error', () => undefined)
  }

  private wake(): void {
    const waiters = this.waiters
    this.waiters = []
    for (const w of waiters) w()
  }

  /** Send one JSON frame. */
  send(frame: unknown): void {
    this.ws.send(JSON.stringify(frame))
  }

  /** The next frame received, within `timeoutMs`. */
  async next(timeoutMs = 3000): Promise<Frame> {
    const deadline = Date.now() + timeoutMs
    while (this.frames.length === 0) {
      if (this.ws.readyState === WebSocket.CLOSED)
        throw new Error('socket closed while waiting for a frame')
      const left = deadline - Date.now()
      if (left <= 0) throw new Error(`no frame within ${timeoutMs} ms`)
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left)
        this.waiters.push(() => {
          clearTimeout(timer)
          resolve()
        })
      })
    }
    return this.frames.shift()!
  }

  /** The next frame whose type is not `type` (those are dropped), each within `timeoutMs`. */
  async nextExcept(type: string, timeoutMs = 3000): Promise<Frame> {
    for (;;) {
      const frame = await this.next(timeoutMs)
      if (frame.type !== type) return frame
    }
  }

  /** Resolves true if no frame arrives within `ms`. */
  async silentFor(ms: number): Promise<boolean> {
    await new Promise((resolve) => setTimeout(resolve, ms))
    return this.frames.length === 0
  }

  /** Subscribe and return the `subscribed` answer (fails on anything else). */
  async subscribe(frame: Record<string, unknown>): Promise<Frame> {
    this.send({ type: 'subscribe', ...frame })
    return this.next()
  }

  /** Close the socket (1000, or ws's default). */
  close(): void {
    this.ws.close()
  }
}

/**
 * A `since` for a resuming subscribe (docs/protocol.md §6): `offset` in the epoch that
 * `frame` (a `subscribed` or `message` frame) names.
 */
export const positionIn = (frame: Frame, offset: number): { epoch: unknown; offset: number } => ({
  epoch: frame.epoch,
  offset,
})

/** A fresh page on `relay` that subscribes with `frame` (often a `since`): the answer. */
export async function subscribeNew(
  relay: { connect(): Promise<TestClient> },
  frame: Record<string, unknown>,
): Promise<Frame> {
  return (await relay.connect()).subscribe(frame)
}

/** `client` once open and greeted: fails on anything but a `hello` first. */
export async function helloOf(client: TestClient): Promise<TestClient> {
  await client.opened
  const hello = await client.next()
  if (hello.type !== 'hello') throw new Error(`expected hello, got ${JSON.stringify(hello)}`)
  return client
}

/** A relay started for one test, over real TLS on port 0, closed at teardown. */
export interface TestRelay {
  readonly app: FastifyInstance
  readonly config: Config
  readonly port: number
  readonly url: string
  /** Open a WebSocket to /ws and wait for its `hello`. */
  connect(options?: ClientOptions & { path?: string }): Promise<TestClient>
  /** Open a WebSocket and return it without waiting for anything. */
  open(options?: ClientOptions & { path?: string }): TestClient
  /** POST a raw body to /message. */
  post(
    body: string | Buffer,
    contentType?: string,
    headers?: Record<string, string>,
  ): Promise<HttpAnswer>
  /** Sign `claims` as a publish token and POST it. */
  publish(claims: Record<string, unknown>): Promise<HttpAnswer>
  /** Any HTTPS request. */
  request(
    method: string,
    path: string,
    body?: string | Buffer,
    headers?: Record<string, string>,
  ): Promise<HttpAnswer>
}

/** Start the real app (TLS, port 0) with `values` over the test config. */
export async function startRelay(
  t: Teardown,
  values: Record<string, unknown> = {},
  options: { broker?: Broker; logger?: Logger } = {},
): Promise<TestRelay> {
  const cert = testCert()
  const config = testConfig(values)
  const app = await buildApp(config, { tls: { cert: cert.cert, key: cert.key }, ...options })

  await app.listen({ port: 0, host: '127.0.0.1' })
  const port = (app.server.address() as AddressInfo).port
  const clients: TestClient[] = []
  t.teardown(async () => {
    for (const c of clients) c.ws.terminate()
    await app.close()
  })
  const url = `https://127.0.0.1:${port}`

  const request = (
    method: string,
    path: string,
    body?: string | Buffer,
    headers: Record<string, string> = {},
  ) => httpsRequest(port, method, path, { ca: cert.cert, body, headers })

  const open = (options: ClientOptions & { path?: string } = {}) => {
    const { path = '/ws', ...rest } = options
    const client = new TestClient(
      new WebSocket(`wss://127.0.0.1:${port}${path}`, { ca: cert.cert, ...rest }),
    )
    clients.push(client)
    return client
  }

  return {
    app,
    config,
    port,
    url,
    request,
    open,
    connect: (options) => helloOf(open(options)),
    post: (body, contentType = 'application/jwt', headers = {}) =>
      request('POST', '/message', body, { 'content-type': contentType, ...headers }),
    publish: (claims) =>
      request('POST', '/message', publishToken(claims), { 'content-type': 'application/jwt' }),
  }
}

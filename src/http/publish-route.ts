import type { FastifyInstance, FastifyRequest } from 'fastify'
import type { TokenVerifier } from '../auth/token.js'
import type { Broker } from '../broker/broker.js'
import { isLoopbackAddress, type Config } from '../config.js'
import { RelayError } from '../errors.js'
import { parseMessage, type Message } from '../protocol/message.js'
import { publishMessages } from './publisher.js'
import type { RelayMetrics } from '../metrics.js'
import { RateLimiter } from './rate-limit.js'

/** What the publish route needs. */
export interface PublishRouteOptions {
  readonly config: Config
  readonly verifier: TokenVerifier
  readonly broker: Broker
  readonly metrics: RelayMetrics
}

/** Headers a reverse proxy adds: a request carrying one did not come from loopback itself. */
const PROXY_HEADERS = ['forwarded', 'x-forwarded-for', 'x-real-ip']

function fromLoopbackDirectly(request: FastifyRequest): boolean {
  if (PROXY_HEADERS.some((h) => request.headers[h] !== undefined)) return false
  return isLoopbackAddress(request.socket.remoteAddress ?? '')
}

function parseMessages(raw: readonly unknown[], single: boolean): Message[] {
  return raw.map((m, i) => parseMessage(m, single ? 'message' : `messages[${i}]`))
}

function unsignedMessages(request: FastifyRequest): Message[] {
  if (!fromLoopbackDirectly(request)) throw new RelayError('RELAY_ERR_AUTH_UNSIGNED_NOT_LOOPBACK')
  let body: unknown
  try {
    body = JSON.parse(request.body as string)
  } catch {
    throw new RelayError('RELAY_ERR_PUBLISH_BAD_BODY', 'the body is not valid JSON')
  }
  return parseMessages([body], true)
}

/** `POST /message` (docs/protocol.md §3): the backend publishes a signed token. */
export async function publishRoute(app: FastifyInstance, opts: PublishRouteOptions): Promise<void> {
  const { config, verifier, broker } = opts
  // Two budgets per address: accepted publishes draw on `published`,
  // refused requests (unsigned, bad signature, malformed...) on `refused`, so a flood of
  // bad requests cannot use up a signed publisher's allowance. `published` is checked in
  // onRequest, before a byte of the body is read. Which budget a request belongs to is
  // only known once its token is checked: past its `refused` budget an address's bad
  // requests are answered 429 instead of their error (each still bounded by
  // max_publish_bytes and the request timeout), while its signed ones go through.
  const published = new RateLimiter(config.publish_rate_per_minute, 60_000)
  const refused = new RateLimiter(config.publish_rate_per_minute, 60_000)
  app.addHook('onClose', (_app, done) => {
    published.stop()
    refused.stop()
    done()
  })
  // The client: behind a trusted proxy, the nearest untrusted hop (trusted_proxies).
  const peer = (request: FastifyRequest): string => request.ip

  app.removeAllContentTypeParsers()
  const asString = { parseAs: 'string' as const, bodyLimit: config.max_publish_bytes }
  const keep = (
    _req: FastifyRequest,
    body: string | Buffer,
    done: (err: null, body: string) => void,
  ): void => {
    done(null, body as string)
  }
  app.addContentTypeParser(['application/jwt', 'text/plain'], asString, keep)
  if (config.allow_unsigned_loopback_publish) {
    app.addContentTypeParser('application/json', asString, keep)
  }

  app.post('/message', {
    bodyLimit: config.max_publish_bytes,
    onRequest: (request, _reply, done) => {
      const key = peer(request)
      if (published.exhausted(key)) done(new RelayError('RELAY_ERR_RATE_LIMITED'))
      else done()
    },
    onResponse: (request, reply, done) => {
      const status = reply.statusCode
      // A 429 draws on nothing: the budgets it protects are already spent.
      if (status < 400) published.take(peer(request))
      else if (status !== 429) refused.take(peer(request))
      done()
    },
    handler: async (request) => {
      try {
        return await publish(request)
      } catch (err) {
        if (refused.exhausted(peer(request)) && err instanceof RelayError && err.status < 500) {
          throw new RelayError('RELAY_ERR_RATE_LIMITED')
        }
        throw err
      }
    },
  })

  async function publish(request: FastifyRequest): Promise<unknown> {
    const type = (request.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase()
    let messages: Message[]
    let jti: string | null = null
    if (type === 'application/json') {
      messages = unsignedMessages(request)
    } else {
      const claims = verifier.verifyPublish(
        typeof request.body === 'string' ? request.body.trim() : undefined,
      )
      messages = parseMessages(claims.messages, claims.single)
      jti = claims.jti
    }
    const result = await publishMessages(broker, messages, jti)
    if (result.duplicate !== true) opts.metrics.published(result.accepted.length)
    return result
  }

  app.route({
    method: ['GET', 'PUT', 'DELETE', 'PATCH'],
    url: '/message',
    handler: async () => {
      throw new RelayError('RELAY_ERR_HTTP_METHOD', 'POST /message only')
    },
  })
}

import type { FastifyInstance, FastifyRequest } from 'fastify'
import type { TokenVerifier } from '../auth/token.js'
import type { Broker } from '../broker/broker.js'
import { isLoopbackAddress, type Config } from '../config.js'
import { RelayError } from '../errors.js'
import { parseMessage, type Message } from '../hub/message.js'
import { publishMessages } from '../hub/publisher.js'
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

/** `POST /message` (PROTOCOL §3): the backend publishes a signed token. */
export async function publishRoute(app: FastifyInstance, opts: PublishRouteOptions): Promise<void> {
  const { config, verifier, broker } = opts
  const limiter = new RateLimiter(config.publish_rate_per_minute, 60_000)
  app.addHook('onClose', (_app, done) => {
    limiter.stop()
    done()
  })

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

  app.post('/message', { bodyLimit: config.max_publish_bytes }, async (request) => {
    if (!limiter.take(request.ip)) throw new RelayError('RELAY_ERR_RATE_LIMITED')
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
  })

  app.route({
    method: ['GET', 'PUT', 'DELETE', 'PATCH'],
    url: '/message',
    handler: async () => {
      throw new RelayError('RELAY_ERR_HTTP_METHOD', 'POST /message only')
    },
  })
}

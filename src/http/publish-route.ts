import type { FastifyInstance, FastifyRequest } from 'fastify'
import type { TokenVerifier } from '../auth/token.js'
import type { Broker } from '../broker/broker.js'
import { isLoopbackAddress, type Config } from '../config.js'
import { RelayError } from '../errors.js'
import { parseMessage, type Message } from '../hub/message.js'
import { publishMessages } from '../hub/publisher.js'
import { RateLimiter } from './rate-limit.js'

/** What the publish route needs. */
export interface PublishRouteOptions {
  readonly config: Config
  readonly verifier: TokenVerifier
  readonly broker: Broker
}

/** Headers a reverse proxy adds: a request carrying one did not come from loopback itself. */
const PROXY_HEADERS = ['forwarded', 'x-forwarded-for', 'x-real-ip']

function fromLoopbackDirectly(request: FastifyRequest): boolean {
  if (PROXY_HEADERS.some((h) => request.headers[h] !== undefined)) return false
  return isLoopbackAddress(request.socket.remoteAddress ?? '')
}

/**
 * Deepest nesting of objects and arrays a message's `data` may have: PHP's json_encode
 * default depth, so Tuleap never reaches it. The relay serialises `data` into every
 * subscriber's frame with JSON.stringify, which recurses and overflows the stack a few
 * thousand levels down; such a message, once in history, would fail every delivery and
 * every replay of its room. It is refused here instead, before it is stored.
 */
export const MAX_DATA_DEPTH = 512

/** Whether objects and arrays in `value` nest deeper than `max`; iterative, for any depth. */
export function nestedDeeperThan(value: unknown, max: number): boolean {
  const stack: { value: unknown; depth: number }[] = [{ value, depth: 1 }]
  for (let top = stack.pop(); top !== undefined; top = stack.pop()) {
    if (typeof top.value !== 'object' || top.value === null) continue
    if (top.depth > max) return true
    const children = Array.isArray(top.value) ? (top.value as unknown[]) : Object.values(top.value)
    for (const child of children) stack.push({ value: child, depth: top.depth + 1 })
  }
  return false
}

function parseMessages(raw: readonly unknown[], single: boolean): Message[] {
  return raw.map((m, i) => {
    const where = single ? 'message' : `messages[${i}]`
    const message = parseMessage(m, where)
    if (nestedDeeperThan(message.data, MAX_DATA_DEPTH)) {
      throw new RelayError(
        'RELAY_ERR_PUBLISH_BAD_MESSAGE',
        `${where}.data nests objects and arrays deeper than ${MAX_DATA_DEPTH} levels`,
      )
    }
    return message
  })
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
    if (!limiter.take(request.socket.remoteAddress ?? ''))
      throw new RelayError('RELAY_ERR_RATE_LIMITED')
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
    return publishMessages(broker, messages, jti)
  })

  app.route({
    method: ['GET', 'PUT', 'DELETE', 'PATCH'],
    url: '/message',
    handler: async () => {
      throw new RelayError('RELAY_ERR_HTTP_METHOD', 'POST /message only')
    },
  })
}

/**
 * The demo backend publishing as Tuleap's PHP does: a signed HS512 token POSTed to the
 * relay's `/message` over HTTPS, trusting the relay's certificate. A real request to
 * the relay's own port, not an in-process call, so the demo takes the same path as a
 * real backend (TLS, token verification, rate limit, broker).
 */
import { randomUUID } from 'node:crypto'
import { request as httpRequest } from 'node:http'
import { request as httpsRequest } from 'node:https'
import { signPublishToken } from '../auth/sign.js'

/** Where the relay listens, known only once it does. */
export interface RelayAddress {
  readonly host: string
  readonly port: number
}

/** How to reach and authenticate to the relay. */
export interface PublisherOptions {
  /** The shared key (`nodejs_server_jwt_private_key`). */
  readonly key: string
  /** The relay's certificate, trusted for the request; null: the relay serves plain HTTP. */
  readonly ca: Buffer | null
  readonly address: () => RelayAddress
  /** Lifetime of each publish token, in seconds. */
  readonly tokenTtlS: number
  /** Bound of one request. */
  readonly timeoutMs: number
}

/** The relay's answer: its status, or null when it could not be reached. */
export interface PublishOutcome {
  readonly status: number | null
  readonly body: string
}

/**
 * Publishes one message at a time: a move is published only after the previous one was
 * answered, so the relay receives the moves in the order the board applied them.
 */
export class RelayPublisher {
  private tail: Promise<unknown> = Promise.resolve()

  constructor(private readonly options: PublisherOptions) {}

  /** Publish `message` (docs/protocol.md §2) after every earlier one; never rejects. */
  publish(message: Record<string, unknown>): Promise<PublishOutcome> {
    const result = this.tail.then(() => this.send(message))
    this.tail = result
    return result
  }

  private send(message: Record<string, unknown>): Promise<PublishOutcome> {
    const { key, ca, address, tokenTtlS, timeoutMs } = this.options
    const body = signPublishToken([message], key, { ttlS: tokenTtlS, jti: randomUUID() })
    const { host, port } = address()
    const request = ca ? httpsRequest : httpRequest
    return new Promise((resolve) => {
      const req = request(
        {
          host,
          port,
          path: '/message',
          method: 'POST',
          headers: { 'content-type': 'application/jwt', 'content-length': Buffer.byteLength(body) },
          timeout: timeoutMs,
          agent: false,
          ...(ca ? { ca } : {}),
        },
        (res) => {
          const chunks: Buffer[] = []
          res.on('data', (chunk: Buffer) => chunks.push(chunk))
          res.on('end', () => {
            resolve({
              status: res.statusCode ?? null,
              body: Buffer.concat(chunks).toString('utf8'),
            })
          })
          res.on('error', (err) => {
            resolve({ status: null, body: err.message })
          })
        },
      )
      req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)))
      req.on('error', (err) => {
        resolve({ status: null, body: err.message })
      })
      req.end(body)
    })
  }
}

/** The address to reach a server listening on `address`: a wildcard is reached on loopback. */
export function reachableHost(address: string): string {
  if (address === '0.0.0.0') return '127.0.0.1'
  if (address === '::') return '::1'
  return address
}

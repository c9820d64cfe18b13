import type { FastifyError, FastifyInstance } from 'fastify'
import { STATUS_CODES } from 'node:http'
import type { Duplex } from 'node:stream'
import { RelayError, type ErrorCode } from '../errors.js'
import { logRefusal } from '../log-refusal.js'
import type { RefusalSummariser } from '../log-summary.js'
import { NO_METRICS, type RelayMetrics } from '../metrics.js'
import { plainAddress } from './client-address.js'

/** Fastify's own error codes mapped onto the catalogue. */
const FASTIFY_CODES: Record<string, RelayError['code']> = {
  FST_ERR_CTP_BODY_TOO_LARGE: 'RELAY_ERR_PUBLISH_TOO_LARGE',
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'RELAY_ERR_PUBLISH_CONTENT_TYPE',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'RELAY_ERR_HTTP_BAD_REQUEST',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'RELAY_ERR_PUBLISH_BAD_BODY',
  FST_ERR_CTP_INVALID_JSON_BODY: 'RELAY_ERR_PUBLISH_BAD_BODY',
}

/** Turn any error into a relay error with its catalogue code. */
export function toRelayError(err: FastifyError | Error): RelayError {
  if (err instanceof RelayError) return err
  const code: string | undefined = (err as Partial<FastifyError>).code
  const mapped = code === undefined ? undefined : FASTIFY_CODES[code]
  if (mapped) return new RelayError(mapped)
  const status = (err as FastifyError).statusCode
  if (status !== undefined && status >= 400 && status < 500) {
    return new RelayError('RELAY_ERR_HTTP_BAD_REQUEST', err.message)
  }
  return new RelayError('RELAY_ERR_SERVER_INTERNAL')
}

/**
 * Errors Node's HTTP parser raises before fastify sees a request (malformed request,
 * headers too large, request or headers timeout): answered in the catalogue's JSON too,
 * then the socket is closed.
 */
export function clientErrorHandler(err: Error & { code?: string }, socket: Duplex): void {
  if (err.code === 'ECONNRESET' || !socket.writable) {
    socket.destroy()
    return
  }
  const code: ErrorCode =
    err.code === 'HPE_HEADER_OVERFLOW'
      ? 'RELAY_ERR_HTTP_HEADERS_TOO_LARGE'
      : err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
        ? 'RELAY_ERR_HTTP_TIMEOUT'
        : 'RELAY_ERR_HTTP_BAD_REQUEST'
  writeErrorAndClose(socket, new RelayError(code))
}

/**
 * Write `relay` as a complete HTTP/1.1 answer (the catalogue's JSON, `Connection: close`)
 * on a socket no HTTP server manages any more, then destroy it: a peer that never reads
 * or never closes must not keep the socket, nor hold up the server's close.
 */
export function writeErrorAndClose(socket: Duplex, relay: RelayError): void {
  const body = JSON.stringify(relay.toJSON())
  socket.write(
    `HTTP/1.1 ${relay.status} ${STATUS_CODES[relay.status] ?? ''}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
  )
  socket.destroy()
}

/**
 * Every HTTP answer is JSON `{"error": code, "message": text}` with the catalogue status.
 * Refusals (4xx, and 503) are logged through `refusals`, bounded per address and code;
 * without it, one line each.
 */
export function installErrorHandlers(
  app: FastifyInstance,
  metrics: RelayMetrics = NO_METRICS,
  refusals: RefusalSummariser | null = null,
): void {
  app.setErrorHandler((err: FastifyError, request, reply) => {
    const relay = toRelayError(err)
    metrics.refused(relay.code)
    if (relay.status >= 500 && relay.code !== 'RELAY_ERR_BROKER_UNAVAILABLE') {
      request.log.error({ err }, 'request failed')
    } else {
      // Bounded per address, door and reason when the app has a summariser.
      logRefusal(refusals ?? request.log, {
        address: plainAddress(request.ip),
        reason: relay.code,
        // The route's pattern, never the request's own URL (a query may carry a token).
        endpoint: request.routeOptions.url === '/message' ? 'publish' : 'http',
        detail: relay.message,
      })
    }
    const status =
      relay.code === 'RELAY_ERR_HTTP_BAD_REQUEST' ? (err.statusCode ?? 400) : relay.status
    void reply.code(status).type('application/json').send(relay.toJSON())
  })
  app.setNotFoundHandler((_request, reply) => {
    void reply.code(404).send(new RelayError('RELAY_ERR_HTTP_NOT_FOUND').toJSON())
  })
}

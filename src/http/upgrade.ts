import { ServerResponse, type IncomingMessage, type Server } from 'node:http'
import type { Duplex } from 'node:stream'
import { RelayError } from '../errors.js'
import { writeErrorAndClose } from './error-handler.js'

/**
 * An endpoint that takes over the sockets of the upgrade requests it owns (`/ws`; the
 * socket.io endpoint registers `/socket.io/` and `/local-socket.io/` the same way).
 */
export interface UpgradeEndpoint {
  /**
   * Whether this endpoint takes `request`'s upgrade, from its method, path, version and
   * headers alone, synchronously and without side effects: Node may ask before the
   * request is complete (shouldUpgradeCallback), and a request no endpoint owns is served
   * as plain HTTP.
   */
  owns(request: IncomingMessage, pathname: string): boolean
  /** Take over the socket: from here on the endpoint alone bounds its life. */
  handle(request: IncomingMessage, socket: Duplex, head: Buffer): void
}

/** Serves one request through the app's router (fastify's `routing`). */
export type Route = (request: IncomingMessage, response: ServerResponse) => void

/** Node ≥ 22.21 / 24.9 lets the server decide per request whether an upgrade is one. */
type NarrowableServer = Server & { shouldUpgradeCallback?: (request: IncomingMessage) => boolean }

/** The path of a request target, without its query. */
export function pathnameOf(request: IncomingMessage): string {
  const url = request.url ?? '/'
  const query = url.indexOf('?')
  return query === -1 ? url : url.slice(0, query)
}

/** Whether a request carries a body (its framing headers say so). */
function hasBody(request: IncomingMessage): boolean {
  const length = request.headers['content-length']
  return (
    (length !== undefined && length !== '0') || request.headers['transfer-encoding'] !== undefined
  )
}

/**
 * The server's one dispatcher of `upgrade` requests. Node stops every
 * HTTP timeout on a socket once it emits `upgrade`, and emits it for *every* request
 * carrying `Connection: Upgrade` as soon as anyone listens: a listener that ignores a
 * request leaves its socket open forever, outside `max_connections`. Hence one listener
 * for the whole server: a request an endpoint owns goes to that endpoint, which bounds
 * the socket from then on; every other one gets an HTTP answer and a closed socket.
 *
 * Endpoints register here and never listen for `upgrade` on the server themselves
 * (engine.io: `engine.handleUpgrade(...)` from `handle`, not `attach`, whose own listener
 * would end every upgrade that is not its own after `destroyUpgradeTimeout`).
 */
export class UpgradeDispatch {
  private readonly endpoints: UpgradeEndpoint[] = []

  /** Add an endpoint; the first whose `owns` says yes takes the request. */
  register(endpoint: UpgradeEndpoint): void {
    this.endpoints.push(endpoint)
  }

  /** The endpoint that owns `request`, if any. */
  owner(request: IncomingMessage): UpgradeEndpoint | undefined {
    const pathname = pathnameOf(request)
    return this.endpoints.find((e) => e.owns(request, pathname))
  }

  /**
   * Listen for `upgrade` on `server`; requests no endpoint owns are served by `route`.
   * Where Node offers `shouldUpgradeCallback`, they never become upgrades at all: Node
   * serves them as ordinary requests (body, keep-alive and every timeout included). On
   * older Node (20), they are answered here with `Connection: close` under the server's
   * own idle and request timeouts, read when the request arrives.
   */
  attach(server: Server, route: Route): void {
    const narrowable = server as NarrowableServer
    if (typeof narrowable.shouldUpgradeCallback === 'function') {
      narrowable.shouldUpgradeCallback = (request) => this.owner(request) !== undefined
    }
    server.on('upgrade', (request: IncomingMessage, socket: Duplex, head: Buffer) => {
      const owner = this.owner(request)
      if (owner) owner.handle(request, socket, head)
      else answerAndClose(server, route, request, socket)
    })
  }
}

/**
 * Answer an upgrade request that no endpoint owns as plain HTTP on a socket Node no
 * longer watches, then close it. The socket is bounded by the server's idle timeout
 * (`server.timeout`) and request timeout. Node has stopped parsing at the end of the
 * head, so a body cannot be read: such a request is refused with 400 (Node 20 only;
 * newer Node serves it in full, see `attach`).
 */
function answerAndClose(
  server: Server,
  route: Route,
  request: IncomingMessage,
  socket: Duplex,
): void {
  const destroy = (): void => {
    socket.destroy()
  }
  socket.on('error', destroy)
  const net = socket as Duplex & { setTimeout?: (ms: number, cb: () => void) => void }
  if (server.timeout > 0) net.setTimeout?.(server.timeout, destroy)
  const deadline = setTimeout(destroy, server.requestTimeout > 0 ? server.requestTimeout : 30_000)
  deadline.unref()
  socket.once('close', () => {
    clearTimeout(deadline)
  })
  if (hasBody(request)) {
    writeErrorAndClose(
      socket,
      new RelayError(
        'RELAY_ERR_HTTP_BAD_REQUEST',
        'an Upgrade request to a path that is not a WebSocket endpoint cannot carry a body',
      ),
    )
    return
  }
  // No body: the request has ended as far as the router is concerned.
  if (!request.readableEnded) request.push(null)
  const response = new ServerResponse(request)
  response.shouldKeepAlive = false
  response.assignSocket(socket as never)
  response.once('finish', () => {
    response.detachSocket(socket as never)
    socket.end(destroy)
  })
  route(request, response)
}

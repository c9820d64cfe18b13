/**
 * The three servers under test, each started alone in a server child process:
 * - relay: this project's buildApp, as main.ts runs it;
 * - floor: the least a Node `ws` server over https can do: a POST's body, untouched, is
 *   sent as one Buffer to every socket of the room named in the URL, no checks at all;
 * - socketio: what the historic Tuleap relay did: socket.io 4 over https, a token-less
 *   `join` event, a JSON POST whose handler loops over the room and `emit`s per socket;
 * - relaysio: the relay, its subscribers being Tuleap pages on its socket.io endpoint
 *   (connections() counts subscribed hub members: a Kanban page gets no answer);
 * - cluster: one relay node of a two-node cluster on one Redis (one child per node).
 */
import { readFileSync } from 'node:fs'
import type { IncomingMessage, ServerResponse } from 'node:http'
import { createServer } from 'node:https'
import type { AddressInfo } from 'node:net'
import { Server as SocketIoServer } from 'socket.io'
import { WebSocketServer, type WebSocket } from 'ws'
import Fastify from 'fastify'
import { buildApp } from '../../src/app.js'
import { loadConfig } from '../../src/config.js'
import { readTlsFiles } from '../../src/tls.js'
import { CMD, type FloorHttp, type Kind } from './common.js'

/** What a server child is started with. */
export interface ServerOptions {
  readonly kind: Kind
  readonly certFile: string
  readonly keyFile: string
  /** The shared HMAC key (relay only). */
  readonly key: string
  /** Relay settings over the bench's own (relay kinds only). */
  readonly relayConfig?: Readonly<Record<string, unknown>>
  /** The floor's HTTP layer (floor only); default Node's own. */
  readonly floorHttp?: FloorHttp
  /** The cluster's Redis, and the key prefix its nodes share (cluster only). */
  readonly redis?: { readonly url: string; readonly keyPrefix: string }
}

/** A listening server under test. */
export interface RunningServer {
  readonly port: number
  /** Subscribed sockets, as the server counts them. */
  connections(): number
}

/** Start the server of `opts.kind` on 127.0.0.1, an ephemeral port. */
export function startServer(opts: ServerOptions): Promise<RunningServer> {
  switch (opts.kind) {
    case 'relay':
    case 'relaysio':
    case 'cluster':
      return startRelay(opts)
    case 'floor':
      return startFloor(opts)
    case 'socketio':
      return startSocketIo(opts)
  }
}

async function startRelay(opts: ServerOptions): Promise<RunningServer> {
  const config = loadConfig({
    values: {
      nodejs_server_jwt_private_key: opts.key,
      address: '127.0.0.1',
      port: 0,
      full_path_ssl_cert: opts.certFile,
      full_path_ssl_key: opts.keyFile,
      log_level: 'info',
      // The publisher is one peer address; measure the publish path, not the limiter.
      publish_rate_per_minute: 1_000_000_000,
      // Every viewer connects from 127.0.0.1 before it subscribes.
      max_unauthenticated_per_address: 1_000_000,
      ...(opts.redis
        ? { broker: { type: 'redis', url: opts.redis.url, key_prefix: opts.redis.keyPrefix } }
        : {}),
      ...opts.relayConfig,
    },
  })
  const app = await buildApp(config, { tls: readTlsFiles(config) })
  await app.listen({ host: config.address, port: 0 })
  return {
    port: (app.server.address() as AddressInfo).port,
    connections: () =>
      opts.kind === 'relaysio' ? app.relay.hub.stats().members : app.relay.connections.size,
  }
}

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      resolve(chunks.length === 1 && chunks[0] ? chunks[0] : Buffer.concat(chunks))
    })
    req.on('error', reject)
  })
}

function listen(server: ReturnType<typeof createServer>): Promise<number> {
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => {
      resolve((server.address() as AddressInfo).port)
    })
  })
}

async function startFloor(opts: ServerOptions): Promise<RunningServer> {
  const rooms = new Map<string, Set<WebSocket>>()
  let count = 0
  const roomOf = (url: string | undefined): string => {
    const q = (url ?? '').indexOf('?room=')
    return q < 0 ? '' : decodeURIComponent((url ?? '').slice(q + 6))
  }
  const tls = { cert: readFileSync(opts.certFile), key: readFileSync(opts.keyFile) }
  const publish = (url: string | undefined, frame: Buffer): void => {
    for (const ws of rooms.get(roomOf(url)) ?? []) ws.send(frame, { binary: false })
  }
  const server =
    opts.floorHttp === 'fastify'
      ? await fastifyFloor(tls, publish)
      : createServer(tls, (req: IncomingMessage, res: ServerResponse) => {
          void readBody(req).then((frame) => {
            publish(req.url, frame)
            res.end('{}')
          })
        })
  const wss = new WebSocketServer({ server, perMessageDeflate: false, clientTracking: false })
  wss.on('connection', (ws, req) => {
    const room = roomOf(req.url)
    let set = rooms.get(room)
    if (!set) {
      set = new Set()
      rooms.set(room, set)
    }
    set.add(ws)
    count += 1
    ws.on('error', () => undefined)
    ws.on('close', () => {
      set.delete(ws)
      count -= 1
    })
  })
  return { port: await listen(server), connections: () => count }
}

/**
 * The floor's HTTP side as a bare fastify route (`--floor-http=fastify`): the body kept as
 * a Buffer, no hooks, no logger; the WebSockets stay on the same server. Against the floor
 * on Node's own handler, what fastify alone costs a publish.
 */
async function fastifyFloor(
  tls: { cert: Buffer; key: Buffer },
  publish: (url: string | undefined, frame: Buffer) => void,
): Promise<ReturnType<typeof createServer>> {
  const app = Fastify({ https: tls })
  app.removeAllContentTypeParsers()
  app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (_req, body, done) => {
    done(null, body)
  })
  app.post('/message', async (req) => {
    publish(req.url, req.body as Buffer)
    return {}
  })
  await app.ready()
  return app.server
}

interface ClientEvents {
  join: (room: string) => void
}
interface ServerEvents {
  joined: (room: string) => void
  /** Any `cmd`; the bench publishes this one only. */
  [CMD]: (data: unknown) => void
}

/** The historic message shape, posted as JSON. */
interface HistoricMessage {
  readonly room_id: string | number
  readonly cmd: string
  readonly data: unknown
}

async function startSocketIo(opts: ServerOptions): Promise<RunningServer> {
  const server = createServer(
    { cert: readFileSync(opts.certFile), key: readFileSync(opts.keyFile) },
    (req: IncomingMessage, res: ServerResponse) => {
      if (req.url?.startsWith('/socket.io/')) return
      void readBody(req).then((body) => {
        const m = JSON.parse(body.toString('utf8')) as HistoricMessage
        const sockets = io.sockets.sockets
        for (const id of io.sockets.adapter.rooms.get(String(m.room_id)) ?? []) {
          sockets.get(id)?.emit(m.cmd as typeof CMD, m.data)
        }
        res.writeHead(200, { 'content-type': 'application/json' }).end('{}')
      })
    },
  )
  // The request handler above runs only once listening, after `io` exists.
  const io = new SocketIoServer<ClientEvents, ServerEvents>(server, {
    transports: ['websocket'],
    serveClient: false,
    perMessageDeflate: false,
  })
  io.on('connection', (socket) => {
    socket.on('join', (room) => {
      void socket.join(room)
      socket.emit('joined', room)
    })
  })
  const port = await listen(server)
  return { port, connections: () => io.sockets.sockets.size }
}

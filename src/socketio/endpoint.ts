import type { IncomingMessage, ServerResponse } from 'node:http'
import { Server as EngineServer, type AttachOptions, type ServerOptions } from 'engine.io'
import type { FastifyInstance } from 'fastify'
import { Server as IoServer, type Socket } from 'socket.io'
import type { TokenVerifier } from '../auth/token.js'
import type { Broker, StoredMessage } from '../broker/broker.js'
import type { Config } from '../config.js'
import { clientAddress, type ProxyTrust } from '../http/client-address.js'
import type { UnauthenticatedLimit } from '../http/unauthenticated-limit.js'
import { pathnameOf, type UpgradeDispatch } from '../http/upgrade.js'
import type { RefusalSummariser } from '../log-summary.js'
import type { Hub } from '../hub/hub.js'
import type { RelayMetrics } from '../metrics.js'
import { originAllowed, subscribeFrameBytes } from '../ws/endpoint.js'
import { WriteBatch } from '../ws/write-batch.js'
import { SocketIoMember, TESTMANAGEMENT_NSP, type MemberContext } from './member.js'
import { encodeEvent, type EncodedEvent } from './packets.js'
import { onSubscription, onToken, type SioSessionContext } from './session.js'
import { ExecutionPresences } from './test-management.js'

/** `map`'s value for `key`, made by `make` and stored on first use. */
function entryOf<K, V>(
  map: { get(key: K): V | undefined; set(key: K, value: V): unknown },
  key: K,
  make: () => V,
): V {
  let value = map.get(key)
  if (value === undefined) {
    value = make()
    map.set(key, value)
  }
  return value
}

/** What the socket.io endpoint needs. */
export interface SocketIoOptions {
  readonly config: Config
  readonly hub: Hub
  readonly broker: Broker
  readonly verifier: TokenVerifier
  readonly metrics: RelayMetrics
  /** Open /ws connections: both protocols count in max_connections. */
  readonly wsConnections: () => number
  /** The server's one upgrade dispatcher: the socket.io paths register there. */
  readonly upgrades: UpgradeDispatch
  /** Connections not subscribed yet, per client address; shared with /ws. */
  readonly unauthenticated: UnauthenticatedLimit
  /** Where refusals are logged, bounded per address and reason. */
  readonly refusals: RefusalSummariser
  /** trusted_proxies: whose X-Forwarded-For names the client. */
  readonly proxyTrust: ProxyTrust | null
}

/** The socket.io side of the relay: how many Engine.IO connections are open. */
export interface SocketIoEndpoint {
  connectionCount(): number
  /**
   * Close every page's transport (the shutdown order of src/shutdown.ts calls it): a
   * transport close, after which socket.io clients reconnect.
   */
  close(): void
}

/** What the endpoint uses of an Engine.IO connection. */
interface EngineConnection {
  readonly request: IncomingMessage
  close(): void
  once(event: 'close', listener: () => void): void
}

/** Engine.IO's ping timeout: a page silent this long after a ping is dropped. */
const PING_TIMEOUT_MS = 20_000

/**
 * Serve Tuleap's own pages (docs/protocol.md §8): one socket.io 4 server per configured path,
 * on the relay's own HTTP(S) server, namespaces `/` (Kanban) and `/testmanagement`.
 * Deliveries come from the hub (and through it the broker), never from socket.io's
 * adapter, so a page on one node receives what is published on another.
 */
export function attachSocketIo(app: FastifyInstance, opts: SocketIoOptions): SocketIoEndpoint {
  const { config, hub, broker, metrics } = opts
  const engines: { prefix: string; engine: EngineServer }[] = []
  const count = (): number => engines.reduce((n, e) => n + e.engine.clientsCount, 0)
  const close = (): void => {
    for (const { engine } of engines) engine.close()
  }
  if (config.socketio_paths.length === 0) return { connectionCount: count, close }

  // Test Management state per room, derived from the room's broker stream (see
  // test-management.ts); opened by the first local page of the room, closed by the last.
  const presences = new Map<
    string,
    {
      state: ExecutionPresences
      users: number
      ready: Promise<void>
      listener: (m: StoredMessage) => void
    }
  >()
  // The Test Management rooms each page holds state open for: once per page and room.
  const tmRooms = new WeakMap<SocketIoMember, Set<string>>()
  const openPresences = async (
    member: SocketIoMember,
    roomId: string,
  ): Promise<ExecutionPresences> => {
    const rooms = entryOf(tmRooms, member, () => new Set<string>())
    let entry = presences.get(roomId)
    if (!entry) {
      const state = new ExecutionPresences()
      const listener = (m: StoredMessage): void => {
        state.apply(m)
      }
      entry = { state, users: 0, listener, ready: broker.subscribe(roomId, listener) }
      presences.set(roomId, entry)
    }
    if (!rooms.has(roomId)) {
      rooms.add(roomId)
      entry.users += 1
    }
    await entry.ready
    return entry.state
  }
  const closePresences = (roomId: string): void => {
    const entry = presences.get(roomId)
    if (!entry) return
    entry.users -= 1
    if (entry.users > 0) return
    presences.delete(roomId)
    broker.unsubscribe(roomId, entry.listener).catch((err: unknown) => {
      app.log.error({ err }, 'leaving a Test Management room failed')
    })
  }

  const encoded = new WeakMap<StoredMessage, Map<string, EncodedEvent>>()
  const memberCtx: MemberContext = {
    limits: {
      slowConsumerBytes: config.slow_consumer_bytes,
      expiredGraceMs: config.expired_grace_s * 1000,
      maxEventsPerSecond: config.max_frames_per_second,
      maxMalformed: config.max_malformed_frames,
    },
    metrics,
    batch: new WriteBatch(),
    encode(m, nsp) {
      const byNsp = entryOf(encoded, m, () => new Map<string, EncodedEvent>())
      let event = byNsp.get(nsp)
      if (!event) {
        const state = presences.get(m.room_id)?.state
        const data = state ? state.apply(m) : m.data
        event = encodeEvent(nsp, m.cmd, JSON.stringify(data))
        byNsp.set(nsp, event)
      }
      return event
    },
    left(roomId, uuid) {
      presences.get(roomId)?.state.removeUuid(uuid)
    },
    refusalLog: opts.refusals,
    authenticated(conn) {
      unauthenticated.get(conn as object)?.()
    },
  }
  const sessionCtx: SioSessionContext = {
    hub,
    verifier: opts.verifier,
    maxRooms: config.max_rooms_per_connection,
    now: Date.now,
    openPresences,
  }

  // Engine.IO connections not subscribed yet (max_unauthenticated_per_address): counted
  // once the connection exists and given back on its first subscription or its close,
  // so that no handshake failing half-way can leave a count behind.
  const unauthenticated = new WeakMap<object, () => void>()
  const addressOf = (req: IncomingMessage): string => clientAddress(req, opts.proxyTrust)
  /** Refuse a connection from `address`, at its max_unauthenticated_per_address. */
  const refuseUnauthenticated = (address: string): void => {
    metrics.refused('close_4008')
    opts.refusals.refused({
      address,
      reason: 'close_4008',
      detail: `max_unauthenticated_per_address (${config.max_unauthenticated_per_address}) reached`,
      transport: 'socket.io',
    })
  }
  const onEngineConnection = (conn: EngineConnection): void => {
    const address = addressOf(conn.request)
    const release = opts.unauthenticated.admit(address)
    if (!release) {
      refuseUnauthenticated(address)
      conn.close()
      return
    }
    unauthenticated.set(conn, release)
    conn.once('close', release)
  }

  const onConnection = (socket: Socket): void => {
    const log = app.log.child({ sio: socket.id })
    const member = new SocketIoMember(socket, memberCtx, log, addressOf(socket.request))
    member.log.debug({ address: member.address, nsp: member.nsp }, 'connection opened')
    socket.use((_packet, next) => {
      if (member.countEvent(Date.now())) {
        next()
        return
      }
      // As /ws answers a frame flood: RateLimited, then the close 4008.
      metrics.refused('RateLimited')
      member.close('too many events', 'close_4008')
    })
    socket.on('subscription', (data: unknown) => {
      onSubscription(sessionCtx, member, data).catch((err: unknown) => {
        member.log.error({ err }, 'socket.io subscription failed')
        member.fail()
      })
    })
    socket.on('token', (data: unknown) => {
      try {
        onToken(sessionCtx, member, data)
      } catch (err) {
        member.log.error({ err }, 'socket.io token renewal failed')
        member.fail()
      }
    })
    socket.on('disconnect', (reason) => {
      member.log.debug({ address: member.address, reason }, 'connection closed')
      member.closedByPeer()
      hub.remove(member)
      for (const room of tmRooms.get(member) ?? []) {
        presences.get(room)?.state.removeUuid(member.uuid)
        closePresences(room)
      }
    })
    member.startAuthTimeout(config.auth_timeout_ms)
  }

  const pingInterval = Math.min(config.heartbeat_interval_ms, 25_000)
  for (const path of config.socketio_paths) {
    const prefix = `${path}/`
    const engineOptions: ServerOptions & AttachOptions = {
      // AttachOptions' path: handleRequest and handleUpgrade below are only called for it.
      path: prefix,
      transports: ['polling', 'websocket'],
      allowUpgrades: true,
      // Engine.IO 3 clients get socket.io's standard refusal.
      allowEIO3: false,
      // An event carries at most a subscriber token and its companions (docs/protocol.md §5).
      maxHttpBufferSize: subscribeFrameBytes(config),
      pingInterval,
      pingTimeout: PING_TIMEOUT_MS,
      perMessageDeflate: false,
      httpCompression: false,
      // Cross-origin pages (the standalone deployment) only when allowed_origins lists them.
      ...(config.allowed_origins.length > 0
        ? { cors: { origin: [...config.allowed_origins], credentials: true } }
        : {}),
      allowRequest(req: IncomingMessage, callback: (err: string | null, ok: boolean) => void) {
        // Summarised per address and reason: a handshake flood is not a flood of lines.
        const refuse = (reason: string, detail: string): void => {
          opts.refusals.refused({ address: addressOf(req), reason, detail, transport: 'socket.io' })
        }
        if (!originAllowed(config.allowed_origins, req.headers.origin)) {
          metrics.refused('close_1008')
          refuse('close_1008', 'origin not allowed')
          callback('origin not allowed', false)
          return
        }
        if (count() + opts.wsConnections() >= config.max_connections) {
          metrics.refused('close_4010')
          refuse('close_4010', `max_connections (${config.max_connections}) reached`)
          callback('server full', false)
          return
        }
        // Refused before the handshake when the address is already at its bound; counted
        // once the connection exists (onEngineConnection), which also refuses a race.
        const address = addressOf(req)
        if (opts.unauthenticated.held(address) >= config.max_unauthenticated_per_address) {
          refuseUnauthenticated(address)
          callback('too many connections not subscribed yet from this address', false)
          return
        }
        callback(null, true)
      },
    }
    const engine = new EngineServer(engineOptions)
    engine.on('connection', onEngineConnection)
    const io = new IoServer({ serveClient: false, connectTimeout: config.auth_timeout_ms })
    io.bind(engine)
    io.of('/').on('connection', onConnection)
    io.of(TESTMANAGEMENT_NSP).on('connection', onConnection)
    engines.push({ prefix, engine })
  }
  const engineFor = (url: string | undefined): EngineServer | undefined =>
    engines.find((e) => url?.startsWith(e.prefix) === true)?.engine

  // Upgrades of the socket.io paths come from the server's one upgrade dispatcher (it
  // answers and closes every upgrade no endpoint owns); plain requests of those paths are
  // routed here before fastify, once the app is ready and fastify's listener is in place.
  opts.upgrades.register({
    owns: (_request, pathname) => engineFor(pathname) !== undefined,
    handle: (request, socket, head) => {
      engineFor(pathnameOf(request))?.handleUpgrade(request, socket, head)
    },
  })
  app.addHook('onReady', (done) => {
    const server = app.server
    const requests = server.listeners('request') as ((
      req: IncomingMessage,
      res: ServerResponse,
    ) => void)[]
    server.removeAllListeners('request')
    server.on('request', (req: IncomingMessage, res: ServerResponse) => {
      const engine = engineFor(req.url)
      if (!engine) {
        for (const l of requests) l.call(server, req, res)
        return
      }
      // A polling GET is held until there is something to send (at most a ping interval);
      // the relay's short idle timeout would cut it.
      req.socket.setTimeout(pingInterval + PING_TIMEOUT_MS)
      engine.handleRequest(req, res)
    })
    done()
  })
  return { connectionCount: count, close }
}

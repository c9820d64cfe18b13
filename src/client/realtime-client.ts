/**
 * The browser client of the relay: one WebSocket, many rooms, reconnection with backoff
 * and `since`, token refresh, close codes (docs/protocol.md §5, §6). The socket's own timers
 * live in `connection.ts`, each room's bookkeeping in `room.ts`.
 */
import { Backoff } from './backoff.js'
import { Emitter } from './callbacks.js'
import { Connection } from './connection.js'
import {
  resolveOptions,
  type ClientError,
  type ClientEvents,
  type ConnectionState,
  type RealtimeClientOptions,
  type ResolvedOptions,
} from './options.js'
import { closeAction, type ServerErrorCode, type ServerFrame } from './protocol.js'
import { Room, type RoomHandlers, type RoomListener } from './room.js'
import { TokenSource } from './token.js'
import { randomUuid } from './uuid.js'

/** A token with less validity left than this is not presented on a new connection. */
const TOKEN_MARGIN_MS = 30_000

/** Subscribes a page to relay rooms and keeps it subscribed, without losing messages. */
export class RealtimeClient {
  /** This tab's id, sent with every subscribe; the same for the client's whole life. */
  readonly uuid: string
  private readonly o: ResolvedOptions
  private readonly events: Emitter<ClientEvents>
  private readonly tokens: TokenSource
  private readonly backoff: Backoff
  private readonly rooms = new Map<string, Room>()
  private current: ConnectionState = 'idle'
  private conn: Connection | null = null
  private reconnectTimer: unknown = undefined
  private refreshing = false

  constructor(options: RealtimeClientOptions) {
    const o = resolveOptions(options)
    this.o = o
    this.events = new Emitter(o.report)
    this.tokens = new TokenSource(o.getToken, o.clock, o.refreshBeforeMs, () => {
      this.refreshToken()
    })
    this.backoff = new Backoff(o.baseMs, o.maxMs, o.random)
    this.uuid = options.uuid ?? randomUuid(o.random)
  }

  /** The current connection state. */
  get state(): ConnectionState {
    return this.current
  }

  /** Listen to `state` or `error`; returns the function that stops listening. */
  on<K extends keyof ClientEvents>(
    event: K,
    listener: (value: ClientEvents[K]) => void,
  ): () => void {
    return this.events.on(event, listener)
  }

  /**
   * Join a room (kept across reconnections, resumed with `since`); connects on first use.
   * Returns the function that leaves it (`unsubscribe` is sent once its last listener left).
   */
  subscribe<D = unknown>(roomId: string | number, handlers: RoomHandlers<D>): () => void {
    const id = String(roomId)
    if (this.current === 'closed') {
      this.fail({ code: 'Closed', message: 'subscribe() after close()', room_id: id })
      return () => undefined
    }
    let room = this.rooms.get(id)
    if (!room) {
      room = new Room(id, this.o.report)
      this.rooms.set(id, room)
    }
    const listener: RoomListener = { handlers }
    room.listeners.add(listener)
    if (this.current === 'idle') this.connect()
    else if (room.status === 'idle' || room.needsPresence) this.sendSubscribe(room)
    const joined = room
    return () => {
      if (!joined.listeners.delete(listener) || joined.listeners.size > 0) return
      this.rooms.delete(id)
      if (joined.status === 'pending' || joined.status === 'subscribed')
        this.conn?.send({ type: 'unsubscribe', room_id: id })
      joined.status = 'idle'
    }
  }

  /** Close for good (code 1000): no reconnection, no more callbacks. Idempotent. */
  close(): void {
    if (this.current === 'closed') return
    this.o.clock.clearTimeout(this.reconnectTimer)
    this.tokens.stop()
    this.conn?.close('client closed')
    this.conn = null
    this.setState('closed')
  }

  private setState(state: ConnectionState): void {
    if (state === this.current) return
    this.current = state
    this.events.emit('state', state)
  }

  private fail(error: ClientError): void {
    this.events.emit('error', error)
  }

  /** Get a token if the current one will not do, then open a socket. */
  private connect(): void {
    if (this.rooms.size === 0) {
      this.setState('idle')
      return
    }
    if (this.current === 'idle') this.setState('connecting')
    if (this.tokens.usable(TOKEN_MARGIN_MS)) {
      this.open()
      return
    }
    this.fetchToken().then(
      () => {
        if (this.current !== 'closed' && !this.conn) this.open()
      },
      () => {
        if (this.current !== 'closed') this.scheduleReconnect()
      },
    )
  }

  private open(): void {
    const { WebSocket: WebSocketImpl, url, clock, timings } = this.o
    try {
      if (!WebSocketImpl) throw new TypeError('no WebSocket in this environment')
      const conn: Connection = new Connection(WebSocketImpl, url, clock, timings, {
        ready: () => {
          this.subscribeIdleRooms()
          this.setState('open')
        },
        frame: (frame) => {
          this.handle(conn, frame)
        },
        stable: () => {
          this.backoff.reset()
        },
        lost: (code, reason) => {
          this.lost(conn, code, reason)
        },
      })
      this.conn = conn
    } catch (err) {
      this.fail({ code: 'Closed', message: `cannot open the WebSocket: ${String(err)}` })
      this.close()
    }
  }

  private handle(conn: Connection, frame: ServerFrame): void {
    switch (frame.type) {
      case 'subscribed': {
        if (!conn.authenticated) {
          conn.authenticated = true
          const token = this.tokens.token
          if (conn.tokenStale && token !== null) conn.send({ type: 'token', token })
        }
        const room = this.rooms.get(frame.room_id)
        if (!room) return
        room.subscribed(frame)
        if (room.needsPresence) this.sendSubscribe(room)
        return
      }
      case 'message':
        this.rooms.get(frame.room_id)?.message(frame)
        return
      case 'resync':
        this.rooms.get(frame.room_id)?.resync(frame)
        return
      case 'presence':
        this.rooms.get(frame.room_id)?.presence(frame)
        return
      case 'token':
        // The relay took the refreshed token: subscribes it refused as expired go again.
        this.subscribeIdleRooms()
        return
      case 'error':
        this.refused(frame.code, frame.message, frame.room_id)
        return
      default:
        return // hello is the connection's; unsubscribed and pong need nothing
    }
  }

  private refused(code: ServerErrorCode, message: string, roomId: string | undefined): void {
    const room = roomId === undefined ? undefined : this.rooms.get(roomId)
    // A subscribe refused as expired goes again once the relay took a fresh token; one
    // refused for another reason (reported below) waits for the next connection.
    if (room?.status === 'pending') room.status = code === 'JWTExpired' ? 'idle' : 'refused'
    if (code === 'JWTExpired') {
      this.refreshToken()
      return
    }
    this.fail({ code, message, ...(roomId === undefined ? {} : { room_id: roomId }) })
  }

  private subscribeIdleRooms(): void {
    for (const room of this.rooms.values()) if (room.status === 'idle') this.sendSubscribe(room)
  }

  /** Subscribe; the token rides along until the connection is authenticated. */
  private sendSubscribe(room: Room): void {
    const conn = this.conn
    if (!conn?.ready) return
    conn.send(room.subscribeFrame(this.uuid, conn.authenticated ? null : this.tokens.token))
  }

  /** `getToken()`, reporting a failure as a `TokenUnavailable` error. */
  private fetchToken(): Promise<string> {
    const request = this.tokens.fetch()
    request.catch((err: unknown) => {
      if (this.current !== 'closed') {
        this.fail({ code: 'TokenUnavailable', message: `getToken() failed: ${String(err)}` })
      }
    })
    return request
  }

  /** A new token now: a `token` frame on an authenticated connection. */
  private refreshToken(): void {
    if (this.refreshing) return
    this.refreshing = true
    this.fetchToken()
      .then(
        (token) => {
          const conn = this.conn
          if (!conn?.ready || this.current === 'closed') return
          if (conn.authenticated) conn.send({ type: 'token', token })
          else {
            conn.tokenStale = true
            this.subscribeIdleRooms()
          }
        },
        () => undefined,
      )
      .finally(() => {
        this.refreshing = false
      })
  }

  /** The connection ended: act on its close code (docs/protocol.md §5.4); `null` means dead. */
  private lost(conn: Connection, code: number | null, reason: string): void {
    if (conn !== this.conn) return
    this.conn = null
    for (const room of this.rooms.values()) room.status = 'idle'
    if (code !== null) {
      const action = closeAction(code)
      if (action === 'stop') {
        this.fail({ code: 'Closed', message: reason || 'closed by the relay', close_code: code })
        this.close()
        return
      }
      if (action === 'reauthenticate') this.tokens.invalidate()
    }
    this.scheduleReconnect()
  }

  private scheduleReconnect(): void {
    if (this.current === 'open') this.setState('reconnecting')
    this.o.clock.clearTimeout(this.reconnectTimer)
    this.reconnectTimer = this.o.clock.setTimeout(() => {
      this.connect()
    }, this.backoff.next())
  }
}

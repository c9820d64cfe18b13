/**
 * One WebSocket to the relay and its timers: waiting for `hello`, application-level
 * pings with dead-connection detection, and the stability timer of the backoff.
 * Knows nothing of rooms or tokens; the client decides what a lost connection means.
 */
import type { ClientClock, WebSocketConstructor, WebSocketLike } from './options.js'
import { parseServerFrame, type ClientFrame, type ServerFrame } from './protocol.js'

/** Default ping interval when neither the options nor `hello` give one. */
export const DEFAULT_PING_INTERVAL_MS = 25_000

/** Timings of one connection, in ms. */
export interface ConnectionTimings {
  /** Give up on a socket without `hello` after this long. */
  readonly connectTimeoutMs: number
  /** Ping interval; when undefined, `hello`'s `heartbeat_ms`. */
  readonly pingIntervalMs: number | undefined
  /** After a ping, no frame at all within this long means the connection is dead. */
  readonly pongTimeoutMs: number
  /** Open this long: `stable` fires (the backoff resets). */
  readonly stableMs: number
}

/** What a connection tells its owner. */
export interface ConnectionEvents {
  /** `hello` arrived: frames may be sent. */
  ready(): void
  /** A well-formed frame other than `hello`. */
  frame(frame: ServerFrame): void
  /** The connection stayed open for `stableMs`. */
  stable(): void
  /** The connection is over: closed by the peer (`code`), or judged dead (`code` null). */
  lost(code: number | null, reason: string): void
}

type TimerName = 'hello' | 'ping' | 'pong' | 'stable'

/** A socket, from opening to its end; after `lost` or `close()` it is inert. */
export class Connection {
  /** `hello` received. */
  ready = false
  /** A `subscribed` received: later subscribes need no token. */
  authenticated = false
  /** A token was refreshed before the first `subscribed`: send it once authenticated. */
  tokenStale = false
  private readonly timers = new Map<TimerName, unknown>()
  private readonly ws: WebSocketLike
  private over = false

  /** Opens the socket; throws what the WebSocket constructor throws. */
  constructor(
    WebSocketImpl: WebSocketConstructor,
    url: string,
    private readonly clock: ClientClock,
    private readonly timings: ConnectionTimings,
    private readonly events: ConnectionEvents,
  ) {
    this.ws = new WebSocketImpl(url)
    this.ws.onmessage = (event: { data: unknown }) => {
      this.receive(event.data)
    }
    this.ws.onclose = (event: { code: number; reason: string }) => {
      this.end(event.code, event.reason)
    }
    this.timer('hello', timings.connectTimeoutMs, () => {
      this.end(null, 'no hello in time')
    })
  }

  /** Send a frame once `hello` arrived; silently nothing before or after. */
  send(frame: ClientFrame): void {
    if (!this.ready || this.over) return
    try {
      this.ws.send(JSON.stringify(frame))
    } catch {
      // The socket is closing; its close event follows.
    }
  }

  /** Close with 1000 and go inert without telling the owner. Idempotent. */
  close(reason: string): void {
    if (this.over) return
    this.stop()
    try {
      this.ws.close(1000, reason)
    } catch {
      // Closing a socket that is already gone.
    }
  }

  private stop(): void {
    this.over = true
    for (const handle of this.timers.values()) this.clock.clearTimeout(handle)
    this.timers.clear()
    this.ws.onmessage = null
    this.ws.onclose = null
  }

  /** The end of the connection: closed by the peer, or dead (then closed by us). */
  private end(code: number | null, reason: string): void {
    if (this.over) return
    if (code === null) this.close(reason)
    else this.stop()
    this.events.lost(code, reason)
  }

  private timer(name: TimerName, ms: number, fn: () => void): void {
    this.clock.clearTimeout(this.timers.get(name))
    const handle = this.clock.setTimeout(() => {
      this.timers.delete(name)
      fn()
    }, ms)
    this.timers.set(name, handle)
  }

  private clear(name: TimerName): void {
    this.clock.clearTimeout(this.timers.get(name))
    this.timers.delete(name)
  }

  private receive(data: unknown): void {
    if (this.over) return
    this.clear('pong') // any frame proves the connection alive
    const frame = parseServerFrame(data)
    if (!frame) return
    if (frame.type !== 'hello') {
      this.events.frame(frame)
      return
    }
    if (this.ready) return
    this.ready = true
    this.clear('hello')
    this.timer('stable', this.timings.stableMs, () => {
      this.events.stable()
    })
    const hinted = frame.heartbeat_ms
    const fromHello = hinted !== undefined && hinted > 0 ? hinted : DEFAULT_PING_INTERVAL_MS
    this.schedulePing(this.timings.pingIntervalMs ?? fromHello)
    this.events.ready()
  }

  private schedulePing(intervalMs: number): void {
    this.timer('ping', intervalMs, () => {
      this.schedulePing(intervalMs)
      // Armed before sending, so that an answer, however quick, disarms it.
      if (!this.timers.has('pong')) {
        this.timer('pong', this.timings.pongTimeoutMs, () => {
          this.end(null, 'no answer to ping')
        })
      }
      this.send({ type: 'ping' })
    })
  }
}

/** The client's public configuration and event types, and the platform it runs on. */
import { DEFAULT_BACKOFF, type BackoffOptions } from './backoff.js'
import { defaultReporter, type CallbackErrorReporter } from './callbacks.js'
import type { ConnectionTimings } from './connection.js'
import type { ServerErrorCode } from './protocol.js'

/**
 * The connection state, emitted as the `state` event:
 * - `idle`: no room subscribed yet, no socket (the first `subscribe()` connects);
 * - `connecting`: the first connection is being made (getting a token, opening the
 *   socket, waiting for `hello`), including its retries;
 * - `open`: `hello` received; rooms are (re)subscribed on this connection;
 * - `reconnecting`: an open connection was lost; retrying with backoff until open again;
 * - `closed`: for good, after `close()` or a close code that forbids reconnecting.
 */
export type ConnectionState = 'idle' | 'connecting' | 'open' | 'reconnecting' | 'closed'

/**
 * Codes of the `error` event: the relay's `error` frame codes (a refused subscribe
 * carries `room_id`), `Closed` (the client stopped for good: the relay closed with a
 * code that forbids reconnecting, given as `close_code`, or the socket could not be
 * created, or `subscribe()` was called after `close()`), `TokenUnavailable`
 * (`getToken()` threw, rejected or gave no token; the client retries).
 */
export type ClientErrorCode = ServerErrorCode | 'Closed' | 'TokenUnavailable'

/** The payload of the `error` event. */
export interface ClientError {
  readonly code: ClientErrorCode
  readonly message: string
  readonly room_id?: string
  readonly close_code?: number
}

/** Events of `client.on()`. */
export interface ClientEvents {
  state: ConnectionState
  error: ClientError
}

/** The part of the DOM WebSocket the client uses; the browser's `WebSocket` fits. */
export interface WebSocketLike {
  send(data: string): void
  close(code?: number, reason?: string): void
  onmessage: ((event: never) => unknown) | null
  onclose: ((event: never) => unknown) | null
}

/** A WebSocket constructor, the browser's by default. */
export type WebSocketConstructor = new (url: string) => WebSocketLike

/** Timers and time, `setTimeout`/`Date.now` by default; a fake one in tests. */
export interface ClientClock {
  now(): number
  setTimeout(callback: () => void, ms: number): unknown
  clearTimeout(handle: unknown): void
}

/** Options of `new RealtimeClient()`. */
export interface RealtimeClientOptions {
  /** The relay's WebSocket endpoint, e.g. `wss://relay.example.com:4443/ws`. */
  readonly url: string
  /** A fresh subscriber token (Tuleap: `GET /api/v1/jwt`); called again to refresh. */
  readonly getToken: () => Promise<string> | string
  /** This tab's id (Tuleap's `X-Client-UUID`); generated once per client when absent. */
  readonly uuid?: string
  /** The WebSocket implementation. Default `globalThis.WebSocket`. */
  readonly WebSocket?: WebSocketConstructor
  /** Uniform in [0, 1), for the backoff jitter. Default `Math.random`. */
  readonly random?: () => number
  /** Timers and time. Default the platform's. */
  readonly clock?: ClientClock
  /** Reconnection backoff. */
  readonly backoff?: BackoffOptions
  /** Interval of application-level pings. Default: `heartbeat_ms` of `hello`, else 25000. */
  readonly pingIntervalMs?: number
  /** After a ping, a connection with no frame at all within this long is dead. Default 10000. */
  readonly pongTimeoutMs?: number
  /** A socket without `hello` within this long is given up and retried. Default 10000. */
  readonly connectTimeoutMs?: number
  /** Refresh the token this long before its `exp`. Default 300000 (5 minutes). */
  readonly refreshBeforeExpiryMs?: number
  /** Receives what a page callback threw. Default `reportError` (or `console.error`). */
  readonly onCallbackError?: CallbackErrorReporter
}

/** The platform's timers. */
export const systemClock: ClientClock = {
  now: () => Date.now(),
  setTimeout: (callback, ms) => globalThis.setTimeout(callback, ms),
  clearTimeout: (handle) => {
    globalThis.clearTimeout(handle as Parameters<typeof clearTimeout>[0])
  },
}

/** {@link RealtimeClientOptions} with every default applied. */
export interface ResolvedOptions {
  readonly url: string
  readonly getToken: () => Promise<string> | string
  readonly WebSocket: WebSocketConstructor | undefined
  readonly random: () => number
  readonly clock: ClientClock
  readonly report: CallbackErrorReporter
  readonly baseMs: number
  readonly maxMs: number
  readonly refreshBeforeMs: number
  readonly timings: ConnectionTimings
}

/** Apply the defaults; an option given as `undefined` takes its default too. */
export function resolveOptions(o: RealtimeClientOptions): ResolvedOptions {
  return {
    url: o.url,
    getToken: o.getToken,
    WebSocket: o.WebSocket ?? (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket,
    random: o.random ?? Math.random,
    clock: o.clock ?? systemClock,
    report: o.onCallbackError ?? defaultReporter,
    baseMs: o.backoff?.baseMs ?? DEFAULT_BACKOFF.baseMs,
    maxMs: o.backoff?.maxMs ?? DEFAULT_BACKOFF.maxMs,
    refreshBeforeMs: o.refreshBeforeExpiryMs ?? 5 * 60_000,
    timings: {
      connectTimeoutMs: o.connectTimeoutMs ?? 10_000,
      pingIntervalMs: o.pingIntervalMs,
      pongTimeoutMs: o.pongTimeoutMs ?? 10_000,
      stableMs: o.backoff?.stableMs ?? DEFAULT_BACKOFF.stableMs,
    },
  }
}

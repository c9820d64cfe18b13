import type { FastifyBaseLogger } from 'fastify'
import { CLOCK_TOLERANCE_S, type SubscriberClaims } from '../auth/token.js'
import { CLOSE, closeReason, isRefusalClose, type Close, type WsErrorCode } from '../errors.js'
import { errorFrame } from './frames.js'
import { logRefusal } from '../log-refusal.js'
import type { RefusalSummariser } from '../log-summary.js'
import { NO_METRICS, type RelayMetrics } from '../metrics.js'
import type { Member } from '../hub/member.js'
import type { Corkable, WriteBatch } from './write-batch.js'

/** What a connection needs of its socket: a `ws` WebSocket in production. */
export interface Socket {
  readonly bufferedAmount: number
  send(data: Buffer, options: { binary: boolean }): void
  close(code: number, reason: string): void
  terminate(): void
  ping(): void
}

/** Per-connection limits, from the config. */
export interface ConnectionLimits {
  readonly slowConsumerBytes: number
  readonly expiredGraceMs: number
  readonly maxFramesPerSecond: number
  readonly maxMalformedFrames: number
}

/** The underlying stream of the socket, and the batch its writes join (production only). */
export interface Batching {
  readonly stream: Corkable
  readonly batch: WriteBatch
}

/** Who the peer is and what the connection reports to: fixed when it is made. */
export interface ConnectionOptions {
  /** The client address (behind trusted_proxies, the real one), for logs. */
  readonly address?: string
  /**
   * Where refusals (error frames, closes for cause, ws's frame errors) are logged, bounded
   * per address and reason; absent, each is a line of its own (unit tests).
   */
  readonly refusals?: RefusalSummariser
  readonly metrics?: RelayMetrics
  /** Production only: the socket's stream and the batch its writes join. */
  readonly batching?: Batching
}

/**
 * A batched socket holding more than this is flushed at once rather than at the end of
 * the turn: batching is for many small frames, and what it holds must not count towards
 * `slow_consumer_bytes` for a client that reads.
 */
export const BATCH_FLUSH_BYTES = 65_536

/** ws's send options for every frame: text, shared between calls. */
const TEXT = { binary: false } as const

const MAX_TIMER_MS = 2 ** 31 - 1
/** Frame-rate window: the allowance is averaged over this many seconds. */
const RATE_WINDOW_S = 10
const NO_GROUPS: ReadonlySet<string> = new Set()

let lastId = 0

/** A process-unique connection id, for logs. */
export function nextConnectionId(): number {
  lastId += 1
  return lastId
}

/**
 * One WebSocket peer: its identity (from its current token), its timers, and the one
 * way to write to it. `send` checks backpressure before every write and closes a slow
 * consumer with 4009; nothing here throws on what the peer does.
 */
export class Connection implements Member, Corkable {
  // Every field is written here alone; other modules read them and call the methods below.
  #userId = 0
  #groups: ReadonlySet<string> = NO_GROUPS
  #uuid: string | null = null
  #uuidFixed = false
  #exp = 0
  #expired = false
  #authenticated = false
  #alive = true
  #closed = false
  private malformed = 0
  private windowStart = 0
  private windowFrames = 0
  private expiryTimer: NodeJS.Timeout | undefined
  private authTimer: NodeJS.Timeout | undefined
  private graceTimer: NodeJS.Timeout | undefined
  /** Whether the stream is corked in the current batch. */
  private batched = false
  /** The client address (behind trusted_proxies, the real one), for logs. */
  readonly address: string
  private readonly refusals: RefusalSummariser | null
  private readonly metrics: RelayMetrics
  private readonly batching: Batching | null
  /** Gives back this connection's unauthenticated place (max_unauthenticated_per_address). */
  private releaseUnauthenticated: (() => void) | undefined

  /** What a batched socket may hold before it is flushed (below the slow-consumer bound). */
  private get flushBytes(): number {
    return Math.min(BATCH_FLUSH_BYTES, this.limits.slowConsumerBytes / 2)
  }

  constructor(
    readonly id: number,
    private readonly ws: Socket,
    private readonly baseLog: FastifyBaseLogger,
    private readonly limits: ConnectionLimits,
    options: ConnectionOptions = {},
  ) {
    this.address = options.address ?? ''
    this.refusals = options.refusals ?? null
    this.metrics = options.metrics ?? NO_METRICS
    this.batching = options.batching ?? null
  }

  get userId(): number {
    return this.#userId
  }
  get groups(): ReadonlySet<string> {
    return this.#groups
  }
  /** The tab's uuid, fixed by the first subscribe (docs/protocol.md §5.1). */
  get uuid(): string | null {
    return this.#uuid
  }
  /** Whether the first subscribe has fixed `uuid` (it must then stay the same). */
  get uuidFixed(): boolean {
    return this.#uuidFixed
  }
  /** The current token's expiry, in seconds since the epoch. */
  get exp(): number {
    return this.#exp
  }
  /** True between the current token's expiry and a refresh (docs/protocol.md §5.3). */
  get expired(): boolean {
    return this.#expired
  }
  /** Whether a token was accepted (the first subscribe carries it). */
  get authenticated(): boolean {
    return this.#authenticated
  }
  /** Whether the peer answered since the heartbeat's last ping. */
  get alive(): boolean {
    return this.#alive
  }
  /** Closed by us or by the peer: nothing is written any more. */
  get closed(): boolean {
    return this.#closed
  }

  /** Fix the connection's uuid at its first subscribe; later calls change nothing. */
  fixUuid(uuid: string | null): void {
    if (this.#uuidFixed) return
    this.#uuid = uuid
    this.#uuidFixed = true
  }

  /** The peer answered a ping, or sent a frame: it is alive. */
  markAlive(): void {
    this.#alive = true
  }

  /**
   * One heartbeat visit: terminate a peer that did not answer the previous ping,
   * otherwise ping it and wait for its answer (`markAlive`).
   */
  ping(): void {
    if (!this.#alive) {
      // A peer that vanished (a laptop lid, a lost network) is routine: no info line each.
      this.log.debug('no pong since the previous ping: terminating')
      this.terminate()
      return
    }
    this.#alive = false
    try {
      this.ws.ping()
    } catch {
      this.terminate()
    }
  }

  /** Destroy the socket now, without a close handshake (silent peer, shutdown timeout). */
  terminate(): void {
    this.ws.terminate()
  }

  /**
   * A logger bound to this connection's id. Made on use, not held: connections log
   * rarely, and a child logger kept per connection costs memory on every idle socket.
   */
  get log(): FastifyBaseLogger {
    return this.baseLog.child({ conn: this.id, address: this.address })
  }

  /** The logger of refusals: `logRefusal` adds the address itself. */
  private get refusalLog(): FastifyBaseLogger {
    return this.baseLog.child({ conn: this.id })
  }

  send(frame: Buffer): void {
    if (this.#closed) return
    const queued = this.ws.bufferedAmount
    if (queued > this.limits.slowConsumerBytes) {
      this.close(CLOSE.SLOW_CONSUMER, `more than ${this.limits.slowConsumerBytes} bytes queued`)
      return
    }
    if (this.batching && !this.batched) {
      this.batched = true
      this.batching.batch.hold(this)
    }
    this.ws.send(frame, TEXT)
    if (this.batched && queued + frame.length > this.flushBytes) this.uncork()
  }

  cork(): void {
    this.batching?.stream.cork()
  }

  /** The batch is flushed: what this turn queued leaves now. */
  uncork(): void {
    this.batched = false
    this.batching?.stream.uncork()
  }

  /**
   * Send an `error` frame (the connection stays open) and log the refusal; `reason` is
   * the finer code when there is one (RELAY_ERR_AUTH_EXPIRED behind JWTExpired).
   */
  sendError(code: WsErrorCode, message: string, roomId?: string, reason: string = code): void {
    this.metrics.refused(code)
    this.refused(reason, message, roomId)
    this.send(errorFrame(code, message, roomId))
  }

  /**
   * ws refused a frame of the peer (invalid UTF-8, over maxPayload, a bad opcode) and is
   * closing the socket with its own code: logged as a refusal under ws's error code.
   */
  peerError(err: Error & { code?: unknown }): void {
    if (err.code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH') {
      // Over maxPayload, ws closes with 1009 itself: the refusal of a frame too large.
      this.metrics.refused(closeReason(CLOSE.TOO_LARGE))
      this.refused(closeReason(CLOSE.TOO_LARGE), err.message)
      return
    }
    this.refused(typeof err.code === 'string' ? err.code : 'socket_error', err.message)
  }

  /** Log a refusal of this peer, bounded per address and reason when there is a summariser. */
  private refused(reason: string, detail: string, roomId?: string): void {
    logRefusal(this.refusals ?? this.refusalLog, {
      address: this.address,
      reason,
      endpoint: 'ws',
      detail,
      ...(roomId !== undefined ? { room_id: roomId } : {}),
    })
  }

  overflow(): void {
    this.close(CLOSE.SLOW_CONSUMER, 'fell behind during a replay')
  }

  fail(): void {
    this.close(CLOSE.INTERNAL)
  }

  /** Close with 4001 unless `subscribed()` is called within `ms` (docs/protocol.md §5.1). */
  startAuthTimeout(ms: number): void {
    this.authTimer = setTimeout(() => {
      this.close(CLOSE.UNAUTHORIZED, 'no successful subscribe in time')
    }, ms)
  }

  /**
   * Hold an unauthenticated place until the first successful subscribe or the close,
   * whichever comes first; `release` is then called once.
   */
  holdUnauthenticated(release: () => void): void {
    this.releaseUnauthenticated = release
  }

  /** The first successful subscribe: the auth timeout no longer applies. */
  subscribed(): void {
    clearTimeout(this.authTimer)
    this.authTimer = undefined
    this.releaseUnauthenticated?.()
    this.releaseUnauthenticated = undefined
  }

  /** Close with a code of the table, once; logged once. */
  close(close: Close, detail?: string): void {
    if (this.#closed) return
    this.#closed = true
    this.clearTimers()
    if (close === CLOSE.SLOW_CONSUMER) this.metrics.slowConsumer()
    else if (isRefusalClose(close)) this.metrics.refused(closeReason(close))
    // Every close for cause, the peer's (4000, 4001, 4008...) or not (4009, 1011), is one
    // refusal line at most, bounded per address and reason: a flood of them is not a flood
    // of lines. Normal closes and the shutdown's 1001 are not logged.
    if (close.code !== CLOSE.GOING_AWAY.code && close.code !== CLOSE.NORMAL.code) {
      this.refused(`close_${close.code}`, detail ?? close.reason)
    }
    try {
      this.ws.close(close.code, close.reason)
    } catch {
      this.ws.terminate()
    }
  }

  /** The peer went away: stop timers. */
  closedByPeer(): void {
    this.#closed = true
    this.clearTimers()
  }

  /**
   * Count one inbound frame against the rate limit; false once the peer exceeds
   * `maxFramesPerSecond` on average over the window.
   */
  countFrame(nowMs: number): boolean {
    if (nowMs - this.windowStart >= RATE_WINDOW_S * 1000) {
      this.windowStart = nowMs
      this.windowFrames = 0
    }
    this.windowFrames += 1
    return this.windowFrames <= this.limits.maxFramesPerSecond * RATE_WINDOW_S
  }

  /** Count one malformed frame; false once the peer has sent too many. */
  countMalformed(): boolean {
    this.malformed += 1
    return this.malformed <= this.limits.maxMalformedFrames
  }

  /**
   * Take a verified token's identity and expiry. Returns whether the connection was
   * expired before (the caller then catches its rooms up).
   */
  applyToken(claims: SubscriberClaims, nowMs: number): boolean {
    const wasExpired = this.#expired
    this.#userId = claims.userId
    this.#groups = claims.groups
    this.#exp = claims.exp
    this.#authenticated = true
    this.#expired = false
    clearTimeout(this.expiryTimer)
    clearTimeout(this.graceTimer)
    this.graceTimer = undefined
    this.armExpiry(nowMs)
    return wasExpired
  }

  private armExpiry(nowMs: number): void {
    const delay = (this.#exp + CLOCK_TOLERANCE_S) * 1000 - nowMs
    this.expiryTimer = setTimeout(
      () => {
        if (delay > MAX_TIMER_MS) this.armExpiry(Date.now())
        else this.expire()
      },
      Math.max(0, Math.min(delay, MAX_TIMER_MS)),
    )
  }

  private expire(): void {
    if (this.#closed) return
    this.#expired = true
    this.sendError('JWTExpired', 'token expired: send a {"type":"token"} frame with a new one')
    this.graceTimer = setTimeout(() => {
      this.close(CLOSE.UNAUTHORIZED, 'token expired and not refreshed')
    }, this.limits.expiredGraceMs)
  }

  private clearTimers(): void {
    this.releaseUnauthenticated?.()
    this.releaseUnauthenticated = undefined
    clearTimeout(this.authTimer)
    clearTimeout(this.expiryTimer)
    clearTimeout(this.graceTimer)
  }
}

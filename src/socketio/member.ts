import type { FastifyBaseLogger } from 'fastify'
import type { Socket } from 'socket.io'
import { CLOCK_TOLERANCE_S, type SubscriberClaims } from '../auth/token.js'
import type { StoredMessage } from '../broker/broker.js'
import { messageOfFrame } from '../protocol/server-frames.js'
import type { Member } from '../hub/member.js'
import { isRefusalCloseReason, type WsErrorCode } from '../errors.js'
import { logRefusal } from '../log-refusal.js'
import type { RefusalSummariser } from '../log-summary.js'
import type { RelayMetrics } from '../metrics.js'
import type { Corkable, WriteBatch } from '../ws/write-batch.js'
import { queuedBytes, type EncodedEvent, type EngineSocket } from './packets.js'

/** The namespace of Tuleap's Test Management pages. */
export const TESTMANAGEMENT_NSP = '/testmanagement'

/** Per-socket limits, from the config (the same as /ws connections'). */
export interface MemberLimits {
  readonly slowConsumerBytes: number
  readonly expiredGraceMs: number
  readonly maxEventsPerSecond: number
  readonly maxMalformed: number
}

/** What members share: event encoding, Test Management leave handling, metrics. */
export interface MemberContext {
  readonly limits: MemberLimits
  readonly metrics: RelayMetrics
  /** The EVENT packet of `m` for namespace `nsp`, encoded once per message and namespace. */
  encode(m: StoredMessage, nsp: string): EncodedEvent
  /** A member of `roomId` left (any node, any protocol): Test Management forgets its views. */
  left(roomId: string, uuid: string | null): void
  /** Holds a WebSocket page's writes of one turn together, as on /ws (absent: no batching). */
  readonly batch?: WriteBatch
  /** Where refusals are logged, bounded per address and reason; null: one debug line each. */
  readonly refusalLog?: RefusalSummariser | null
  /** The page's Engine.IO connection subscribed for the first time (max_unauthenticated_per_address). */
  authenticated?(conn: unknown): void
}

const MAX_TIMER_MS = 2 ** 31 - 1
const RATE_WINDOW_S = 10
const NO_GROUPS: ReadonlySet<string> = new Set()

/**
 * One socket.io socket (one page, one namespace) as a hub member. Deliveries arrive as
 * the hub's `message` frames and leave as socket.io events `emit(cmd, data)`, encoded
 * once per message and written straight to the Engine.IO socket, behind the same
 * backpressure bound as /ws. Control frames (presence, resync) become the events
 * Tuleap's pages know. Nothing here throws on what the peer does.
 */
export class SocketIoMember implements Member, Corkable {
  userId = 0
  groups: ReadonlySet<string> = NO_GROUPS
  uuid: string | null = null
  exp = 0
  expired = false
  authenticated = false
  /** Whether a subscription ever succeeded (the historic server's `socket.auth`). */
  everSubscribed = false
  closed = false
  private malformed = 0
  private windowStart = 0
  private windowEvents = 0
  private expiryTimer: NodeJS.Timeout | undefined
  private graceTimer: NodeJS.Timeout | undefined
  private authTimer: NodeJS.Timeout | undefined
  /** The TLS/TCP stream corked in the current batch, if any. */
  private corked: Corkable | undefined

  constructor(
    readonly socket: Socket,
    private readonly ctx: MemberContext,
    readonly log: FastifyBaseLogger,
    /** The client address (behind trusted_proxies, the real one), for refusal logs. */
    readonly address = '',
  ) {}

  /** The namespace: `/` (Kanban) or `/testmanagement`. */
  get nsp(): string {
    return this.socket.nsp.name
  }

  get isTestManagement(): boolean {
    return this.nsp === TESTMANAGEMENT_NSP
  }

  private get conn(): EngineSocket {
    return this.socket.conn as unknown as EngineSocket
  }

  send(frame: Buffer): void {
    if (this.closed || !this.socket.connected) return
    const m = messageOfFrame(frame)
    if (m) this.write(this.ctx.encode(m, this.nsp))
    else this.control(frame)
  }

  private write(event: EncodedEvent): void {
    const conn = this.conn
    if (conn.readyState !== 'open') return
    if (queuedBytes(conn) > this.ctx.limits.slowConsumerBytes) {
      this.ctx.metrics.slowConsumer()
      this.close(`more than ${this.ctx.limits.slowConsumerBytes} bytes queued`, 'close_4009')
      return
    }
    if (this.ctx.batch && !this.corked) {
      // ws keeps its stream as `_socket`; Engine.IO's WebSocket transport keeps the ws.
      const stream = (conn.transport.socket as { _socket?: Corkable } | undefined)?._socket
      if (stream) {
        this.corked = stream
        this.ctx.batch.hold(this)
      }
    }
    conn.write(event.packet, event.options)
  }

  cork(): void {
    this.corked?.cork()
  }

  /** The batch is flushed: what this turn wrote leaves now. */
  uncork(): void {
    const stream = this.corked
    this.corked = undefined
    stream?.uncork()
  }

  /** Hub frames other than messages: rare, so parsed here rather than typed through the hub. */
  private control(frame: Buffer): void {
    const f = JSON.parse(frame.toString()) as {
      type: string
      event?: string
      room_id?: string
      uuid?: string | null
    }
    if (f.type === 'presence' && f.event === 'leave' && f.room_id !== undefined) {
      this.ctx.left(f.room_id, f.uuid ?? null)
      if (this.isTestManagement) this.socket.emit('user:leave', f.uuid ?? null)
    } else if (f.type === 'resync') {
      // Messages were lost for this page. The Test Management page reloads everything
      // when told its token expired (and subscribes again); the Kanban page has no such
      // path, and on a disconnect it asks the user to reload, which is the truth.
      if (this.isTestManagement) this.socket.emit('error-jwt', 'JWTExpired')
      else this.close('messages were lost', 'resync')
    }
  }

  overflow(): void {
    this.ctx.metrics.slowConsumer()
    this.close('fell behind during a replay', 'close_4009')
  }

  fail(): void {
    this.close('internal error', 'close_1011')
  }

  /**
   * Close the page's whole connection, as the historic server's `disconnect('unauthorized')`
   * did. With `code` (the /ws close code of the same cause, `close_NNNN`, or another stable
   * reason), the close is logged as a refusal, bounded per address and reason, and counted
   * in refusals_total when /ws counts that close as one; without, its cause was logged
   * already and the close itself is a debug line.
   */
  close(reason: string, code?: string): void {
    if (this.closed) return
    this.closed = true
    this.clearTimers()
    if (code !== undefined && isRefusalCloseReason(code)) this.ctx.metrics.refused(code)
    if (code !== undefined) this.refused(code, reason)
    else this.log.debug({ reason, nsp: this.nsp }, 'closing socket.io connection')
    this.socket.disconnect(true)
  }

  /**
   * A refused subscription or token event, counted under the error frame code /ws would
   * answer (`code`) and logged with the finer `reason` (a catalogue code) when there is one.
   */
  refusedEvent(code: WsErrorCode, detail: string, reason: string = code): void {
    this.ctx.metrics.refused(code)
    this.refused(reason, detail)
  }

  /** Log a refusal of this page (the same codes as /ws: close_4001, RateLimited...). */
  refused(reason: string, detail: string): void {
    logRefusal(this.ctx.refusalLog ?? this.log, {
      address: this.address,
      reason,
      endpoint: 'socket.io',
      detail,
    })
  }

  /** The peer went away: stop timers. */
  closedByPeer(): void {
    this.closed = true
    this.clearTimers()
  }

  /** Disconnect unless a subscription succeeds within `ms`. */
  startAuthTimeout(ms: number): void {
    this.authTimer = setTimeout(() => {
      this.close('no successful subscription in time', 'close_4001')
    }, ms)
  }

  /** A subscription succeeded: the auth timeout no longer applies. */
  subscribed(): void {
    if (!this.everSubscribed) this.ctx.authenticated?.(this.socket.conn)
    this.everSubscribed = true
    clearTimeout(this.authTimer)
    this.authTimer = undefined
  }

  /** Count one inbound event; false once the peer exceeds the rate averaged over the window. */
  countEvent(nowMs: number): boolean {
    if (nowMs - this.windowStart >= RATE_WINDOW_S * 1000) {
      this.windowStart = nowMs
      this.windowEvents = 0
    }
    this.windowEvents += 1
    return this.windowEvents <= this.ctx.limits.maxEventsPerSecond * RATE_WINDOW_S
  }

  /** Count one malformed payload; false once the peer has sent too many. */
  countMalformed(): boolean {
    this.malformed += 1
    return this.malformed <= this.ctx.limits.maxMalformed
  }

  /** Take a verified token; returns whether the socket was expired before. */
  applyToken(claims: SubscriberClaims, nowMs: number): boolean {
    const wasExpired = this.expired
    this.userId = claims.userId
    this.groups = claims.groups
    this.exp = claims.exp
    this.authenticated = true
    this.expired = false
    clearTimeout(this.expiryTimer)
    clearTimeout(this.graceTimer)
    this.graceTimer = undefined
    this.armExpiry(nowMs)
    return wasExpired
  }

  private armExpiry(nowMs: number): void {
    const delay = (this.exp + CLOCK_TOLERANCE_S) * 1000 - nowMs
    this.expiryTimer = setTimeout(
      () => {
        if (delay > MAX_TIMER_MS) this.armExpiry(Date.now())
        else this.expire()
      },
      Math.max(0, Math.min(delay, MAX_TIMER_MS)),
    )
  }

  /**
   * The historic event: the page fetches a new token and sends `subscription` again.
   * Live delivery stops meanwhile; the hub keeps the position, so nothing is lost.
   */
  private expire(): void {
    if (this.closed) return
    this.expired = true
    this.ctx.metrics.refused('JWTExpired')
    this.socket.emit('error-jwt', 'JWTExpired')
    this.graceTimer = setTimeout(() => {
      this.close('token expired and not renewed', 'close_4001')
    }, this.ctx.limits.expiredGraceMs)
  }

  private clearTimers(): void {
    clearTimeout(this.authTimer)
    clearTimeout(this.expiryTimer)
    clearTimeout(this.graceTimer)
  }
}

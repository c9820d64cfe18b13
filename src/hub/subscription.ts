import { canReceive } from '../auth/rights.js'
import type { HistoryResult, RoomPosition, StoredMessage } from '../broker/broker.js'
import { RelayError } from '../errors.js'
import { messageFrame, resyncFrame } from '../protocol/server-frames.js'
import type { Member } from './member.js'

/** docs/protocol.md §4: rights against the member's current token, and sender exclusion. */
export function isVisible(m: StoredMessage, member: Member): boolean {
  if (
    m.sender_uuid !== null &&
    m.sender_uuid === member.uuid &&
    m.sender_user_id === member.userId
  ) {
    return false
  }
  return m.rights === null || canReceive(m.rights, member.userId, member.groups)
}

/** What a subscription needs from outside: its room's history, its bounds, where errors go. */
export interface SubscriptionFeed {
  /** The room's history after `since` (the hub reads it from the broker). */
  readonly history: (since: RoomPosition) => Promise<HistoryResult>
  /** Live messages that may wait behind a replay before the member overflows. */
  readonly maxPending: number
  /** First delay before a catch-up refused by an unavailable broker is tried again. */
  readonly catchUpRetryMs: number
  /** A history read failed, or the member threw while being handed a frame. */
  readonly onError: (err: unknown, member: Member) => void
}

/**
 * Catch-up attempts refused by an unavailable broker before the member is failed: with
 * the default delays (250 ms doubling up to 2 s) about 35 s, longer than a failover.
 */
export const CATCH_UP_ATTEMPTS = 20

/**
 * One member in one room, and the no-gap, no-duplicate promise of docs/protocol.md §6:
 * history is replayed, then live messages follow, none lost or repeated in between.
 *
 * The state machine, and the only writer of its state:
 * - replaying (`pending` non-null): live messages wait in `pending`, in order, at most
 *   `maxPending` of them (one more overflows the member); nothing live is sent.
 * - live: a message is sent when it is the next offset of the same epoch; an offset
 *   already handled is dropped; a gap or another epoch starts a catch-up from history
 *   (back to replaying), which ends in the missed messages, or in a `resync` when
 *   history no longer has them, then in what waited.
 * - removed: every pending read is ignored when it answers.
 * `epoch` and `offset` are the position handled so far, delivered or filtered out.
 */
export class Subscription {
  private epoch = ''
  private offset = 0
  private pending: StoredMessage[] | null = []
  private removed = false

  constructor(
    readonly member: Member,
    readonly roomId: string,
    private readonly feed: SubscriptionFeed,
  ) {}

  /** Whether history is being replayed (live messages wait). */
  get replaying(): boolean {
    return this.pending !== null
  }

  /** Whether the member has been answered `subscribed` (a position is set from then on). */
  get answered(): boolean {
    return this.epoch !== ''
  }

  /** The position handled so far. */
  get position(): RoomPosition {
    return { epoch: this.epoch, offset: this.offset }
  }

  /** Live messages waiting behind the replay, oldest first (for tests). */
  get waiting(): readonly StoredMessage[] {
    return this.pending ?? []
  }

  /** Whether the member left; its reads in flight are then ignored. */
  get isRemoved(): boolean {
    return this.removed
  }

  /** A subscribe to the same room again: live messages wait until `start`. */
  hold(): void {
    this.pending ??= []
  }

  /**
   * The member was answered `subscribed` at `latest`: replay `messages` (history after
   * offset `from`, in `latest`'s epoch), then what waited meanwhile, then go live.
   */
  start(latest: RoomPosition, from: number, messages: readonly StoredMessage[]): void {
    if (this.removed) return
    // A catch-up may have moved the position on while a subscribe again read history:
    // within an epoch the position never goes back, so nothing is handed over twice.
    const handled = latest.epoch === this.epoch ? this.offset : 0
    this.replay(latest.epoch, Math.max(from, handled), messages)
    this.offset = Math.max(latest.offset, handled)
    this.goLive()
  }

  /**
   * A live message from the room's fan-out, serialised once as `frame` for every member.
   * Returns whether the frame was sent. Throws only if the member does.
   */
  offer(m: StoredMessage, frame: Buffer): boolean {
    if (this.removed) return false
    if (this.pending) {
      if (this.pending.length >= this.feed.maxPending) this.member.overflow()
      else this.pending.push(m)
      return false
    }
    const member = this.member
    // Expired: the position stays, resume() catches up from history (docs/protocol.md §5.3).
    if (member.expired) return false
    if (m.epoch === this.epoch && m.offset <= this.offset) return false
    if (m.epoch !== this.epoch || m.offset !== this.offset + 1) {
      this.pending = [m]
      this.catchUp()
      return false
    }
    this.offset = m.offset
    if (!isVisible(m, member)) return false
    member.send(frame)
    return true
  }

  /** After a token refresh that ended an expiry: catch up from history unless replaying. */
  resume(): void {
    if (!this.pending && !this.removed) this.catchUp()
  }

  /** The member left the room. */
  remove(): void {
    this.removed = true
    this.pending = null
  }

  /** Deliver history from offset `from` of `epoch`: each message once, if visible. */
  private replay(epoch: string, from: number, messages: readonly StoredMessage[]): void {
    this.epoch = epoch
    this.offset = from
    for (const m of messages) {
      if (m.epoch !== this.epoch || m.offset <= this.offset) continue
      this.offset = m.offset
      if (isVisible(m, this.member)) this.member.send(messageFrame(m))
    }
  }

  /** Deliver what waited during the replay, in order, then go live. */
  private goLive(): void {
    const pending = this.pending ?? []
    this.pending = null
    for (const [i, m] of pending.entries()) {
      if (m.epoch !== this.epoch || m.offset > this.offset + 1) {
        // The room moved on in a way the replay did not cover: catch up again.
        this.pending = pending.slice(i)
        this.catchUp()
        return
      }
      if (m.offset <= this.offset) continue
      this.offset = m.offset
      if (isVisible(m, this.member)) this.member.send(messageFrame(m))
    }
  }

  /**
   * Bring the position up to date from history after a gap, an epoch change or an
   * expired token: the missed messages the member may see, or a `resync` when history
   * no longer has them. Live messages wait in `pending` meanwhile. A broker that is
   * unavailable for a moment (Redis reconnecting, a failover) is asked again with
   * backoff rather than failing the member: subscribers stay connected through it.
   */
  private catchUp(attempt = 0): void {
    this.pending ??= []
    const since = this.position
    this.caughtUp(since)
      .then(() => {
        if (!this.removed) this.goLive()
      })
      .catch((err: unknown) => {
        if (this.removed) return
        const unavailable = err instanceof RelayError && err.code === 'RELAY_ERR_BROKER_UNAVAILABLE'
        if (!unavailable || attempt + 1 >= CATCH_UP_ATTEMPTS) {
          this.feed.onError(err, this.member)
          return
        }
        const delay = this.feed.catchUpRetryMs * 2 ** Math.min(attempt, 3)
        setTimeout(() => {
          if (!this.removed) this.catchUp(attempt + 1)
        }, delay).unref()
      })
  }

  private async caughtUp(since: RoomPosition): Promise<void> {
    const history = await this.feed.history(since)
    if (this.removed) return
    // The room started a new epoch (its history was reset, e.g. Redis lost it): when
    // the new epoch's history is whole, resync at its start and replay it, so that the
    // messages that revealed the reset are delivered too.
    const fresh =
      history.messages === null && history.epoch !== since.epoch
        ? await this.feed.history({ epoch: history.epoch, offset: 0 })
        : null
    // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- remove() may set it during the await
    if (this.removed) return
    if (fresh?.messages && fresh.epoch === history.epoch) {
      this.member.send(resyncFrame(this.roomId, fresh.epoch, 0))
      this.replay(fresh.epoch, 0, fresh.messages)
    } else if (history.messages === null) {
      this.member.send(resyncFrame(this.roomId, history.epoch, history.offset))
      this.epoch = history.epoch
      this.offset = history.offset
    } else {
      // A subscribe to the same room may have moved the position while this read was
      // pending: replay from wherever is further, so that offsets never go back.
      const from = history.epoch === this.epoch ? Math.max(since.offset, this.offset) : since.offset
      this.replay(history.epoch, from, history.messages)
    }
  }
}

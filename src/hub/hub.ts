import type { Broker, RoomPosition, StoredMessage } from '../broker/broker.js'
import { NO_METRICS, type RelayMetrics } from '../metrics.js'
import { RelayError } from '../errors.js'
import { resyncFrame, subscribedFrame } from '../protocol/server-frames.js'
import { presenceEntry, Room, type Member, type Subscription } from './room.js'

/** Hub limits, from the config. */
export interface HubOptions {
  readonly presenceMaxMembers: number
  /** Live messages a member may have waiting behind a replay before it is dropped. */
  readonly maxPending: number
  /** Deliveries, latency and history hits are counted here; default: not counted. */
  readonly metrics?: RelayMetrics
  /** First delay before a catch-up refused by an unavailable broker is tried again; default 250. */
  readonly catchUpRetryMs?: number
}

/**
 * Catch-up attempts refused by an unavailable broker before the member is failed: with
 * the default delays (250 ms doubling up to 2 s) about 35 s, longer than a failover.
 */
const CATCH_UP_ATTEMPTS = 20

/** What a subscribe asks for. */
export interface SubscribeRequest {
  readonly since?: RoomPosition
  readonly presence: boolean
}

/**
 * Rooms → members. Joins members to rooms, replays history then goes live with no gap
 * and no duplicate (live messages wait in `pending` during a replay and are dropped by
 * offset when the replay already covered them), and fans messages out. Knows nothing
 * of WebSockets or HTTP.
 */
export class Hub {
  private readonly rooms = new Map<string, Room>()
  private readonly members = new Map<Member, Map<string, Subscription>>()

  constructor(
    private readonly broker: Broker,
    private readonly options: HubOptions,
    /** A member failed: its catch-up from history, or a frame handed to it, threw. */
    private readonly onError: (err: unknown, member: Member) => void,
  ) {}

  /** Number of rooms this member is in (including subscribes in progress). */
  roomCount(member: Member): number {
    return this.members.get(member)?.size ?? 0
  }

  /** Whether the member is in the room. */
  isSubscribed(member: Member, roomId: string): boolean {
    return this.members.get(member)?.has(roomId) ?? false
  }

  private room(roomId: string): Room {
    let room = this.rooms.get(roomId)
    if (!room) {
      room = new Room(
        roomId,
        this.options.maxPending,
        this.options.presenceMaxMembers,
        (sub) => {
          this.catchUp(sub)
        },
        this.onError,
        this.options.metrics ?? NO_METRICS,
      )
      room.ready = this.broker.subscribe(roomId, room.listener)
      this.broker.presence?.watch(roomId, room.presenceListener)
      this.rooms.set(roomId, room)
    }
    return room
  }

  /**
   * Join `member` to the room and answer `subscribed`, then replay what it missed since
   * `since`, then go live. A second subscribe to the same room replays again if asked.
   */
  async subscribe(member: Member, roomId: string, request: SubscribeRequest): Promise<void> {
    let subs = this.members.get(member)
    if (!subs) {
      subs = new Map()
      this.members.set(member, subs)
    }
    let sub = subs.get(roomId)
    const joining = sub === undefined
    if (!sub) {
      const room = this.room(roomId)
      sub = { member, room, presence: false, epoch: '', offset: 0, pending: [], removed: false }
      subs.set(roomId, sub)
      room.subs.add(sub)
    } else {
      sub.pending ??= []
    }
    const room = sub.room
    sub.presence = request.presence
    if (request.presence) room.watchers.add(sub)
    else room.watchers.delete(sub)
    try {
      await room.ready
      // Other nodes' members (several-node broker only), read afresh with the history.
      const [history, others] = await Promise.all([
        this.broker.history(roomId, request.since),
        this.broker.presence?.others(roomId),
      ])
      if (sub.removed) return
      if (request.since) this.options.metrics?.history(history.messages !== null)
      if (others) room.others = others.count
      // A list withheld by another node (too many members there) means no list here either.
      const detail = request.presence && room.presenceDetail && others?.members !== null

      member.send(
        subscribedFrame({
          room_id: roomId,
          epoch: history.epoch,
          offset: history.offset,
          ...(request.since ? { recovered: history.messages !== null } : {}),
          presence_count: room.memberCount,
          ...(detail ? { presence: [...room.presenceList(), ...(others?.members ?? [])] } : {}),
        }),
      )
      this.replay(
        sub,
        history.epoch,
        request.since?.offset ?? history.offset,
        history.messages ?? [],
      )
      sub.offset = history.offset
      this.goLive(sub)
      if (joining) this.announce(room, sub, 'join')
    } catch (err) {
      this.unsubscribe(member, roomId)
      throw err
    }
  }

  private replay(
    sub: Subscription,
    epoch: string,
    from: number,
    messages: readonly StoredMessage[],
  ): void {
    sub.epoch = epoch
    sub.offset = from
    for (const m of messages) sub.room.deliverTo(sub, m)
  }

  /** Deliver what waited during the replay, in order, then mark the subscription live. */
  private goLive(sub: Subscription): void {
    const pending = sub.pending ?? []
    sub.pending = null
    for (const m of pending) {
      if (m.epoch !== sub.epoch || m.offset > sub.offset + 1) {
        // The room moved on in a way the replay did not cover: catch up again.
        sub.pending = pending.slice(pending.indexOf(m))
        this.catchUp(sub)
        return
      }
      sub.room.deliverTo(sub, m)
    }
  }

  /**
   * Bring a subscription up to date from history after a gap, an epoch change or an
   * expired token: the missed messages it may see, or a `resync` when history no
   * longer has them. Live messages wait in `pending` meanwhile. A broker that is
   * unavailable for a moment (Redis reconnecting, a failover) is asked again with backoff
   * rather than failing the member: subscribers stay connected through it.
   */
  private catchUp(sub: Subscription, attempt = 0): void {
    sub.pending ??= []
    const since = { epoch: sub.epoch, offset: sub.offset }
    this.broker
      .history(sub.room.id, since)
      .then(async (history) => {
        if (sub.removed) return
        // The room started a new epoch (its history was reset, e.g. Redis lost it): when
        // the new epoch's history is whole, resync at its start and replay it, so that
        // the messages that revealed the reset are delivered too.
        const fresh =
          history.messages === null && history.epoch !== since.epoch
            ? await this.broker.history(sub.room.id, { epoch: history.epoch, offset: 0 })
            : null
        // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- unsubscribe may set it during the await
        if (sub.removed) return
        if (fresh?.messages && fresh.epoch === history.epoch) {
          sub.member.send(resyncFrame(sub.room.id, fresh.epoch, 0))
          this.replay(sub, fresh.epoch, 0, fresh.messages)
        } else if (history.messages === null) {
          sub.member.send(resyncFrame(sub.room.id, history.epoch, history.offset))
          sub.epoch = history.epoch
          sub.offset = history.offset
        } else {
          // A subscribe to the same room may have moved the position while this read was
          // pending: replay from wherever is further, so that offsets never go back.
          const from =
            history.epoch === sub.epoch ? Math.max(since.offset, sub.offset) : since.offset
          this.replay(sub, history.epoch, from, history.messages)
        }
        this.goLive(sub)
      })
      .catch((err: unknown) => {
        if (sub.removed) return
        const unavailable = err instanceof RelayError && err.code === 'RELAY_ERR_BROKER_UNAVAILABLE'
        if (!unavailable || attempt + 1 >= CATCH_UP_ATTEMPTS) {
          this.onError(err, sub.member)
          return
        }
        const delay = (this.options.catchUpRetryMs ?? 250) * 2 ** Math.min(attempt, 3)
        setTimeout(() => {
          if (!sub.removed) this.catchUp(sub, attempt + 1)
        }, delay).unref()
      })
  }

  /** After a token refresh that ended an expiry: catch up every room of the member. */
  resume(member: Member): void {
    for (const sub of this.members.get(member)?.values() ?? []) {
      if (!sub.pending) this.catchUp(sub)
    }
  }

  /**
   * Tell this node's watchers of `room`, and the other nodes (several-node broker only),
   * that `sub` joined or left.
   */
  private announce(room: Room, sub: Subscription, event: 'join' | 'leave'): void {
    room.announce(sub, event)
    this.broker.presence?.share(room.id, room.localShare(), {
      event,
      member: presenceEntry(sub.member),
    })
  }

  /** Leave one room; the room is dropped once empty. */
  unsubscribe(member: Member, roomId: string): void {
    const subs = this.members.get(member)
    const sub = subs?.get(roomId)
    if (!subs || !sub) return
    sub.removed = true
    subs.delete(roomId)
    if (subs.size === 0) this.members.delete(member)
    const room = sub.room
    room.subs.delete(sub)
    room.watchers.delete(sub)
    this.announce(room, sub, 'leave')
    if (room.subs.size === 0) {
      this.rooms.delete(roomId)
      this.broker.presence?.unwatch(roomId, room.presenceListener)
      this.broker.unsubscribe(roomId, room.listener).catch((err: unknown) => {
        this.onError(err, member)
      })
    }
  }

  /** The member is gone: leave every room. */
  remove(member: Member): void {
    for (const roomId of [...(this.members.get(member)?.keys() ?? [])])
      this.unsubscribe(member, roomId)
  }

  /** Sizes, for tests, health and metrics. */
  stats(): { rooms: number; members: number } {
    return { rooms: this.rooms.size, members: this.members.size }
  }
}

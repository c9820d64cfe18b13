import type { Broker, RoomPosition } from '../broker/broker.js'
import { NO_METRICS, type RelayMetrics } from '../metrics.js'
import { resyncFrame, subscribedFrame } from '../protocol/server-frames.js'
import { presenceEntry, type Member } from './member.js'
import { Room } from './room.js'
import { Subscription, type SubscriptionFeed } from './subscription.js'

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

/** What a subscribe asks for. */
export interface SubscribeRequest {
  readonly since?: RoomPosition
  readonly presence: boolean
}

/**
 * The registry (rooms → members, members → subscriptions) and the broker calls: joins
 * members to rooms, answers `subscribed`, and hands each Subscription (which owns the
 * replay → live hand-off, src/hub/subscription.ts) the history it asked for. Knows
 * nothing of WebSockets or HTTP.
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
        this.options.presenceMaxMembers,
        this.onError,
        this.options.metrics ?? NO_METRICS,
      )
      room.ready = this.broker.subscribe(roomId, room.listener)
      this.broker.presence?.watch(roomId, room.presenceListener)
      this.rooms.set(roomId, room)
    }
    return room
  }

  /** A subscription's history reads, bounds and error path. */
  private feed(roomId: string): SubscriptionFeed {
    return {
      history: (since) => this.broker.history(roomId, since),
      maxPending: this.options.maxPending,
      catchUpRetryMs: this.options.catchUpRetryMs ?? 250,
      onError: this.onError,
    }
  }

  /**
   * Join `member` to the room and answer `subscribed`, then replay what it missed since
   * `since`, then go live. A second subscribe to a room already joined goes on from where
   * the member is: nothing published meanwhile is skipped and nothing it was handed is
   * sent again, whatever `since` says; what history no longer holds is told by
   * `recovered: false` or a `resync` (docs/protocol.md §6).
   */
  async subscribe(member: Member, roomId: string, request: SubscribeRequest): Promise<void> {
    let subs = this.members.get(member)
    if (!subs) {
      subs = new Map()
      this.members.set(member, subs)
    }
    let sub = subs.get(roomId)
    const joining = sub === undefined
    const room = this.room(roomId)
    let since = request.since
    if (!sub) {
      sub = new Subscription(member, roomId, this.feed(roomId))
      subs.set(roomId, sub)
      room.join(sub, request.presence)
    } else {
      sub.hold()
      room.watch(sub, request.presence)
      since = ownPosition(since, sub.position)
    }
    try {
      await room.ready
      // Other nodes' members (several-node broker only), read afresh with the history.
      const [history, others] = await Promise.all([
        this.broker.history(roomId, since),
        this.broker.presence?.others(roomId),
      ])
      if (sub.isRemoved) return
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
      // Its own position no longer in history (evicted, or Redis lost it): told as a
      // catch-up would tell it, since no `since` of its own got `recovered: false`.
      if (!joining && since && !request.since && history.messages === null) {
        member.send(resyncFrame(roomId, history.epoch, history.offset))
      }
      sub.start(history, since?.offset ?? history.offset, history.messages ?? [])
      if (joining) this.announce(room, sub, 'join')
    } catch (err) {
      this.unsubscribe(member, roomId)
      throw err
    }
  }

  /** After a token refresh that ended an expiry: catch up every room of the member. */
  resume(member: Member): void {
    for (const sub of this.members.get(member)?.values() ?? []) sub.resume()
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
    sub.remove()
    subs.delete(roomId)
    if (subs.size === 0) this.members.delete(member)
    const room = this.rooms.get(roomId)
    if (!room) return
    const empty = room.leave(sub)
    this.announce(room, sub, 'leave')
    if (empty) {
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

/**
 * Where a subscribe to a room already joined reads history from: the member's own
 * position once it has one (its first subscribe answered), else the `since` it sent.
 */
function ownPosition(
  since: RoomPosition | undefined,
  position: RoomPosition,
): RoomPosition | undefined {
  return position.epoch === '' ? since : position
}

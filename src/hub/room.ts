import { canReceive } from '../auth/rights.js'
import type {
  PresenceListener,
  PresenceMember,
  PresenceShare,
  StoredMessage,
} from '../broker/broker.js'
import { NO_METRICS, type RelayMetrics } from '../metrics.js'

import { messageFrame, presenceFrame, type PresenceEntry } from '../protocol/server-frames.js'

/**
 * A subscriber as the hub sees it: identity and current rights (from its current
 * token), and a way to write frames. Implemented by the WebSocket connection.
 */
export interface Member {
  readonly userId: number
  readonly groups: ReadonlySet<string>
  readonly uuid: string | null
  /** True while its token is expired: no live delivery (docs/protocol.md §5.3). */
  readonly expired: boolean
  /** Write one frame; the Buffer is shared with other members and must not be mutated. */
  send(frame: Buffer): void
  /** The member fell too far behind a replay: close it as a slow consumer. */
  overflow(): void
  /** Serving the member failed on the relay's side (a broker error): close it as such. */
  fail(): void
}

/** A member as presence shows it (`subscribed.presence`, join/leave, other nodes). */
export function presenceEntry(member: Member): PresenceEntry {
  return { user_id: member.userId, uuid: member.uuid }
}

/** One member in one room. */
export interface Subscription {
  readonly member: Member
  readonly room: Room
  presence: boolean
  /** Epoch and last offset this member has been handled up to (delivered or filtered). */
  epoch: string
  offset: number
  /** Non-null while history is being replayed: live messages wait here, in order. */
  pending: StoredMessage[] | null
  removed: boolean
}

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

/** Callback for a subscription that saw a gap or an epoch change and must catch up. */
export type CatchUp = (sub: Subscription) => void

/** A room's local members; fan-out happens here. */
export class Room {
  readonly subs = new Set<Subscription>()
  /** Members that asked for presence detail. */
  readonly watchers = new Set<Subscription>()
  /** Resolves once the broker delivers this room's messages to `listener`. */
  ready: Promise<void> = Promise.resolve()
  /** Bound once: the broker's listener for this room. */
  readonly listener: (m: StoredMessage) => void
  /** Members on other nodes, as the broker last reported (always 0 on a single node). */
  others = 0
  /** Bound once: the broker's presence listener for this room (other nodes' changes). */
  readonly presenceListener: PresenceListener

  constructor(
    readonly id: string,
    private readonly maxPending: number,
    private readonly presenceMax: number,
    private readonly catchUp: CatchUp,
    /** A member threw while being handed a frame; the fan-out goes on without it. */
    private readonly onMemberError: (err: unknown, member: Member) => void,
    private readonly metrics: RelayMetrics = NO_METRICS,
  ) {
    this.listener = (m) => {
      this.dispatch(m)
    }
    this.presenceListener = (change, othersCount) => {
      this.others = othersCount
      this.announceMember(change.event, change.member, null)
    }
  }

  /**
   * Fan one message out. Serialised once; per member only the order check, the rights
   * check and the send. No await; a member that throws is reported to `onMemberError`
   * and the others still get the message.
   */
  dispatch(m: StoredMessage): void {
    const frame = messageFrame(m)
    let sent = 0
    for (const sub of this.subs) {
      try {
        sent += this.offer(sub, m, frame)
      } catch (err) {
        this.onMemberError(err, sub.member)
      }
    }
    this.metrics.delivered(sent)
    this.metrics.latency(Date.now() - m.published_at)
  }

  /** One member's share of `dispatch`: 1 when the frame was sent. Throws only if the member does. */
  private offer(sub: Subscription, m: StoredMessage, frame: Buffer): number {
    if (sub.pending) {
      if (sub.pending.length >= this.maxPending) sub.member.overflow()
      else sub.pending.push(m)
      return 0
    }
    const member = sub.member
    if (member.expired) return 0
    if (m.epoch === sub.epoch && m.offset <= sub.offset) return 0
    if (m.epoch !== sub.epoch || m.offset !== sub.offset + 1) {
      sub.pending = [m]
      this.catchUp(sub)
      return 0
    }
    sub.offset = m.offset
    if (!isVisible(m, member)) return 0
    member.send(frame)
    return 1
  }

  /** Deliver `m` to one subscription if it is next in order and visible (replay path). */
  deliverTo(sub: Subscription, m: StoredMessage): void {
    if (m.epoch !== sub.epoch || m.offset <= sub.offset) return
    sub.offset = m.offset
    if (isVisible(m, sub.member)) sub.member.send(messageFrame(m))
  }

  /** Members on every node: this node's and the others'. */
  get memberCount(): number {
    return this.subs.size + this.others
  }

  /** Whether presence detail is on for this room's current size (on every node). */
  get presenceDetail(): boolean {
    return this.memberCount <= this.presenceMax
  }

  /** Every member's ids, for `subscribed.presence`. */
  presenceList(): PresenceEntry[] {
    return [...this.subs].map((s) => presenceEntry(s.member))
  }

  /** This node's members as the broker shares them: the list only while it is bounded (§7). */
  localShare(): PresenceShare {
    const count = this.subs.size
    return { count, members: count <= this.presenceMax ? this.presenceList() : null }
  }

  /** Tell the other watchers that `sub` joined or left, while the room is small enough. */
  announce(sub: Subscription, event: 'join' | 'leave'): void {
    this.announceMember(event, presenceEntry(sub.member), sub)
  }

  /** A join/leave frame to every watcher but `except`, while the room is small enough. */
  private announceMember(
    event: 'join' | 'leave',
    member: PresenceMember,
    except: Subscription | null,
  ): void {
    if (this.watchers.size === 0 || !this.presenceDetail) return
    const frame = presenceFrame(this.id, event, member)
    for (const watcher of this.watchers) {
      if (watcher === except || watcher.pending || watcher.member.expired) continue
      try {
        watcher.member.send(frame)
      } catch (err) {
        this.onMemberError(err, watcher.member)
      }
    }
  }
}

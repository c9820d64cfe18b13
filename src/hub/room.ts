import type {
  PresenceListener,
  PresenceMember,
  PresenceShare,
  StoredMessage,
} from '../broker/broker.js'
import { NO_METRICS, type RelayMetrics } from '../metrics.js'
import { messageFrame, presenceFrame, type PresenceEntry } from '../protocol/server-frames.js'
import { presenceEntry, type Member } from './member.js'
import type { Subscription } from './subscription.js'

/**
 * A room's local members: fan-out and presence. Each member's order and replay state is
 * its Subscription's (src/hub/subscription.ts); the room hands it every live message.
 */
export class Room {
  private readonly subs = new Set<Subscription>()
  /** Members that asked for presence detail. */
  private readonly watchers = new Set<Subscription>()
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
    private readonly presenceMax: number,
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
   * Fan one message out. Serialised once; per member only its subscription's order and
   * rights checks and the send. No await; a member that throws is reported to
   * `onMemberError` and the others still get the message.
   */
  dispatch(m: StoredMessage): void {
    const frame = messageFrame(m)
    let sent = 0
    for (const sub of this.subs) {
      try {
        if (sub.offer(m, frame)) sent += 1
      } catch (err) {
        this.onMemberError(err, sub.member)
      }
    }
    this.metrics.delivered(sent)
    this.metrics.latency(Date.now() - m.published_at)
  }

  /** Add a member; `watching`: it asked for presence detail. */
  join(sub: Subscription, watching: boolean): void {
    this.subs.add(sub)
    this.watch(sub, watching)
  }

  /** Whether the member gets presence detail (a subscribe again may change it). */
  watch(sub: Subscription, watching: boolean): void {
    if (watching) this.watchers.add(sub)
    else this.watchers.delete(sub)
  }

  /** Remove a member; returns whether the room is now empty on this node. */
  leave(sub: Subscription): boolean {
    this.subs.delete(sub)
    this.watchers.delete(sub)
    return this.subs.size === 0
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

  /**
   * This node's members as the broker shares them: the list only while it is bounded
   * (docs/protocol.md §7).
   */
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
      // Before its first `subscribed` answer a watcher gets the list there instead. Presence
      // does not wait behind a catch-up: it carries no offset, and the list must stay true.
      if (watcher === except || !watcher.answered || watcher.member.expired) continue
      try {
        watcher.member.send(frame)
      } catch (err) {
        this.onMemberError(err, watcher.member)
      }
    }
  }
}

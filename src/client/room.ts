/**
 * One room on the client: its listeners, where it stands in the room's history, and
 * what the frames for it mean for the page. Knows nothing of sockets or timers.
 */
import { guard, type CallbackErrorReporter } from './callbacks.js'
import type {
  MessageFrame,
  PresenceFrame,
  ResyncFrame,
  RoomPosition,
  SubscribeFrame,
  SubscribedFrame,
} from './protocol.js'

/** Why the page must reload a room's state from its backend. */
export interface ResyncInfo {
  readonly room_id: string
  /** The position to continue from; later messages follow. */
  readonly epoch: string
  readonly offset: number
  /** `not_recovered`: a re-subscribe could not replay what was missed; `resync`: a `resync` frame. */
  readonly reason: 'not_recovered' | 'resync'
}

/** What a page gives `subscribe()`: callbacks for one room (`data` typed as `D`). */
export interface RoomHandlers<D = unknown> {
  /** A message of the room, in offset order, never twice. */
  onMessage(message: MessageFrame<D>): void
  /** Another tab joined or left (only with `presence: true`, in rooms under the server's limit). */
  onPresence?(event: PresenceFrame): void
  /** Messages were lost: reload the room's state from the backend. */
  onResync?(info: ResyncInfo): void
  /** The relay confirmed the subscription (after every (re)connection); carries presence. */
  onSubscribed?(frame: SubscribedFrame): void
  /** Ask for the member list and join/leave events (docs/protocol.md §7). Default false. */
  readonly presence?: boolean
}

/** What each room callback receives. */
interface CallbackValues {
  onMessage: MessageFrame
  onPresence: PresenceFrame
  onResync: ResyncInfo
  onSubscribed: SubscribedFrame
}

/** Where a room stands on the current connection. */
export type RoomStatus = 'idle' | 'pending' | 'subscribed' | 'refused'

/** A listener entry: the same handlers object subscribed twice is two entries. */
export interface RoomListener {
  readonly handlers: RoomHandlers
}

/**
 * A room the page subscribed to. `position` is the last message seen (or the position
 * the relay gave); it survives reconnections so that the next subscribe carries `since`.
 */
export class Room {
  readonly listeners = new Set<RoomListener>()
  /**
   * `idle`: to subscribe on this connection; `pending`: sent; `subscribed`: confirmed;
   * `refused`: the relay refused it (an `error` event told the page); retried on the next
   * connection.
   */
  status: RoomStatus = 'idle'
  position: RoomPosition | null = null
  private sentSince: RoomPosition | null = null
  private sentPresence = false

  constructor(
    readonly id: string,
    private readonly report: CallbackErrorReporter,
  ) {}

  /** Whether any listener asked for presence. */
  get wantsPresence(): boolean {
    for (const l of this.listeners) if (l.handlers.presence === true) return true
    return false
  }

  /** Subscribed without presence while a listener now wants it: subscribe again. */
  get needsPresence(): boolean {
    return this.status === 'subscribed' && !this.sentPresence && this.wantsPresence
  }

  /** The subscribe frame for this room, with `since` when a position is known; marks it pending. */
  subscribeFrame(uuid: string, token: string | null): SubscribeFrame {
    this.status = 'pending'
    this.sentSince = this.position
    this.sentPresence = this.wantsPresence
    return {
      type: 'subscribe',
      room_id: this.id,
      ...(token === null ? {} : { token }),
      uuid,
      ...(this.position ? { since: this.position } : {}),
      ...(this.sentPresence ? { presence: true } : {}),
    }
  }

  /**
   * The relay confirmed. After a subscribe with `since` that recovered, the missed
   * messages follow this frame (its `offset` is the room's latest), so the position stays
   * where it was and advances with them; otherwise the frame's position is adopted, and
   * a subscribe with `since` that did not recover asks the page to resync.
   */
  subscribed(frame: SubscribedFrame): void {
    this.status = 'subscribed'
    const since = this.sentSince
    this.sentSince = null
    const lost = since !== null && (frame.recovered === false || frame.epoch !== since.epoch)
    if (since === null || lost) this.position = { epoch: frame.epoch, offset: frame.offset }
    this.each('onSubscribed', frame)
    if (lost) {
      this.each('onResync', {
        room_id: this.id,
        epoch: frame.epoch,
        offset: frame.offset,
        reason: 'not_recovered',
      })
    }
  }

  /** Deliver a message unless its offset was already seen in this epoch; false when dropped. */
  message(frame: MessageFrame): boolean {
    const at = this.position
    if (at !== null && frame.epoch === at.epoch && frame.offset <= at.offset) return false
    this.position = { epoch: frame.epoch, offset: frame.offset }
    this.each('onMessage', frame)
    return true
  }

  /** Messages were lost: adopt the new position and tell the page. */
  resync(frame: ResyncFrame): void {
    this.position = { epoch: frame.epoch, offset: frame.offset }
    this.each('onResync', {
      room_id: this.id,
      epoch: frame.epoch,
      offset: frame.offset,
      reason: 'resync',
    })
  }

  /** A member joined or left. */
  presence(frame: PresenceFrame): void {
    this.each('onPresence', frame)
  }

  /** Call one callback of every listener, each guarded, as a method of its handlers. */
  private each<K extends keyof CallbackValues>(name: K, value: CallbackValues[K]): void {
    for (const { handlers } of [...this.listeners]) {
      guard(this.report, () => {
        const fn = handlers[name] as ((v: CallbackValues[K]) => void) | undefined
        fn?.call(handlers, value)
      })
    }
  }
}

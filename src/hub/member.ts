import type { PresenceEntry } from '../protocol/server-frames.js'

/**
 * A subscriber as the hub sees it: identity and current rights (from its current
 * token), and a way to write frames. Implemented by the WebSocket connection and the
 * socket.io member.
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

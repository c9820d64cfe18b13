import type { Message, RoomPosition, StoredMessage } from '../protocol/message.js'

export type { Message, RoomPosition, StoredMessage } from '../protocol/message.js'

/** Answer to a history read. */
export interface HistoryResult extends RoomPosition {
  /**
   * The messages after `since`, oldest first, up to `offset`; null when history no
   * longer covers `since` (another epoch, or trimmed by size or age).
   */
  readonly messages: readonly StoredMessage[] | null
}

/** Events of a shared backend, counted since the node started. */
export interface BrokerCounts {
  /** The connection to the backend was lost and is back. */
  reconnects: number
  /** The backend came back as another server (failover, or restart): fencing applies. */
  failovers: number
  /** Rooms with local listeners that moved to a new epoch: their state was lost (fencing). */
  roomsResynced: number
}

/** Called with each message of a subscribed room, in offset order. */
export type RoomListener = (message: StoredMessage) => void

/** Where each message of a publish was stored: its room and position, in publish order. */
export type Accepted = readonly {
  readonly room_id: string
  readonly epoch: string
  readonly offset: number
}[]

/** A publish's idempotency key (docs/protocol.md §1.2): within `ttlMs`, one `jti` publishes once. */
export interface Idempotency {
  readonly jti: string
  readonly ttlMs: number
}

/** What a publish did. */
export interface Published {
  /** The messages as stored, in order; empty for a duplicate. */
  readonly stored: readonly StoredMessage[]
  /**
   * Where they were stored; for a duplicate, what the first publish under the `jti`
   * accepted (empty while that publish is still in flight).
   */
  readonly accepted: Accepted
  /** The `jti` was already used within its window: nothing was published. */
  readonly duplicate: boolean
}

/** The accepted entries of stored messages. */
export function acceptedOf(stored: readonly StoredMessage[]): Accepted {
  return stored.map((m) => ({ room_id: m.room_id, epoch: m.epoch, offset: m.offset }))
}

/** A member of a room as presence shows it: ids only (docs/protocol.md §7). */
export interface PresenceMember {
  readonly user_id: number
  readonly uuid: string | null
}

/**
 * Some node's share of a room's presence: how many members, and who, unless there are
 * more than `presence_max_members` of them (then `members` is null: bounded,
 * docs/protocol.md §7).
 */
export interface PresenceShare {
  readonly count: number
  readonly members: readonly PresenceMember[] | null
}

/** A member joined or left the room on another node. */
export interface PresenceChange {
  readonly event: 'join' | 'leave'
  readonly member: PresenceMember
}

/**
 * Called with another node's join or leave in a room this node subscribes to (also when
 * that node stopped refreshing its members: they leave), and how many members the other
 * nodes have now.
 */
export type PresenceListener = (change: PresenceChange, othersCount: number) => void

/**
 * Presence across nodes, for brokers that span several (optional: a single-process broker
 * has no other nodes). Members of a dead node expire; nothing here rejects.
 */
export interface BrokerPresence {
  /**
   * Replace this node's share of the room (count 0: it has left) and announce `change`
   * to the other nodes. Fire and forget; kept fresh until replaced.
   */
  share(roomId: string, local: PresenceShare, change: PresenceChange | null): void
  /** The other nodes' members of the room, read afresh; empty when that is not possible. */
  others(roomId: string): Promise<PresenceShare>
  /** Start calling `listener` for the other nodes' changes of a subscribed room. */
  watch(roomId: string, listener: PresenceListener): void
  /** Stop calling `listener`. */
  unwatch(roomId: string, listener: PresenceListener): void
}

/**
 * Where messages go between publishers and hubs. One implementation per deployment:
 * memory (one process) or Redis (several nodes). Every implementation passes
 * test/broker/contract.ts.
 */
export interface Broker {
  /**
   * Append the messages to their rooms' histories, all or none, assigning offsets in
   * order, then hand each to the room's listeners (on every node). Resolves once local
   * listeners have been called. Rejects with RELAY_ERR_BROKER_UNAVAILABLE when nothing
   * could be stored. With `idempotency`, a `jti` already used within its window
   * publishes nothing and resolves `duplicate`; a failed publish releases its `jti`.
   */
  publish(messages: readonly Message[], idempotency?: Idempotency): Promise<Published>
  /** Start calling `listener` for the room's messages. */
  subscribe(roomId: string, listener: RoomListener): Promise<void>
  /** Stop calling `listener`. */
  unsubscribe(roomId: string, listener: RoomListener): Promise<void>
  /** The room's position and, when `since` is given, the messages after it. */
  history(roomId: string, since?: RoomPosition): Promise<HistoryResult>
  /** Presence across nodes; absent when there is only this node. */
  readonly presence?: BrokerPresence
  /** What the backend did under this node since start (metrics); absent: nothing to count. */
  readonly counts?: Readonly<BrokerCounts>
  /** Whether the broker can publish now (readiness). */
  readonly ready: boolean
  /** Release every resource; the same promise when called twice. */
  close(): Promise<void>
}

import type { Message } from '../protocol/message.js'
import {
  acceptedOf,
  type Accepted,
  type Broker,
  type HistoryResult,
  type Idempotency,
  type Published,
  type RoomListener,
  type RoomPosition,
  type StoredMessage,
} from './broker.js'
import { newEpoch } from './epoch.js'

/** Limits of the in-memory broker. */
export interface MemoryBrokerOptions {
  readonly historySize: number
  readonly historyTtlMs: number
  /** Rooms with a history, at most (`max_rooms`); default: unbounded. */
  readonly maxRooms?: number
  /** Total size of the histories, messages counted as JSON (`history_max_bytes`); default: unbounded. */
  readonly historyMaxBytes?: number
  /** Clock, for tests. */
  readonly now?: () => number
  /** Called when a listener throws; the other listeners still run. */
  readonly onListenerError?: (err: unknown) => void
}

interface RoomState {
  readonly epoch: string
  offset: number
  /** Oldest first, at most historySize entries. */
  history: StoredMessage[]
  /** The size counted for each entry of `history`, in the same order. */
  sizes: number[]
  /** Sum of `sizes`. */
  bytes: number
  readonly listeners: Set<RoomListener>
}

interface JtiEntry {
  expires: number
  accepted: Accepted
}

/** What a stored message counts for in `history_max_bytes`: its JSON, and a fixed overhead. */
const MESSAGE_OVERHEAD_BYTES = 200

function sizeOf(m: Message): number {
  const variable = JSON.stringify([m.room_id, m.cmd, m.data, m.rights, m.sender_uuid]).length
  return MESSAGE_OVERHEAD_BYTES + variable
}

/**
 * The single-process broker: histories in memory (lost on restart, hence a new epoch),
 * listeners called synchronously inside publish.
 *
 * Nothing is kept for nothing: a room with neither listener nor history is forgotten at
 * once (naming a room costs nothing once it is left), and the histories are bounded in
 * total by `maxRooms` and `historyMaxBytes`, dropping messages oldest first from the room
 * published to least recently. docs/protocol.md §6 still holds: a room that starts again
 * after being forgotten with messages gets an epoch never given before, so a `since` from
 * before can only be answered "not covered" (recovered: false), never a false "covered".
 * Rooms never forgotten with a message share the epoch of the current generation, so that
 * the position a subscriber is told before the first message stays valid.
 */
export class MemoryBroker implements Broker {
  readonly ready = true
  private readonly rooms = new Map<string, RoomState>()
  /** Rooms with a non-empty history, published to least recently first. */
  private readonly withHistory = new Map<string, RoomState>()
  private totalBytes = 0
  private readonly jtis = new Map<string, JtiEntry>()
  private readonly now: () => number
  private readonly timer: NodeJS.Timeout
  private closing: Promise<void> | null = null
  /** Per process: every epoch this broker gives starts with it. */
  private readonly base = newEpoch()
  /** Rooms forgotten after a message so far: the epoch of a new room ends with it. */
  private generation = 0

  constructor(private readonly options: MemoryBrokerOptions) {
    this.now = options.now ?? Date.now
    const interval = Math.min(options.historyTtlMs, 60_000)
    this.timer = setInterval(() => {
      this.sweep()
    }, interval)
    this.timer.unref()
  }

  /** The epoch a room created now gets. */
  private get freshEpoch(): string {
    return `${this.base}.${this.generation.toString(36)}`
  }

  private room(roomId: string): RoomState {
    let room = this.rooms.get(roomId)
    if (!room) {
      room = {
        epoch: this.freshEpoch,
        offset: 0,
        history: [],
        sizes: [],
        bytes: 0,
        listeners: new Set(),
      }
      this.rooms.set(roomId, room)
    }
    return room
  }

  /** Forget the room if nothing holds it: no listener and no history. */
  private release(roomId: string, room: RoomState): void {
    if (room.listeners.size > 0 || room.history.length > 0) return
    if (this.rooms.get(roomId) !== room) return
    this.rooms.delete(roomId)
    // Its epoch and offsets must never be given again (docs/protocol.md §6).
    if (room.offset > 0) this.generation += 1
  }

  /** Drop the room's `count` oldest messages; a room left with neither is forgotten. */
  private dropOldest(roomId: string, room: RoomState, count: number): void {
    if (count <= 0) return
    let dropped = 0
    for (let i = 0; i < count; i++) dropped += room.sizes[i] ?? 0
    room.bytes -= dropped
    this.totalBytes -= dropped
    room.history = room.history.slice(count)
    room.sizes = room.sizes.slice(count)
    if (room.history.length === 0) {
      this.withHistory.delete(roomId)
      this.release(roomId, room)
    }
  }

  private expire(roomId: string, room: RoomState, now: number): void {
    const cutoff = now - this.options.historyTtlMs
    let drop = 0
    while (drop < room.history.length && (room.history[drop]?.published_at ?? now) < cutoff) drop++
    this.dropOldest(roomId, room, drop)
  }

  /** Within max_rooms and history_max_bytes: drop oldest first, from the room published to least recently. */
  private enforceBudget(): void {
    const maxRooms = this.options.maxRooms ?? Infinity
    const maxBytes = this.options.historyMaxBytes ?? Infinity
    while (this.withHistory.size > maxRooms || this.totalBytes > maxBytes) {
      const oldest = this.withHistory.entries().next()
      if (oldest.done === true) return
      const [roomId, room] = oldest.value
      if (this.withHistory.size > maxRooms) {
        this.dropOldest(roomId, room, room.history.length)
        continue
      }
      let count = 0
      let freed = 0
      while (count < room.history.length && this.totalBytes - freed > maxBytes) {
        freed += room.sizes[count] ?? 0
        count++
      }
      this.dropOldest(roomId, room, count)
    }
  }

  publish(messages: readonly Message[], idempotency?: Idempotency): Promise<Published> {
    const now = this.now()
    if (idempotency) {
      // Check and record in the same synchronous turn: no other publish can interleave.
      const entry = this.jtis.get(idempotency.jti)
      if (entry && entry.expires > now) {
        return Promise.resolve({ stored: [], accepted: entry.accepted, duplicate: true })
      }
    }
    const stored = messages.map((message) => {
      const room = this.room(message.room_id)
      room.offset += 1
      const entry: StoredMessage = {
        ...message,
        epoch: room.epoch,
        offset: room.offset,
        published_at: now,
      }
      const size = sizeOf(message)
      room.history.push(entry)
      room.sizes.push(size)
      room.bytes += size
      this.totalBytes += size
      // Published to most recently: last in eviction order.
      this.withHistory.delete(message.room_id)
      this.withHistory.set(message.room_id, room)
      if (room.history.length > this.options.historySize) {
        this.dropOldest(message.room_id, room, room.history.length - this.options.historySize)
      }
      return entry
    })
    this.enforceBudget()
    const accepted = acceptedOf(stored)
    if (idempotency) {
      this.jtis.set(idempotency.jti, { expires: now + idempotency.ttlMs, accepted })
    }
    for (const entry of stored) {
      for (const listener of this.rooms.get(entry.room_id)?.listeners ?? []) {
        try {
          listener(entry)
        } catch (err) {
          this.options.onListenerError?.(err)
        }
      }
    }
    return Promise.resolve({ stored, accepted, duplicate: false })
  }

  subscribe(roomId: string, listener: RoomListener): Promise<void> {
    this.room(roomId).listeners.add(listener)
    return Promise.resolve()
  }

  unsubscribe(roomId: string, listener: RoomListener): Promise<void> {
    const room = this.rooms.get(roomId)
    if (room?.listeners.delete(listener)) this.release(roomId, room)
    return Promise.resolve()
  }

  history(roomId: string, since?: RoomPosition): Promise<HistoryResult> {
    const room = this.rooms.get(roomId)
    if (!room) {
      // A room nobody holds: reading it creates nothing. Its position is where it would
      // start now, and only that position is covered.
      const position = { epoch: this.freshEpoch, offset: 0 }
      const covered = since?.epoch === position.epoch && since.offset === 0
      return Promise.resolve({ ...position, messages: covered ? [] : null })
    }
    this.expire(roomId, room, this.now())
    const position = { epoch: room.epoch, offset: room.offset }
    if (!since) return Promise.resolve({ ...position, messages: null })
    if (since.epoch !== room.epoch || since.offset > room.offset) {
      return Promise.resolve({ ...position, messages: null })
    }
    const oldest = room.history[0]?.offset ?? room.offset + 1
    if (oldest > since.offset + 1) return Promise.resolve({ ...position, messages: null })
    return Promise.resolve({
      ...position,
      messages: room.history.filter((m) => m.offset > since.offset),
    })
  }

  /** Drop expired messages (forgetting rooms left with nothing) and expired jti entries. */
  sweep(): void {
    const now = this.now()
    for (const [id, room] of this.withHistory) this.expire(id, room, now)
    for (const [jti, entry] of this.jtis) if (entry.expires <= now) this.jtis.delete(jti)
  }

  /** Sizes, for tests and metrics. */
  stats(): { rooms: number; jtis: number } {
    return { rooms: this.rooms.size, jtis: this.jtis.size }
  }

  /** Rooms with a history, and the histories' total size as counted for history_max_bytes. */
  historyStats(): { rooms: number; bytes: number } {
    return { rooms: this.withHistory.size, bytes: this.totalBytes }
  }

  close(): Promise<void> {
    this.closing ??= Promise.resolve().then(() => {
      clearInterval(this.timer)
      this.rooms.clear()
      this.withHistory.clear()
      this.totalBytes = 0
      this.jtis.clear()
    })
    return this.closing
  }
}

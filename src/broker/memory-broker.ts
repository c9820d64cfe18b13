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
  readonly listeners: Set<RoomListener>
  /** Last publish or last listener leaving: the room is forgotten historyTtlMs later. */
  lastActive: number
}

interface JtiEntry {
  expires: number
  accepted: Accepted
}

/**
 * The single-process broker: histories in memory (lost on restart, hence a new epoch),
 * listeners called synchronously inside publish. Rooms and jti entries are swept once
 * idle, so nothing outlives history_ttl_s.
 */
export class MemoryBroker implements Broker {
  readonly ready = true
  private readonly rooms = new Map<string, RoomState>()
  private readonly jtis = new Map<string, JtiEntry>()
  private readonly now: () => number
  private readonly timer: NodeJS.Timeout
  private closing: Promise<void> | null = null

  constructor(private readonly options: MemoryBrokerOptions) {
    this.now = options.now ?? Date.now
    const interval = Math.min(options.historyTtlMs, 60_000)
    this.timer = setInterval(() => {
      this.sweep()
    }, interval)
    this.timer.unref()
  }

  private room(roomId: string): RoomState {
    let room = this.rooms.get(roomId)
    if (!room) {
      room = {
        epoch: newEpoch(),
        offset: 0,
        history: [],
        listeners: new Set(),
        lastActive: this.now(),
      }
      this.rooms.set(roomId, room)
    }
    return room
  }

  private expire(room: RoomState, now: number): void {
    const cutoff = now - this.options.historyTtlMs
    let drop = 0
    while (drop < room.history.length && (room.history[drop]?.published_at ?? now) < cutoff) drop++
    if (drop > 0) room.history = room.history.slice(drop)
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
      room.lastActive = now
      const entry: StoredMessage = {
        ...message,
        epoch: room.epoch,
        offset: room.offset,
        published_at: now,
      }
      room.history.push(entry)
      if (room.history.length > this.options.historySize) room.history.shift()
      return entry
    })
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
    if (room?.listeners.delete(listener)) room.lastActive = this.now()
    return Promise.resolve()
  }

  history(roomId: string, since?: RoomPosition): Promise<HistoryResult> {
    const now = this.now()
    const room = this.room(roomId)
    this.expire(room, now)
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

  /** Forget idle rooms whose history has expired and expired jti entries. */
  sweep(): void {
    const now = this.now()
    for (const [id, room] of this.rooms) {
      this.expire(room, now)
      const idle = room.listeners.size === 0 && room.history.length === 0
      if (idle && now - room.lastActive >= this.options.historyTtlMs) this.rooms.delete(id)
    }
    for (const [jti, entry] of this.jtis) if (entry.expires <= now) this.jtis.delete(jti)
  }

  /** Sizes, for tests and metrics. */
  stats(): { rooms: number; jtis: number } {
    return { rooms: this.rooms.size, jtis: this.jtis.size }
  }

  close(): Promise<void> {
    this.closing ??= Promise.resolve().then(() => {
      clearInterval(this.timer)
      this.rooms.clear()
      this.jtis.clear()
    })
    return this.closing
  }
}

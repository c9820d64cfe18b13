import type { Redis } from 'ioredis'
import type { RoomListener, StoredMessage } from './broker.js'
import { unavailable } from './redis-connection.js'

/** A room channel this node holds, and the position delivered to its listeners. */
interface Channel {
  readonly name: string
  readonly listeners: Set<RoomListener>
  /** Resolves once Redis acknowledged the SUBSCRIBE. */
  readonly subscribed: Promise<unknown>
  /** True while the subscriber connection holds it (every publish comes back on it). */
  live: boolean
  epoch: string | null
  offset: number
  /**
   * The room's latest epoch this node saw, delivered or read from history: what a new
   * epoch is told from (fencing), also on a channel held again that delivered nothing yet.
   */
  seenEpoch: string | null
  /** Local publishes waiting for an offset to come back on the channel. */
  waiters: { epoch: string; offset: number; done: () => void }[]
}

/** A room's position as delivered to this node's listeners. */
export interface DeliveredPosition {
  readonly roomId: string
  readonly epoch: string
  readonly offset: number
}

/** Bound on how long a local publish waits for its offsets to come back on the channel. */
const ECHO_WAIT_MS = 1000
/** Channels per SUBSCRIBE when re-subscribing after a reconnect. */
const SUBSCRIBE_CHUNK = 1000

/**
 * The room channels of one node on its subscriber connection: one channel per room,
 * SUBSCRIBEd on the first listener and UNSUBSCRIBEd after the last (reference-counted),
 * so a node never receives rooms it does not serve. Listeners get each message once, in
 * offset order: a message at or below the room's delivered position is dropped.
 */
export class RoomChannels {
  private readonly channels = new Map<string, Channel>()

  constructor(
    private readonly sub: Redis,
    private readonly prefix: string,
    /** A listener threw; the others still run. */
    private readonly onListenerError: (err: unknown) => void,
    /** A presence event arrived on a held room channel. */
    private readonly onPresence: (roomId: string, event: unknown) => void,
    /** A payload that is not JSON (nothing this relay publishes). */
    private readonly onUnreadable: (err: unknown, channel: string) => void,
    /** A delivered room moved to another epoch: its history was reset (fencing). */
    private readonly onEpochChange: (roomId: string) => void = () => undefined,
  ) {
    sub.on('message', (channel: string, payload: string) => {
      this.onMessage(channel, payload)
    })
  }

  /** The channel of a room. */
  name(roomId: string): string {
    return `${this.prefix}${roomId}`
  }

  /** Rooms held. */
  rooms(): IterableIterator<string> {
    return this.channels.keys()
  }

  /** Every held room with a delivered position (to catch up after an outage). */
  positions(): DeliveredPosition[] {
    const out: DeliveredPosition[] = []
    for (const [roomId, ch] of this.channels) {
      if (ch.epoch !== null) out.push({ roomId, epoch: ch.epoch, offset: ch.offset })
    }
    return out
  }

  /** Add a listener; resolves once the channel is held, rejects (503) if it cannot be. */
  async subscribe(roomId: string, listener: RoomListener): Promise<void> {
    let ch = this.channels.get(roomId)
    if (!ch) {
      const subscribed = this.sub.subscribe(this.name(roomId))
      subscribed.catch(() => undefined)
      ch = {
        name: this.name(roomId),
        listeners: new Set(),
        subscribed,
        live: false,
        epoch: null,
        offset: 0,
        seenEpoch: null,
        waiters: [],
      }
      this.channels.set(roomId, ch)
    }
    ch.listeners.add(listener)
    try {
      await ch.subscribed
      ch.live ||= this.sub.status === 'ready'
    } catch (err) {
      ch.listeners.delete(listener)
      this.dropIfIdle(roomId, ch)
      throw unavailable(err)
    }
  }

  /** Remove a listener; the last one gone, the channel is released. */
  unsubscribe(roomId: string, listener: RoomListener): void {
    const ch = this.channels.get(roomId)
    if (ch?.listeners.delete(listener)) this.dropIfIdle(roomId, ch)
  }

  private dropIfIdle(roomId: string, ch: Channel): void {
    if (ch.listeners.size > 0 || this.channels.get(roomId) !== ch) return
    this.channels.delete(roomId)
    this.release(ch)
    if (this.sub.status === 'ready') this.sub.unsubscribe(ch.name).catch(() => undefined)
  }

  /** After a reconnect: SUBSCRIBE every held channel again; false if the connection dropped. */
  async resubscribe(): Promise<boolean> {
    const names = [...this.channels.values()].map((ch) => ch.name)
    try {
      for (let i = 0; i < names.length; i += SUBSCRIBE_CHUNK) {
        await this.sub.subscribe(...names.slice(i, i + SUBSCRIBE_CHUNK))
      }
    } catch {
      return false
    }
    if (this.sub.status !== 'ready') return false
    for (const ch of this.channels.values()) ch.live = true
    return true
  }

  /** The subscriber connection is gone: nothing comes back on any channel; stop waiting. */
  releaseAll(): void {
    for (const ch of this.channels.values()) this.release(ch)
  }

  private release(ch: Channel): void {
    ch.live = false
    const waiters = ch.waiters
    ch.waiters = []
    for (const w of waiters) w.done()
  }

  /**
   * Hand a local publish to the listeners. The channel is the one ordered source (the
   * publish script PUBLISHes in offset order, other nodes' messages included), so wait
   * for our last offset per room to come back on it; only if it does not within
   * ECHO_WAIT_MS (channel not held, connection lost) deliver directly, which may leave a
   * gap for the hub to catch up (docs/protocol.md §6).
   */
  async deliverLocally(stored: readonly StoredMessage[]): Promise<void> {
    const last = new Map<string, StoredMessage>()
    for (const m of stored) last.set(m.room_id, m)
    const waits: Promise<void>[] = []
    for (const m of last.values()) {
      const ch = this.channels.get(m.room_id)
      if (!ch?.live || (ch.epoch === m.epoch && ch.offset >= m.offset)) continue
      waits.push(
        new Promise((resolve) => {
          const timer = setTimeout(done, ECHO_WAIT_MS)
          function done(): void {
            clearTimeout(timer)
            resolve()
          }
          ch.waiters.push({ epoch: m.epoch, offset: m.offset, done })
        }),
      )
    }
    await Promise.all(waits)
    for (const m of stored) this.deliver(m)
  }

  /**
   * A history read saw the room at `epoch`: the first epoch known on a channel held again
   * that delivered nothing yet. Only deliveries count a change (`deliver`): a history
   * reply comes on another connection than the deliveries, in no order with them, and an
   * older one arriving late must not count a reset twice.
   */
  seedEpoch(roomId: string, epoch: string): void {
    const ch = this.channels.get(roomId)
    if (ch && ch.seenEpoch === null) ch.seenEpoch = epoch
  }

  /** Call the room's listeners with `m` unless already delivered; positions only grow. */
  deliver(m: StoredMessage): void {
    const ch = this.channels.get(m.room_id)
    if (!ch || (m.epoch === ch.epoch && m.offset <= ch.offset)) return
    // Seen at another epoch before: its history was reset (fencing), counted once.
    if (ch.seenEpoch !== null && ch.seenEpoch !== m.epoch) this.onEpochChange(m.room_id)
    ch.seenEpoch = m.epoch
    ch.epoch = m.epoch
    ch.offset = m.offset
    for (const listener of [...ch.listeners]) {
      try {
        listener(m)
      } catch (err) {
        this.onListenerError(err)
      }
    }
    if (ch.waiters.length > 0) {
      ch.waiters = ch.waiters.filter((w) => {
        const reached = w.epoch === ch.epoch && w.offset <= ch.offset
        if (reached) w.done()
        return !reached
      })
    }
  }

  private onMessage(channel: string, payload: string): void {
    if (!channel.startsWith(this.prefix)) return
    const roomId = channel.slice(this.prefix.length)
    if (!this.channels.has(roomId)) return
    let parsed: unknown
    try {
      parsed = JSON.parse(payload)
    } catch (err) {
      this.onUnreadable(err, channel)
      return
    }
    const event = (parsed as { presence?: unknown }).presence
    if (event === undefined) this.deliver(parsed as StoredMessage)
    else this.onPresence(roomId, event)
  }
}

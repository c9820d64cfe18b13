import type {
  BrokerPresence,
  PresenceChange,
  PresenceListener,
  PresenceMember,
  PresenceShare,
} from './broker.js'
import { PresenceView, type SharedState } from './presence-view.js'

/** What presence needs from the broker. */
export interface PresenceContext {
  /** This node's id in presence hashes and events (one per process). */
  readonly node: string
  /**
   * Run the presence script (redis-scripts.ts) for a room: write `share` ('' remove, '-'
   * keep), publish `event` ('' none), answer the other live nodes' `node, share` pairs.
   */
  readonly run: (roomId: string, share: string, event: string) => Promise<string[]>
  readonly ready: () => boolean
}

/**
 * Presence across nodes on Redis (docs/protocol.md §7). Each node keeps one share per room it
 * serves in the room's presence hash, `<seq>|{"count":n,"members":[[user_id,uuid],…]|null}`
 * stamped with the Redis clock and re-stamped every heartbeat; a node silent for the
 * stale delay is dropped by the next reader, so a dead node's members leave. Changes go
 * out at once as events on the room channel, carrying the node's new share. The list is
 * withheld (null) above presence_max_members, so nothing grows with the square of a room.
 */
export class RedisPresence implements BrokerPresence {
  private readonly view = new PresenceView()
  /** This node's shares (`<seq>|<json>`), kept to be re-stamped. */
  private readonly shares = new Map<string, string>()
  private seq = 0

  constructor(private readonly ctx: PresenceContext) {}

  share(roomId: string, local: PresenceShare, change: PresenceChange | null): void {
    const seq = ++this.seq
    const members = local.members?.map((m) => [m.user_id, m.uuid]) ?? null
    const value =
      local.count === 0 ? '' : `${seq}|${JSON.stringify({ count: local.count, members })}`
    if (value === '') this.shares.delete(roomId)
    else this.shares.set(roomId, value)
    if (!this.ctx.ready()) return // the heartbeat after the reconnect writes it
    const event = change
      ? JSON.stringify({
          presence: { node: this.ctx.node, seq, count: local.count, members, ...flat(change) },
        })
      : ''
    void this.sync(roomId, value, event)
  }

  others(roomId: string): Promise<PresenceShare> {
    return this.sync(roomId, this.shares.get(roomId) ?? '-', '')
  }

  watch(roomId: string, listener: PresenceListener): void {
    this.view.watch(roomId, listener)
  }

  unwatch(roomId: string, listener: PresenceListener): void {
    this.view.unwatch(roomId, listener)
  }

  /** A presence event from the room channel (another node's change; ours are ignored). */
  receive(roomId: string, event: unknown): void {
    const e = event as Partial<Record<string, unknown>>
    if (e.node === this.ctx.node || typeof e.node !== 'string') return
    const state = toState(e.seq, e.count, e.members)
    if (!state || (e.event !== 'join' && e.event !== 'leave') || typeof e.user_id !== 'number') {
      return
    }
    this.view.applyEvent(roomId, e.node, state, {
      event: e.event,
      member: { user_id: e.user_id, uuid: typeof e.uuid === 'string' ? e.uuid : null },
    })
  }

  /** Re-stamp this node's shares and learn the others' (dead nodes drop out), per room. */
  async beat(roomIds: Iterable<string>): Promise<void> {
    if (!this.ctx.ready()) return
    await Promise.all([...roomIds].map((roomId) => this.others(roomId)))
  }

  /** Forget every share and return the rooms they were in (to remove them at close). */
  leaveAll(): string[] {
    const rooms = [...this.shares.keys()]
    this.shares.clear()
    return rooms
  }

  /** Run the script and learn from its answer; never rejects (the known view instead). */
  private async sync(roomId: string, share: string, event: string): Promise<PresenceShare> {
    const tick = this.view.tick()
    try {
      const reply = await this.ctx.run(roomId, share, event)
      const fresh = new Map<string, SharedState>()
      for (let i = 0; i + 1 < reply.length; i += 2) {
        const [node, value] = [reply[i], reply[i + 1]]
        const state = value === undefined ? null : parseShare(value)
        if (node !== undefined && state) fresh.set(node, state)
      }
      return this.view.applyRead(roomId, fresh, tick)
    } catch {
      return this.view.snapshot(roomId)
    }
  }
}

const flat = (change: PresenceChange) => ({ event: change.event, ...change.member })

function toState(seq: unknown, count: unknown, members: unknown): SharedState | null {
  if (typeof seq !== 'number' || typeof count !== 'number') return null
  if (members === null) return { seq, count, members: null }
  if (!Array.isArray(members)) return null
  const list: PresenceMember[] = []
  for (const m of members as unknown[]) {
    if (!Array.isArray(m) || typeof m[0] !== 'number') return null
    list.push({ user_id: m[0], uuid: typeof m[1] === 'string' ? m[1] : null })
  }
  return { seq, count, members: list }
}

/** `<seq>|{"count":…,"members":…}` as the presence script returns a share. */
function parseShare(value: string): SharedState | null {
  const sep = value.indexOf('|')
  try {
    const body = JSON.parse(value.slice(sep + 1)) as { count?: unknown; members?: unknown }
    return toState(Number(value.slice(0, sep)), body.count, body.members)
  } catch {
    return null
  }
}

import type { PresenceChange, PresenceListener, PresenceMember, PresenceShare } from './broker.js'

/** One other node's share of a room, as last learnt; count 0 is a tombstone. */
interface NodeShare {
  readonly seq: number
  readonly count: number
  readonly members: readonly PresenceMember[] | null
  /** Tick at which it was learnt: a read started before it cannot remove it. */
  readonly seenAt: number
}

interface RoomView {
  readonly nodes: Map<string, NodeShare>
  readonly listeners: Set<PresenceListener>
  /** False until the first read: that one fills the view without announcing anyone. */
  loaded: boolean
}

/** A share as carried by a presence event or a Redis read. */
export interface SharedState {
  readonly seq: number
  readonly count: number
  readonly members: readonly PresenceMember[] | null
}

const NOBODY: PresenceShare = { count: 0, members: [] }

const key = (m: PresenceMember): string => `${m.user_id}\u0000${m.uuid ?? ''}`

/** Members of `a` that are not in `b`, counting repeats (one user may have two tabs). */
function missing(a: readonly PresenceMember[], b: readonly PresenceMember[]): PresenceMember[] {
  const left = new Map<string, number>()
  for (const m of b) left.set(key(m), (left.get(key(m)) ?? 0) + 1)
  return a.filter((m) => {
    const n = left.get(key(m)) ?? 0
    if (n > 0) left.set(key(m), n - 1)
    return n === 0
  })
}

/**
 * What this node knows of the other nodes' members of the rooms it watches, kept from two
 * sources: change events (immediate) and periodic reads of every node's share (which
 * catch what events missed, e.g. a node that died). Each node numbers its shares (`seq`):
 * an older share never replaces a newer one, whatever order they arrive in. Listeners are
 * told each change once: the event's, or the difference a read revealed.
 */
export class PresenceView {
  private readonly rooms = new Map<string, RoomView>()
  private ticks = 0

  /** A fresh tick: take one before starting a read, pass it to `applyRead`. */
  tick(): number {
    return ++this.ticks
  }

  /** Start calling `listener` for the room's changes. */
  watch(roomId: string, listener: PresenceListener): void {
    let view = this.rooms.get(roomId)
    if (!view) {
      view = { nodes: new Map(), listeners: new Set(), loaded: false }
      this.rooms.set(roomId, view)
    }
    view.listeners.add(listener)
  }

  /** Stop calling `listener`; the room is forgotten with its last listener. */
  unwatch(roomId: string, listener: PresenceListener): void {
    const view = this.rooms.get(roomId)
    if (view?.listeners.delete(listener) && view.listeners.size === 0) this.rooms.delete(roomId)
  }

  /** Rooms watched, for tests. */
  get size(): number {
    return this.rooms.size
  }

  /** The other nodes' members of the room as currently known. */
  snapshot(roomId: string): PresenceShare {
    const view = this.rooms.get(roomId)
    return view ? summarise(view.nodes.values()) : NOBODY
  }

  /** A change event of `node`, carrying its new share. Ignored if not newer than known. */
  applyEvent(roomId: string, node: string, state: SharedState, change: PresenceChange): void {
    const view = this.rooms.get(roomId)
    if (!view) return
    const known = view.nodes.get(node)
    if (known && known.seq >= state.seq) return
    view.nodes.set(node, { ...state, seenAt: this.tick() })
    this.tell(view, [change])
  }

  /**
   * A read of every other node's share, started at tick `startedAt`. Nodes absent from it
   * left or died (their members leave), unless learnt of after the read started.
   */
  applyRead(
    roomId: string,
    fresh: ReadonlyMap<string, SharedState>,
    startedAt: number,
  ): PresenceShare {
    const view = this.rooms.get(roomId)
    if (!view) return summarise(fresh.values())
    const changes: PresenceChange[] = []
    for (const [node, known] of view.nodes) {
      if (fresh.has(node) || known.seenAt > startedAt) continue
      view.nodes.delete(node)
      if (view.loaded)
        for (const member of known.members ?? []) changes.push({ event: 'leave', member })
    }
    for (const [node, state] of fresh) {
      const known = view.nodes.get(node)
      if (known && known.seq >= state.seq) continue
      view.nodes.set(node, { ...state, seenAt: startedAt })
      if (!view.loaded || state.members === null) continue
      if (!known) {
        for (const member of state.members) changes.push({ event: 'join', member })
      } else if (known.members !== null) {
        for (const member of missing(known.members, state.members))
          changes.push({ event: 'leave', member })
        for (const member of missing(state.members, known.members))
          changes.push({ event: 'join', member })
      }
    }
    view.loaded = true
    this.tell(view, changes)
    return summarise(view.nodes.values())
  }

  private tell(view: RoomView, changes: readonly PresenceChange[]): void {
    if (changes.length === 0) return
    const count = summarise(view.nodes.values()).count
    for (const change of changes)
      for (const listener of [...view.listeners]) listener(change, count)
  }
}

/** Total count, and every member unless some node's list is withheld (too many). */
function summarise(shares: Iterable<SharedState>): PresenceShare {
  let count = 0
  let members: PresenceMember[] | null = []
  for (const share of shares) {
    count += share.count
    if (share.members === null) members = null
    else members?.push(...share.members)
  }
  return { count, members }
}

/**
 * Everything on the page around the board: who you are, the connection state, who else
 * is on the board (presence), the activity log and the screen-reader announcements.
 */
import type { ConnectionState, PresenceMember } from '../../client/index.js'
import type { UserView } from '../api-types.js'
import { el } from './board-view.js'

/** Kinds of activity entries (`data-kind` on each, for styling and tests). */
export type ActivityKind = 'move' | 'sent' | 'resync' | 'token' | 'state' | 'error'

const STATE_LABEL: Record<ConnectionState, string> = {
  idle: 'Not connected',
  connecting: 'Connecting…',
  open: 'Live',
  reconnecting: 'Reconnecting…',
  closed: 'Disconnected',
}

/** Most entries the activity log keeps. */
const ACTIVITY_MAX = 40

const byId = (id: string): HTMLElement => {
  const node = document.getElementById(id)
  if (!node) throw new Error(`the page lacks #${id}`)
  return node
}

/** A member's key: its tab id (a member without one counts once per user). */
const memberKey = (uuid: string | null, userId: number): string => uuid ?? `user ${userId}`

const clock = (date = new Date()): string =>
  date.toLocaleTimeString('en-GB', { hour: '2-digit', minute: '2-digit', second: '2-digit' })

/** The page's chrome. */
export class PageChrome {
  private readonly status = byId('status')
  private readonly presence = byId('presence')
  private readonly activity = byId('activity')
  private readonly announcer = byId('announce')
  private users = new Map<number, UserView>()
  private readonly members = new Map<string, number>()

  /** Show who this tab is, and links to open the board as every demo user. */
  session(me: UserView, users: readonly UserView[], board: { label: string; id: number }): void {
    this.users = new Map(users.map((u) => [u.id, u]))
    byId('board-name').textContent = board.label
    byId('board-id').textContent = `Kanban #${board.id}`
    byId('me').textContent = me.name
    byId('my-groups').textContent = me.groups.length > 0 ? `(${me.groups.join(', ')})` : ''
    byId('open-as').replaceChildren(
      ...users.map((u) =>
        el(
          'a',
          { href: `?user=${encodeURIComponent(u.login)}`, target: '_blank', rel: 'noopener' },
          u.name,
        ),
      ),
    )
    document.title = `${me.name} · ${board.label} · tuleap-realtime`
  }

  /** The connection state of the client. */
  state(state: ConnectionState): void {
    this.status.dataset.state = state
    this.status.textContent = STATE_LABEL[state]
  }

  /** The room's members, as the relay listed them on subscribe. */
  presenceList(members: readonly PresenceMember[] | undefined, count: number): void {
    this.members.clear()
    for (const m of members ?? []) this.members.set(memberKey(m.uuid, m.user_id), m.user_id)
    this.renderPresence(count)
  }

  /** A member joined or left. */
  presenceEvent(event: 'join' | 'leave', uuid: string | null, userId: number): void {
    if (event === 'join') this.members.set(memberKey(uuid, userId), userId)
    else this.members.delete(memberKey(uuid, userId))
    this.renderPresence(this.members.size)
  }

  private renderPresence(count: number): void {
    const tabs = new Map<string, number>()
    for (const userId of this.members.values()) {
      const name = this.users.get(userId)?.name ?? `user ${userId}`
      tabs.set(name, (tabs.get(name) ?? 0) + 1)
    }
    const names = [...tabs].map(([name, n]) => (n > 1 ? `${name} ×${n}` : name)).join(', ')
    this.presence.textContent =
      count === 0
        ? ''
        : `${count} ${count === 1 ? 'tab' : 'tabs'} on this board${names ? `: ${names}` : ''}`
  }

  /** Add an entry to the activity log; `announce` also tells screen readers. */
  log(kind: ActivityKind, text: string, announce = false): void {
    const entry = el('li', { 'data-kind': kind }, el('time', {}, clock()), ' ', text)
    this.activity.prepend(entry)
    while (this.activity.children.length > ACTIVITY_MAX) this.activity.lastElementChild?.remove()
    if (announce) this.announcer.textContent = text
  }
}

/** `exp` (seconds) as a time of day. */
export const timeOf = (exp: number): string => clock(new Date(exp * 1000))

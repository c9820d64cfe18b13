/**
 * The demo's stand-in for Tuleap's data: three users, their groups, one Kanban and its
 * cards with Tuleap-shaped rights. Pure: no I/O (board-store.ts persists it).
 * Who sees a card is decided by the relay's own predicate (`canReceive`), so the board
 * a user loads and the moves the relay delivers to that user always agree.
 */
import { canReceive, type Rights } from '../auth/rights.js'
import type {
  BoardView,
  CardView,
  ColumnId,
  ColumnView,
  KanbanMoveData,
  UserView,
} from './api-types.js'

/** The one Kanban of the demo; its id is also the relay room, as in Tuleap. */
export const KANBAN_ID = 42

/** Tuleap's group of the project's members (the tracker is readable by them). */
const PROJECT_MEMBERS = '@gpig_project_members'
/** A user group (ugroup 110) that one card is restricted to. */
const SECURITY_TEAM = '@ug_110'

const GROUP_NAMES: Record<string, string> = {
  '@site_active': 'Active users',
  [PROJECT_MEMBERS]: 'Project members',
  [SECURITY_TEAM]: 'Security team',
}

/** A demo user: what Tuleap's session and `GET /api/v1/jwt` know of them. */
export interface DemoUser {
  readonly id: number
  readonly login: string
  readonly name: string
  /** `data.user_rights` of their subscriber token. */
  readonly groups: readonly string[]
}

/** alice and bob may see every card; carol is not in the Security team. */
export const DEMO_USERS: readonly DemoUser[] = [
  {
    id: 101,
    login: 'alice',
    name: 'Alice',
    groups: ['@site_active', PROJECT_MEMBERS, SECURITY_TEAM],
  },
  { id: 102, login: 'bob', name: 'Bob', groups: ['@site_active', PROJECT_MEMBERS, SECURITY_TEAM] },
  { id: 103, login: 'carol', name: 'Carol', groups: ['@site_active', PROJECT_MEMBERS] },
]

/** The user with `login`, if any. */
export function findUser(login: unknown): DemoUser | undefined {
  return DEMO_USERS.find((u) => u.login === login)
}

interface Card {
  readonly id: number
  readonly label: string
  readonly kind: CardView['kind']
  readonly submitter_id: number
  /** Artifact permissions: empty means "as the tracker says". */
  readonly artifact: readonly string[]
}

/** The card restricted to the Security team: carol never sees it nor its moves. */
export const RESTRICTED_CARD_ID = 1203

const CARDS: readonly Card[] = [
  { id: 1201, label: 'Write the release notes', kind: 'task', submitter_id: 101, artifact: [] },
  {
    id: 1202,
    label: 'Resume after a relay restart',
    kind: 'story',
    submitter_id: 102,
    artifact: [],
  },
  {
    id: RESTRICTED_CARD_ID,
    label: 'Patch the session fixation flaw',
    kind: 'bug',
    submitter_id: 101,
    artifact: [SECURITY_TEAM],
  },
  { id: 1204, label: 'Translate the Kanban help', kind: 'task', submitter_id: 103, artifact: [] },
  {
    id: 1205,
    label: 'Show who else is on the board',
    kind: 'story',
    submitter_id: 102,
    artifact: [],
  },
  {
    id: 1206,
    label: 'Card colours ignore the theme',
    kind: 'bug',
    submitter_id: 103,
    artifact: [],
  },
  { id: 1207, label: 'Upgrade to Node.js 20', kind: 'task', submitter_id: 101, artifact: [] },
]
const CARDS_BY_ID = new Map(CARDS.map((c) => [c.id, c]))

/** The columns, in display order, and where each card starts. */
const COLUMNS: readonly { readonly id: ColumnId; readonly label: string }[] = [
  { id: 'backlog', label: 'Backlog' },
  { id: 201, label: 'In progress' },
  { id: 202, label: 'Review' },
  { id: 'archive', label: 'Archive' },
]

/** Card ids per column id (as a string: `"backlog"`, `"201"`). */
export type Positions = Record<string, number[]>

/** The board as it starts. */
export function initialPositions(): Positions {
  return {
    backlog: [1201, 1204, 1206],
    '201': [1202, RESTRICTED_CARD_ID],
    '202': [1205],
    archive: [1207],
  }
}

/** Tuleap's rights object for a card's messages (docs/protocol.md §4). */
export function cardRights(card: { submitter_id: number; artifact: readonly string[] }): Rights {
  return {
    submitter_id: card.submitter_id,
    submitter_can_view: true,
    submitter_only: [],
    tracker: [PROJECT_MEMBERS],
    artifact: [...card.artifact],
  }
}

/** A refused request, with its HTTP status. */
export class DemoError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message)
  }
}

/** Whether `positions` holds every card exactly once, in known columns only. */
export function validPositions(value: unknown): value is Positions {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false
  const record = value as Record<string, unknown>
  if (Object.keys(record).length !== COLUMNS.length) return false
  const seen = new Set<number>()
  for (const column of COLUMNS) {
    const ids = record[String(column.id)]
    if (!Array.isArray(ids)) return false
    for (const id of ids) {
      if (typeof id !== 'number' || !CARDS_BY_ID.has(id) || seen.has(id)) return false
      seen.add(id)
    }
  }
  return seen.size === CARDS.length
}

function userView(user: DemoUser): UserView {
  return {
    id: user.id,
    login: user.login,
    name: user.name,
    groups: user.groups.filter((g) => g !== '@site_active').map((g) => GROUP_NAMES[g] ?? g),
  }
}

/** One Kanban's card positions; every change goes through {@link DemoBoard.move}. */
export class DemoBoard {
  private readonly positions: Positions

  constructor(positions: Positions = initialPositions()) {
    this.positions = structuredClone(positions)
  }

  /** A copy of the positions, to persist. */
  snapshot(): Positions {
    return structuredClone(this.positions)
  }

  /** Whether `user` may see the card: the relay's own rule applied to the card's rights. */
  canSee(user: DemoUser, cardId: number): boolean {
    const card = CARDS_BY_ID.get(cardId)
    return card !== undefined && canReceive(cardRights(card), user.id, new Set(user.groups))
  }

  /** The board as `user` may see it. */
  view(user: DemoUser): BoardView {
    const columns: ColumnView[] = COLUMNS.map((column) => ({
      id: column.id,
      label: column.label,
      cards: this.column(column.id)
        .filter((id) => this.canSee(user, id))
        .map((id) => {
          const card = CARDS_BY_ID.get(id) as Card
          const group = card.artifact[0]
          return {
            id,
            label: card.label,
            kind: card.kind,
            restricted_to: group === undefined ? null : (GROUP_NAMES[group] ?? group),
          }
        }),
    }))
    return {
      kanban_id: KANBAN_ID,
      label: 'Realtime relay',
      room_id: String(KANBAN_ID),
      user: userView(user),
      users: DEMO_USERS.map(userView),
      columns,
    }
  }

  /**
   * Move a card `user` may see into `toColumn`, before card `before` (at the end when
   * `before` is null or not in that column: the user's view may be stale). Returns the
   * `kanban_item:move` data and the card's rights; throws a {@link DemoError}.
   */
  move(
    user: DemoUser,
    cardId: number,
    toColumn: ColumnId,
    before: number | null,
  ): { data: KanbanMoveData; rights: Rights } {
    const card = CARDS_BY_ID.get(cardId)
    // Like Tuleap: a card you may not see does not exist for you.
    if (card === undefined || !this.canSee(user, cardId)) {
      throw new DemoError(404, `no card #${cardId}`)
    }
    if (!COLUMNS.some((c) => c.id === toColumn)) {
      throw new DemoError(400, `no column ${JSON.stringify(toColumn)}`)
    }
    const from = COLUMNS.find((c) => this.column(c.id).includes(cardId))?.id as ColumnId
    const source = this.column(from)
    source.splice(source.indexOf(cardId), 1)
    const destination = this.column(toColumn)
    const at = before === null ? -1 : destination.indexOf(before)
    destination.splice(at === -1 ? destination.length : at, 0, cardId)
    return {
      data: {
        artifact_id: cardId,
        in_column: toColumn,
        from_column: from,
        ordered_destination_column_items_ids: [...destination],
      },
      rights: cardRights(card),
    }
  }

  private column(id: ColumnId): number[] {
    return this.positions[String(id)] as number[]
  }
}

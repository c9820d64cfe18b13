/**
 * The demo backend's HTTP API, as both sides see it: the plugin answers these shapes and
 * the page (src/demo/browser) reads them. Types only: nothing here runs.
 */

/** A Kanban column id as Tuleap names them: the two fixed columns, or a status value id. */
export type ColumnId = 'backlog' | 'archive' | number

/** Tuleap's `kanban_item:move` data: what the relay carries to the other tabs. */
export interface KanbanMoveData {
  readonly artifact_id: number
  readonly in_column: ColumnId
  readonly from_column: ColumnId
  /** Every item of the destination column, in order, the moved one included. */
  readonly ordered_destination_column_items_ids: readonly number[]
}

/** A demo user as the page shows it. */
export interface UserView {
  readonly id: number
  readonly login: string
  readonly name: string
  /** Human names of the user's groups, e.g. "Security team". */
  readonly groups: readonly string[]
}

/** A card the user may see. */
export interface CardView {
  readonly id: number
  readonly label: string
  readonly kind: 'story' | 'bug' | 'task'
  /** The group the card is restricted to, when it is ("Security team"). */
  readonly restricted_to: string | null
}

/** A column with the cards the user may see, in order. */
export interface ColumnView {
  readonly id: ColumnId
  readonly label: string
  readonly cards: readonly CardView[]
}

/** `GET /demo/api/board?user=LOGIN`: the board as this user may see it. */
export interface BoardView {
  readonly kanban_id: number
  readonly label: string
  /** The relay room of this board (Tuleap uses the Kanban id). */
  readonly room_id: string
  readonly user: UserView
  readonly users: readonly UserView[]
  readonly columns: readonly ColumnView[]
}

/** `GET /demo/api/token?user=LOGIN[&ttl=S]`: a subscriber token, like Tuleap's `GET /api/v1/jwt`. */
export interface TokenAnswer {
  readonly token: string
  /** Its `exp`, seconds since the epoch. */
  readonly exp: number
}

/**
 * `POST /demo/api/move?user=LOGIN` with header `X-Client-UUID`: move a card before
 * another one of the destination column (`before: null`: at its end).
 */
export interface MoveRequest {
  readonly artifact_id: number
  readonly in_column: ColumnId
  readonly before: number | null
}

/** The answer to a move: what was published, and how the relay answered. */
export interface MoveAnswer {
  readonly move: KanbanMoveData
  /** The relay's HTTP status for `POST /message`, or null when it could not be reached. */
  readonly relay_status: number | null
}

/** Every error answer, in Tuleap's REST shape. */
export interface ErrorAnswer {
  readonly error: { readonly code: number; readonly message: string }
}

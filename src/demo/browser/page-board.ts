/**
 * The board as one page holds it: the columns and the cards this user may see, changed
 * by the user's own moves and by the moves the relay delivers. No DOM here.
 */
import type {
  BoardView,
  CardView,
  ColumnId,
  ColumnView,
  KanbanMoveData,
  MoveRequest,
} from '../api-types.js'

/** A column of the page, its cards in display order. */
export interface PageColumn {
  readonly id: ColumnId
  readonly label: string
  cards: CardView[]
}

/** Where a card is. */
export interface CardPlace {
  readonly column: PageColumn
  readonly index: number
  readonly card: CardView
}

/** The page's copy of the board. */
export class PageBoard {
  readonly columns: PageColumn[]

  constructor(view: { readonly columns: readonly ColumnView[] } | BoardView) {
    this.columns = view.columns.map((c) => ({ id: c.id, label: c.label, cards: [...c.cards] }))
  }

  /** The column with `id`, if the board has it. */
  column(id: ColumnId): PageColumn | undefined {
    return this.columns.find((c) => c.id === id)
  }

  /** Where card `id` is, if this page shows it. */
  find(id: number): CardPlace | null {
    for (const column of this.columns) {
      const index = column.cards.findIndex((c) => c.id === id)
      const card = column.cards[index]
      if (card) return { column, index, card }
    }
    return null
  }

  /**
   * Apply a move another tab made: the card goes to `in_column`, whose cards take the
   * order of `ordered_destination_column_items_ids` (ids this page does not show are
   * skipped; cards it shows that the list lacks keep their order, last). Returns the
   * card, or null when this page does not show it or does not know the column.
   */
  apply(move: KanbanMoveData): CardView | null {
    const place = this.find(move.artifact_id)
    const destination = this.column(move.in_column)
    if (!place || !destination) return null
    place.column.cards.splice(place.index, 1)
    const shown = new Map([...destination.cards, place.card].map((c) => [c.id, c]))
    const ordered: CardView[] = []
    for (const id of move.ordered_destination_column_items_ids) {
      const card = shown.get(id)
      if (card) {
        ordered.push(card)
        shown.delete(id)
      }
    }
    destination.cards = [...ordered, ...shown.values()]
    return place.card
  }

  /**
   * The user moves card `id` into `to`, before card `before` (null: last). Applies it and
   * returns the request for the backend, or null when the card or column is unknown or
   * nothing would change.
   */
  move(id: number, to: ColumnId, before: number | null): MoveRequest | null {
    const place = this.find(id)
    const destination = this.column(to)
    if (!place || !destination || before === id) return null
    const next = place.column.cards[place.index + 1]?.id ?? null
    if (place.column === destination && next === before) return null
    place.column.cards.splice(place.index, 1)
    const at = before === null ? -1 : destination.cards.findIndex((c) => c.id === before)
    destination.cards.splice(at === -1 ? destination.cards.length : at, 0, place.card)
    return { artifact_id: id, in_column: to, before: at === -1 ? null : before }
  }

  /** The column `step` places left (-1) or right (+1) of the card's, if any. */
  neighbour(id: number, step: -1 | 1): PageColumn | undefined {
    const place = this.find(id)
    return place ? this.columns[this.columns.indexOf(place.column) + step] : undefined
  }

  /**
   * The `before` that moves card `id` one place up (-1) or down (+1) in its column, or
   * undefined when it cannot move that way.
   */
  reorderTarget(id: number, step: -1 | 1): number | null | undefined {
    const place = this.find(id)
    if (!place) return undefined
    const { cards } = place.column
    if (step === -1) return place.index === 0 ? undefined : (cards[place.index - 1]?.id ?? null)
    if (place.index === cards.length - 1) return undefined
    return cards[place.index + 2]?.id ?? null
  }
}

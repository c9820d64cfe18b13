/**
 * The board's DOM: columns and cards rendered from a {@link PageBoard}, moved by HTML5
 * drag and drop, by each card's ← → buttons, or with the arrow keys on a focused card
 * (← → another column, ↑ ↓ reorder). Plain DOM, re-rendered whole after each change.
 */
import type { CardView, ColumnId } from '../api-types.js'
import type { PageBoard, PageColumn } from './page-board.js'

/** What the user asked for: card `id` into column `to`, before card `before` (null: last). */
export type MoveHandler = (id: number, to: ColumnId, before: number | null) => void

const KIND_LABEL: Record<CardView['kind'], string> = { story: 'Story', bug: 'Bug', task: 'Task' }

/** An element with attributes and children. */
export function el<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Record<string, string> = {},
  ...children: (Node | string)[]
): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag)
  for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, value)
  node.append(...children)
  return node
}

const columnKey = (id: ColumnId): string => String(id)

/** Renders the board into `root` and turns gestures into {@link MoveHandler} calls. */
export class BoardElement {
  private board: PageBoard | null = null
  private dragged: number | null = null

  constructor(
    private readonly root: HTMLElement,
    private readonly onMove: MoveHandler,
  ) {}

  /** Render `board`; focus stays on the card (and button) that had it. */
  render(board: PageBoard): void {
    this.board = board
    const active = document.activeElement
    const focusedCard = active instanceof HTMLElement ? active.closest<HTMLElement>('.card') : null
    const focusId = focusedCard?.dataset.id
    const focusRole = active instanceof HTMLElement ? active.dataset.role : undefined
    this.root.replaceChildren(...board.columns.map((column, i) => this.column(column, i)))
    this.root.setAttribute('aria-busy', 'false')
    if (focusId !== undefined) {
      const card = this.root.querySelector<HTMLElement>(`.card[data-id="${focusId}"]`)
      const target =
        focusRole === undefined
          ? card
          : card?.querySelector<HTMLElement>(`[data-role="${focusRole}"]`)
      ;(target && !(target as HTMLButtonElement).disabled ? target : card)?.focus()
    }
  }

  /** Briefly highlight a card another tab moved. */
  flash(id: number): void {
    const card = this.root.querySelector<HTMLElement>(`.card[data-id="${id}"]`)
    if (!card) return
    card.classList.add('flash') // a fresh element: render() replaced every card
  }

  private column(column: PageColumn, index: number): HTMLElement {
    const key = columnKey(column.id)
    const headingId = `column-${key}`
    const list = el('ol', { class: 'cards', 'data-column': key, 'aria-labelledby': headingId })
    list.append(...column.cards.map((card) => this.card(card, column, index)))
    if (column.cards.length === 0) list.append(el('li', { class: 'empty' }, 'No card'))
    this.dropTarget(list, column.id)
    return el(
      'section',
      { class: 'column', 'data-column': key },
      el(
        'h2',
        { id: headingId },
        column.label,
        ' ',
        el(
          'span',
          { class: 'count' },
          String(column.cards.length),
          el('span', { class: 'visually-hidden' }, column.cards.length === 1 ? ' card' : ' cards'),
        ),
      ),
      list,
    )
  }

  private card(card: CardView, column: PageColumn, index: number): HTMLElement {
    const columns = this.board?.columns ?? []
    const left = columns[index - 1]
    const right = columns[index + 1]
    const button = (role: string, text: string, to: PageColumn | undefined): HTMLButtonElement => {
      const b = el('button', { type: 'button', class: 'move', 'data-role': role }, text)
      if (to) {
        b.setAttribute('aria-label', `Move “${card.label}” to ${to.label}`)
        b.title = `Move to ${to.label}`
        b.addEventListener('click', () => this.onMove(card.id, to.id, null))
      } else {
        b.disabled = true
        b.setAttribute(
          'aria-label',
          `“${card.label}” is in the ${role === 'left' ? 'first' : 'last'} column`,
        )
      }
      return b
    }
    const badges = el(
      'p',
      { class: 'badges' },
      el('span', { class: `kind kind-${card.kind}` }, KIND_LABEL[card.kind]),
    )
    if (card.restricted_to !== null) {
      badges.append(
        el(
          'span',
          { class: 'restricted', title: `Only ${card.restricted_to} may see this card` },
          card.restricted_to,
        ),
      )
    }
    const item = el(
      'li',
      {
        class: `card card-${card.kind}`,
        'data-id': String(card.id),
        draggable: 'true',
        tabindex: '0',
        'aria-label': `#${card.id} ${card.label}, in ${column.label}`,
        'aria-describedby': 'keyboard-help',
        'aria-keyshortcuts': 'ArrowLeft ArrowRight ArrowUp ArrowDown',
      },
      el('p', { class: 'card-id' }, `#${card.id}`),
      el('p', { class: 'card-label' }, card.label),
      badges,
      el('div', { class: 'actions' }, button('left', '←', left), button('right', '→', right)),
    )
    item.addEventListener('keydown', (event) => {
      if (event.target !== item || event.altKey || event.ctrlKey || event.metaKey) return
      this.key(card.id, event)
    })
    item.addEventListener('dragstart', (event) => {
      this.dragged = card.id
      event.dataTransfer?.setData('text/plain', String(card.id))
      if (event.dataTransfer) event.dataTransfer.effectAllowed = 'move'
      item.classList.add('dragging')
    })
    item.addEventListener('dragend', () => {
      this.dragged = null
      item.classList.remove('dragging')
      this.clearDropMarks()
    })
    return item
  }

  private key(id: number, event: KeyboardEvent): void {
    const board = this.board
    if (!board) return
    if (event.key === 'ArrowLeft' || event.key === 'ArrowRight') {
      const to = board.neighbour(id, event.key === 'ArrowLeft' ? -1 : 1)
      event.preventDefault()
      if (to) this.onMove(id, to.id, null)
    } else if (event.key === 'ArrowUp' || event.key === 'ArrowDown') {
      const place = board.find(id)
      const before = board.reorderTarget(id, event.key === 'ArrowUp' ? -1 : 1)
      event.preventDefault()
      if (place && before !== undefined) this.onMove(id, place.column.id, before)
    }
  }

  /** Where a drop at `y` lands in `list`: before the first card whose middle is below. */
  private dropBefore(list: HTMLElement, y: number): HTMLElement | null {
    const items = Array.from(list.querySelectorAll<HTMLElement>('.card:not(.dragging)'))
    return (
      items.find((item) => {
        const box = item.getBoundingClientRect()
        return y < box.top + box.height / 2
      }) ?? null
    )
  }

  private clearDropMarks(): void {
    this.root.querySelectorAll('.drop-before, .drop-end, .drop-target').forEach((node) => {
      node.classList.remove('drop-before', 'drop-end', 'drop-target')
    })
  }

  private dropTarget(list: HTMLElement, column: ColumnId): void {
    list.addEventListener('dragover', (event) => {
      if (this.dragged === null) return
      event.preventDefault()
      if (event.dataTransfer) event.dataTransfer.dropEffect = 'move'
      this.clearDropMarks()
      list.classList.add('drop-target')
      const before = this.dropBefore(list, event.clientY)
      if (before) before.classList.add('drop-before')
      else list.classList.add('drop-end')
    })
    list.addEventListener('dragleave', (event) => {
      if (!list.contains(event.relatedTarget as Node | null)) {
        list.classList.remove('drop-target', 'drop-end')
        list.querySelectorAll('.drop-before').forEach((n) => n.classList.remove('drop-before'))
      }
    })
    list.addEventListener('drop', (event) => {
      event.preventDefault()
      const id = Number(event.dataTransfer?.getData('text/plain') || this.dragged)
      const before = this.dropBefore(list, event.clientY)
      this.clearDropMarks()
      this.dragged = null
      if (Number.isSafeInteger(id))
        this.onMove(id, column, before ? Number(before.dataset.id) : null)
    })
  }
}

/**
 * The Kanban demo page: what a Tuleap Kanban page does with the relay, through the
 * client library. It loads the board from the backend, subscribes to the board's room,
 * applies the `kanban_item:move` messages of other tabs, and reloads the board whenever
 * the client says messages were lost (`onResync`) or after a first subscribe.
 *
 * Page parameters: `user` (alice, bob or carol; default alice) and `token_ttl` (seconds
 * of validity of each subscriber token, default 1800; -25 makes tokens the relay takes
 * for about 5 s, to watch them being refreshed).
 */
import { RealtimeClient } from '../../client/index.js'
import type { BoardView, ColumnId, KanbanMoveData } from '../api-types.js'
import { DemoApi } from './api.js'
import { BoardElement } from './board-view.js'
import { PageBoard } from './page-board.js'
import { PageChrome, timeOf } from './page-chrome.js'

/** After a failed reload, try again this much later. */
const RELOAD_RETRY_MS = 2000

const params = new URLSearchParams(location.search)
const api = new DemoApi(params.get('user') ?? 'alice', params.get('token_ttl'))
const chrome = new PageChrome()
const boardRoot = document.getElementById('board') as HTMLElement
let board: PageBoard | null = null
let labels = new Map<number, string>()
/** While the board reloads, the moves received meanwhile, applied after it. */
let buffered: KanbanMoveData[] | null = null
let reloadAgain = false
let retryTimer: ReturnType<typeof setTimeout> | undefined
/** Moves of this tab not yet answered, and whether another tab's move came meanwhile. */
let ownPending = 0
let crossed = false

const columnLabel = (id: ColumnId): string => board?.column(id)?.label ?? String(id)
const cardLabel = (id: number): string => `“${labels.get(id) ?? `#${id}`}”`

const view = new BoardElement(boardRoot, (id, to, before) => {
  void moveCard(id, to, before)
})

function show(loaded: BoardView): void {
  board = new PageBoard(loaded)
  labels = new Map(loaded.columns.flatMap((c) => c.cards.map((card) => [card.id, card.label])))
}

/** Load the board from the backend, then apply the moves that arrived meanwhile. */
async function reload(why: string): Promise<void> {
  if (buffered !== null) {
    reloadAgain = true // a reload is under way: its answer may predate what was lost
    return
  }
  clearTimeout(retryTimer)
  buffered = []
  try {
    show(await api.board())
    // A move of this tab still under way may be missing from that answer: reload after it.
    if (ownPending > 0) crossed = true
    for (const move of buffered) board?.apply(move)
    if (board) view.render(board)
    if (why) chrome.log('resync', why)
  } catch (err) {
    chrome.log('error', `Could not load the board: ${String(err)}`)
    retryTimer = setTimeout(() => void reload(why), RELOAD_RETRY_MS)
  } finally {
    buffered = null
  }
  if (reloadAgain) {
    reloadAgain = false
    await reload(why)
  }
}

/** Another tab moved a card. */
function received(move: KanbanMoveData): void {
  if (buffered !== null) {
    buffered.push(move)
    return
  }
  if (!board) return
  if (ownPending > 0) crossed = true
  const card = board.apply(move)
  if (!card) {
    void reload('Reloaded the board: a move named a card or column this page did not know')
    return
  }
  view.render(board)
  view.flash(card.id)
  chrome.log('move', `${cardLabel(card.id)} moved to ${columnLabel(move.in_column)}`, true)
}

/** This tab moves a card: show it at once, then tell the backend, which publishes it. */
async function moveCard(id: number, to: ColumnId, before: number | null): Promise<void> {
  const request = board?.move(id, to, before)
  if (!board || !request) return
  view.render(board)
  ownPending += 1
  try {
    const answer = await api.move(request, client.uuid)
    chrome.log('sent', `You moved ${cardLabel(id)} to ${columnLabel(to)}`, true)
    if (answer.relay_status !== 200) {
      chrome.log('error', `The relay did not take the move (status ${String(answer.relay_status)})`)
    }
  } catch (err) {
    chrome.log('error', `The move failed: ${String(err)}`)
    crossed = true
  } finally {
    ownPending -= 1
  }
  // Another tab's move crossed ours (or ours failed): the backend's order is the truth.
  if (ownPending === 0 && crossed) {
    crossed = false
    await reload('')
  }
}

const client = new RealtimeClient({
  url: `${location.protocol === 'https:' ? 'wss:' : 'ws:'}//${location.host}/ws`,
  getToken: async () => {
    const { token, exp } = await api.token()
    chrome.log('token', `New token, valid until ${timeOf(exp)}`)
    return token
  },
})
client.on('state', (state) => {
  chrome.state(state)
  if (state === 'reconnecting') chrome.log('state', 'Connection lost: reconnecting')
})
client.on('error', (error) => {
  chrome.log('error', `${error.code}: ${error.message}`)
})

async function start(): Promise<void> {
  let loaded: BoardView
  try {
    loaded = await api.board()
  } catch (err) {
    chrome.log('error', `Could not load the board: ${String(err)}`)
    boardRoot.setAttribute('aria-busy', 'false')
    return
  }
  chrome.session(loaded.user, loaded.users, { label: loaded.label, id: loaded.kanban_id })
  show(loaded)
  if (board) view.render(board)
  client.subscribe<KanbanMoveData>(loaded.room_id, {
    presence: true,
    onSubscribed(frame) {
      chrome.presenceList(frame.presence, frame.presence_count)
      // A first subscribe has no `since`: moves made before it may be missing.
      if (frame.recovered === undefined) void reload('')
      else if (frame.recovered) chrome.log('state', 'Reconnected: nothing was lost')
    },
    onMessage(message) {
      if (message.cmd === 'kanban_item:move') received(message.data)
    },
    onResync(info) {
      void reload(
        info.reason === 'resync'
          ? 'Messages were lost: reloaded the board'
          : 'Reconnected after missing messages: reloaded the board',
      )
    },
    onPresence(event) {
      chrome.presenceEvent(event.event, event.uuid, event.user_id)
    },
  })
}

void start()

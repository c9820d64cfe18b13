/**
 * The demo's board on both sides, as pure units: the backend's DemoBoard (rights, moves,
 * Tuleap's message data) and the page's PageBoard (applying other tabs' moves, its own).
 */
import t from 'tap'
import { canReceive } from '../../src/auth/rights.js'
import type { ColumnId, KanbanMoveData } from '../../src/demo/api-types.js'
import {
  cardRights,
  DEMO_USERS,
  DemoBoard,
  DemoError,
  findUser,
  initialPositions,
  RESTRICTED_CARD_ID,
  validPositions,
} from '../../src/demo/board.js'
import { PageBoard } from '../../src/demo/browser/page-board.js'

const alice = findUser('alice')!
const carol = findUser('carol')!
const ids = (board: DemoBoard | PageBoard, login = 'alice'): [ColumnId, number[]][] =>
  board instanceof PageBoard
    ? board.columns.map((c) => [c.id, c.cards.map((card) => card.id)])
    : board.view(findUser(login)!).columns.map((c) => [c.id, c.cards.map((card) => card.id)])

t.test('users, groups and who may see what', async (t) => {
  t.same(
    DEMO_USERS.map((u) => [u.login, u.id]),
    [
      ['alice', 101],
      ['bob', 102],
      ['carol', 103],
    ],
  )
  t.equal(findUser('dave'), undefined)
  t.equal(findUser(undefined), undefined)
  const board = new DemoBoard()
  t.ok(board.canSee(alice, RESTRICTED_CARD_ID))
  t.notOk(board.canSee(carol, RESTRICTED_CARD_ID))
  t.ok(board.canSee(carol, 1201))
  t.same(ids(board, 'carol'), [
    ['backlog', [1201, 1204, 1206]],
    [201, [1202]],
    [202, [1205]],
    ['archive', [1207]],
  ])
  t.same(ids(board)[1], [201, [1202, RESTRICTED_CARD_ID]])
  const restricted = board.view(alice).columns[1]!.cards[1]!
  t.same(restricted, {
    id: RESTRICTED_CARD_ID,
    label: 'Patch the session fixation flaw',
    kind: 'bug',
    restricted_to: 'Security team',
  })
})

t.test("rights in Tuleap's shape, which the relay's predicate reads the same way", async (t) => {
  const rights = cardRights({ submitter_id: 101, artifact: ['@ug_110'] })
  t.same(rights, {
    submitter_id: 101,
    submitter_can_view: true,
    submitter_only: [],
    tracker: ['@gpig_project_members'],
    artifact: ['@ug_110'],
  })
  t.notOk(canReceive(rights, carol.id, new Set(carol.groups)))
  t.ok(canReceive(rights, alice.id, new Set(alice.groups)))
})

t.test('a move: positions and the kanban_item:move data', async (t) => {
  const board = new DemoBoard()
  const { data, rights } = board.move(alice, 1206, 201, 1202)
  t.same(data, {
    artifact_id: 1206,
    in_column: 201,
    from_column: 'backlog',
    ordered_destination_column_items_ids: [1206, 1202, RESTRICTED_CARD_ID],
  })
  t.same(rights.artifact, [])
  t.same(board.move(carol, 1201, 'backlog', null).data, {
    artifact_id: 1201,
    in_column: 'backlog',
    from_column: 'backlog',
    ordered_destination_column_items_ids: [1204, 1201],
  })
  t.same(
    board.move(carol, 1204, 201, 4242).data.ordered_destination_column_items_ids,
    [1206, 1202, RESTRICTED_CARD_ID, 1204],
    'before a card that is not in the column: at its end',
  )
  t.throws(
    () => board.move(carol, RESTRICTED_CARD_ID, 202, null),
    new DemoError(404, 'no card #1203'),
  )
  t.throws(() => board.move(alice, 1201, 7, null), new DemoError(400, 'no column 7'))
  t.same(board.snapshot(), {
    backlog: [1201],
    '201': [1206, 1202, RESTRICTED_CARD_ID, 1204],
    '202': [1205],
    archive: [1207],
  })
  const snapshot = board.snapshot()
  snapshot.backlog!.push(1)
  t.same(board.snapshot().backlog, [1201], 'a snapshot is a copy')
})

t.test('validPositions: every card once, known columns only', async (t) => {
  t.ok(validPositions(initialPositions()))
  const missing = initialPositions()
  missing.backlog!.pop()
  t.notOk(validPositions(missing))
  const twice = initialPositions()
  twice.archive!.push(1201)
  t.notOk(validPositions(twice))
  t.notOk(validPositions({ ...initialPositions(), extra: [] }))
  t.notOk(validPositions({ ...initialPositions(), '202': [9999] }))
  t.notOk(validPositions({ ...initialPositions(), '202': ['1205'] }))
  t.notOk(validPositions([]))
  t.notOk(validPositions(null))
})

t.test('the page applies moves of other tabs', async (t) => {
  const page = new PageBoard(new DemoBoard().view(carol))
  const move = (m: Partial<KanbanMoveData>): KanbanMoveData => ({
    artifact_id: 1201,
    in_column: 201,
    from_column: 'backlog',
    ordered_destination_column_items_ids: [],
    ...m,
  })
  t.equal(
    page.apply(move({ ordered_destination_column_items_ids: [1202, RESTRICTED_CARD_ID, 1201] }))
      ?.id,
    1201,
  )
  t.same(
    page.column(201)!.cards.map((c) => c.id),
    [1202, 1201],
    'ids it does not show are skipped',
  )
  page.apply(move({ artifact_id: 1206, ordered_destination_column_items_ids: [1206, 1201] }))
  t.same(
    page.column(201)!.cards.map((c) => c.id),
    [1206, 1201, 1202],
    'cards the list lacks stay, last',
  )
  t.equal(page.apply(move({ artifact_id: RESTRICTED_CARD_ID })), null, 'a card it does not show')
  t.equal(page.apply(move({ in_column: 999 })), null, 'a column it does not know')
  t.same(
    page.column(201)!.cards.map((c) => c.id),
    [1206, 1201, 1202],
    'unchanged',
  )
})

t.test("the page's own moves: buttons, keys and drops", async (t) => {
  const page = new PageBoard(new DemoBoard().view(alice))
  t.same(page.move(1204, 202, null), { artifact_id: 1204, in_column: 202, before: null })
  t.same(page.move(1202, 201, RESTRICTED_CARD_ID), null, 'already there: nothing to do')
  t.same(page.move(1202, 201, 1202), null, 'before itself')
  t.same(page.move(RESTRICTED_CARD_ID, 201, 1202), {
    artifact_id: RESTRICTED_CARD_ID,
    in_column: 201,
    before: 1202,
  })
  t.same(page.move(1201, 202, 4242), { artifact_id: 1201, in_column: 202, before: null })
  t.equal(page.move(4242, 202, null), null, 'an unknown card')
  t.same(ids(page), [
    ['backlog', [1206]],
    [201, [RESTRICTED_CARD_ID, 1202]],
    [202, [1205, 1204, 1201]],
    ['archive', [1207]],
  ])
  t.equal(page.neighbour(1206, -1), undefined)
  t.equal(page.neighbour(1206, 1)?.id, 201)
  t.equal(page.neighbour(1207, 1), undefined)
  t.equal(page.reorderTarget(1205, -1), undefined, 'the first card cannot go up')
  t.equal(page.reorderTarget(1204, -1), 1205, 'up: before the card above')
  t.equal(page.reorderTarget(1205, 1), 1201, 'down: before the card two below')
  t.equal(page.reorderTarget(1204, 1), null, 'down to the end')
  t.equal(page.reorderTarget(1201, 1), undefined, 'the last card cannot go down')
})

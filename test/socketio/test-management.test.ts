/** Test Management presence state: the historic server's rules, applied once per message. */
import t from 'tap'
import type { StoredMessage } from '../../src/broker/broker.js'
import {
  EXECUTION_DELETE_CMD,
  ExecutionPresences,
  PRESENCE_CMD,
} from '../../src/socketio/test-management.js'
import { nextStored } from '../helpers/messages.js'

const message = (cmd: string, data: unknown): StoredMessage =>
  nextStored('testmanagement_5', cmd, data)
const presence = (uuid: string, execution: unknown, from: unknown, user: object = { id: 1 }) =>
  message(PRESENCE_CMD, { presence: { execution_id: execution, uuid, remove_from: from, user } })

/** The snapshot of users 1 (tab ua) and 2 (tab ub) on execution 10. */
const uaAndUbOn10 = {
  10: [
    { id: 1, uuid: 'ua' },
    { id: 2, uuid: 'ub' },
  ],
}

void t.test('a page views an execution, moves, leaves it', async (t) => {
  const s = new ExecutionPresences()
  t.same(s.apply(presence('ua', 10, '')), {
    user: { id: 1, uuid: 'ua' },
    execution_to_add: 10,
    execution_presences_to_add: [{ id: 1, uuid: 'ua' }],
  })
  t.same(s.apply(presence('ub', 10, '', { id: 2 })), {
    user: { id: 2, uuid: 'ub' },
    execution_to_add: 10,
    execution_presences_to_add: [
      { id: 1, uuid: 'ua' },
      { id: 2, uuid: 'ub' },
    ],
  })
  t.same(
    s.apply(presence('ua', 11, 10)),
    {
      user: { id: 1, uuid: 'ua' },
      execution_to_add: 11,
      execution_presences_to_add: [{ id: 1, uuid: 'ua' }],
      execution_to_remove: 10,
      execution_presences_to_remove: [{ id: 2, uuid: 'ub' }],
    },
    'remove_from another execution moves the page',
  )
  t.same(
    s.apply(presence('ua', 11, 11)),
    { user: { id: 1, uuid: 'ua' }, execution_to_remove: 11, execution_presences_to_remove: [] },
    'remove_from the same execution only leaves it',
  )
  t.same(s.snapshot(), { 10: [{ id: 2, uuid: 'ub' }], 11: [] }, 'a left execution stays, empty')
})

void t.test('a page listed somewhere is not listed twice', async (t) => {
  const s = new ExecutionPresences()
  s.apply(presence('ua', 10, ''))
  t.same(s.apply(presence('ua', 12, '')), {}, 'the historic empty answer')
  t.same(s.snapshot(), { 10: [{ id: 1, uuid: 'ua' }] })
})

void t.test('remove_from is compared strictly, as the JSON values are', async (t) => {
  const s = new ExecutionPresences()
  s.apply(presence('ua', 10, ''))
  // "10" is not 10: not a leave of execution 10 but a move from "10" (the same key) to 10.
  t.same(s.apply(presence('ua', 10, '10')), {
    user: { id: 1, uuid: 'ua' },
    execution_to_add: 10,
    execution_presences_to_add: [{ id: 1, uuid: 'ua' }],
    execution_to_remove: '10',
    execution_presences_to_remove: [{ id: 1, uuid: 'ua' }],
  })
})

void t.test('a page that goes, a deleted execution', async (t) => {
  const s = new ExecutionPresences()
  s.apply(presence('ua', 10, ''))
  s.apply(presence('ub', 10, '', { id: 2 }))
  s.apply(presence('uc', 11, '', { id: 3 }))
  s.removeUuid('uc')
  t.same(s.snapshot(), uaAndUbOn10, 'emptied: dropped')
  t.same(s.apply(message(EXECUTION_DELETE_CMD, { artifact_id: 10 })), { artifact_id: 10 })
  t.same(s.snapshot(), {}, 'a deleted execution is forgotten')
  t.match(s.apply(presence('ua', 12, '')), { execution_presences_to_add: [{ id: 1, uuid: 'ua' }] })
})

void t.test('other messages pass untouched; shapes the historic server ignored too', async (t) => {
  const s = new ExecutionPresences()
  for (const data of [null, '', 5, [1], { presence: { execution_id: 1, uuid: 'u' } }]) {
    t.equal(s.apply(message(PRESENCE_CMD, data)), data)
  }
  const update = { artifact_id: 3, user: { id: 1 } }
  t.equal(s.apply(message('testmanagement_execution:update', update)), update)
  const notDeleted = { id: 3 }
  t.equal(s.apply(message(EXECUTION_DELETE_CMD, notDeleted)), notDeleted, 'no artifact_id')
  t.same(s.snapshot(), {})
})

void t.test('each message is applied once: a replay gets the data computed for it', async (t) => {
  const s = new ExecutionPresences()
  const first = presence('ua', 10, '')
  const second = presence('ub', 10, '', { id: 2 })
  const a = s.apply(first)
  const b = s.apply(second)
  t.equal(s.apply(first), a, 'the stream listener and a delivery may both offer it')
  t.equal(s.apply(second), b)
  t.same(s.snapshot(), uaAndUbOn10, 'counted once')
  t.same(
    a,
    {
      user: { id: 1, uuid: 'ua' },
      execution_to_add: 10,
      execution_presences_to_add: [{ id: 1, uuid: 'ua' }],
    },
    'the lists are frozen with the message',
  )
  // Fencing moved the room to a new epoch: its offsets start again, lower than before.
  const later = { ...presence('uc', 11, '', { id: 3 }), epoch: 'e2', offset: 1 }
  t.same(s.apply(later), {
    user: { id: 3, uuid: 'uc' },
    execution_to_add: 11,
    execution_presences_to_add: [{ id: 3, uuid: 'uc' }],
  })
  t.same(Object.keys(s.snapshot()), ['10', '11'])
})

import t from 'tap'
import { RelayError } from '../../src/errors.js'
import { normaliseRoomId, parseMessage } from '../../src/protocol/message.js'
import { kanbanRights } from '../helpers/tokens.js'
import { thrown } from '../helpers/errors.js'

const base = { room_id: 42, cmd: 'kanban_item:move' }

/** The RelayError parseMessage throws for `value`; fails the test when it does not throw one. */
const refusal = (value: unknown, where?: string): RelayError =>
  thrown(RelayError, () => parseMessage(value, where))

t.test('room_id', async (t) => {
  t.equal(parseMessage(base).room_id, '42', 'an integer becomes a string')
  t.equal(parseMessage({ ...base, room_id: 0 }).room_id, '0')
  t.equal(parseMessage({ ...base, room_id: 'testmanagement_7' }).room_id, 'testmanagement_7')
  t.equal(parseMessage({ ...base, room_id: 'r'.repeat(128) }).room_id, 'r'.repeat(128))
  t.equal(
    parseMessage({ ...base, room_id: 'salle 🚀 é' }).room_id,
    'salle 🚀 é',
    'a surrogate pair',
  )
  const bad: [string, unknown][] = [
    ['missing', undefined],
    ['null', null],
    ['empty', ''],
    ['129 characters', 'r'.repeat(129)],
    ['a fraction', 4.2],
    ['an unsafe integer', 2 ** 53],
    ['NaN', NaN],
    ['boolean', true],
    ['array', ['42']],
    ['NUL', 'a\u0000b'],
    ['newline', '42\n'],
    ['tab', '\t42'],
    ['DEL', '42\u007f'],
    ['C1 control', '42\u0085'],
    ['line separator', '42\u2028'],
    ['lone high surrogate', '42\ud800'],
    ['lone low surrogate', '\udc0042'],
  ]
  for (const [name, roomId] of bad) {
    const err = refusal({ ...base, room_id: roomId })
    t.equal(err.code, 'RELAY_ERR_PUBLISH_BAD_MESSAGE', name)
    t.equal(err.status, 400, name)
    t.match(err.message, /^message\.room_id/, name)
    t.equal(normaliseRoomId(roomId), null, `normaliseRoomId: ${name}`)
  }
})

t.test('cmd', async (t) => {
  for (const cmd of ['kanban_item:move', 'a', 'A-Z.a_z:0-9', 'c'.repeat(128)]) {
    t.equal(parseMessage({ ...base, cmd }).cmd, cmd, cmd.slice(0, 20))
  }
  for (const cmd of [undefined, null, '', 'c'.repeat(129), 'a b', 'é', 'a/b', 'a\n', 42, ['x']]) {
    const err = refusal({ ...base, cmd })
    t.equal(err.code, 'RELAY_ERR_PUBLISH_BAD_MESSAGE', JSON.stringify(cmd))
    t.match(err.message, /^message\.cmd/, JSON.stringify(cmd))
  }
})

t.test('data', async (t) => {
  t.equal(parseMessage(base).data, null, 'absent means null')
  t.equal(parseMessage({ ...base, data: null }).data, null)
  for (const data of ['', 0, false, 'text', [1, 'a'], { a: { b: [] } }]) {
    const value = { ...base, data }
    t.equal(parseMessage(value).data, data, `passed through: ${JSON.stringify(data)}`)
  }
})

t.test('a __proto__ key in data is kept as data and pollutes nothing', async (t) => {
  const text = '{"room_id":1,"cmd":"x","data":{"__proto__":{"polluted":true},"a":1}}'
  const parsed = parseMessage(JSON.parse(text))
  const data = parsed.data as Record<string, unknown>
  t.ok(Object.prototype.hasOwnProperty.call(data, '__proto__'), 'an own __proto__ key')
  t.same(Object.getOwnPropertyDescriptor(data, '__proto__')?.value, { polluted: true })
  t.equal(Object.getPrototypeOf(data), Object.prototype, 'prototype unchanged')
  t.equal((data as { polluted?: unknown }).polluted, undefined)
  t.equal(({} as { polluted?: unknown }).polluted, undefined, 'Object.prototype untouched')
  t.notOk('polluted' in Object.prototype)
  t.equal(JSON.stringify(parsed.data), '{"__proto__":{"polluted":true},"a":1}')
})

t.test('fields are read as own keys only', async (t) => {
  const err = refusal(JSON.parse('{"room_id":1,"__proto__":{"cmd":"x"}}'))
  t.match(err.message, 'message.cmd', 'a cmd under __proto__ is not a cmd')
})

t.test('sender fields', async (t) => {
  t.match(parseMessage(base), { sender_user_id: null, sender_uuid: null }, 'absent means null')
  t.match(parseMessage({ ...base, sender_user_id: null, sender_uuid: null }), {
    sender_user_id: null,
    sender_uuid: null,
  })
  t.match(parseMessage({ ...base, sender_user_id: 101, sender_uuid: 'tab-a' }), {
    sender_user_id: 101,
    sender_uuid: 'tab-a',
  })
  for (const id of ['101', 1.5, true, {}]) {
    t.match(
      refusal({ ...base, sender_user_id: id }, 'messages[0]').message,
      /^messages\[0\]\.sender_user_id/,
      JSON.stringify(id),
    )
  }
  for (const uuid of [42, true, ['tab']]) {
    t.match(
      refusal({ ...base, sender_uuid: uuid }, 'messages[0]').message,
      /^messages\[0\]\.sender_uuid/,
      JSON.stringify(uuid),
    )
  }
})

t.test('rights', async (t) => {
  t.equal(parseMessage(base).rights, null, 'absent')
  t.throws(
    () => parseMessage({ ...base, rights: null }),
    { code: 'RELAY_ERR_PUBLISH_BAD_RIGHTS', message: /message\.rights must be an object/ },
    'null is present with the wrong type: refused (docs/protocol.md §4)',
  )

  t.same(parseMessage({ ...base, rights: kanbanRights({ field: 1 }) }).rights, {
    submitter_id: null,
    submitter_can_view: false,
    submitter_only: [],
    tracker: ['@site_active'],
    artifact: [],
  })
  const err = refusal({ ...base, rights: kanbanRights({ tracker: [] }) }, 'messages[3]')
  t.equal(err.code, 'RELAY_ERR_PUBLISH_BAD_RIGHTS')
  t.match(err.message, /^messages\[3\]\.rights\.tracker/)
  const missing = kanbanRights()
  delete missing.artifact
  t.match(
    refusal({ ...base, rights: missing }, 'messages[1]').message,
    'messages[1].rights.artifact',
  )
  t.match(refusal({ ...base, rights: 'all' }, 'messages[2]').message, 'messages[2].rights')
})

t.test('errors name the field with the `where` prefix', async (t) => {
  t.match(refusal({ ...base, cmd: '' }, 'messages[3]').message, /^messages\[3\]\.cmd /)
  t.match(refusal({ ...base, room_id: '' }, 'messages[7]').message, /^messages\[7\]\.room_id /)
  t.match(refusal({ ...base, cmd: '' }).message, /^message\.cmd /, 'default where')
  for (const value of [null, [], 'x', 42]) {
    const err = refusal(value, 'messages[5]')
    t.equal(err.message, 'messages[5] must be an object', JSON.stringify(value))
    t.equal(err.status, 400)
  }
})

t.test('the result has exactly the six message fields', async (t) => {
  const parsed = parseMessage({ ...base, extra: 1, data: 2 })
  t.same(Object.keys(parsed).sort(), [
    'cmd',
    'data',
    'rights',
    'room_id',
    'sender_user_id',
    'sender_uuid',
  ])
})

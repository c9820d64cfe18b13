import t from 'tap'
import type { StoredMessage } from '../../src/protocol/message.js'
import {
  messageFrame,
  presenceFrame,
  resyncFrame,
  subscribedFrame,
} from '../../src/protocol/server-frames.js'
import { storedMessage } from '../helpers/messages.js'

const parse = (b: Buffer): unknown => JSON.parse(b.toString('utf8'))

/** A message with every field set, and data that needs escaping. */
const stored = (overrides: Partial<StoredMessage> = {}): StoredMessage =>
  storedMessage(19, {
    data: { artifact_id: 7, label: 'quote " backslash \\ and \u2028' },
    rights: {
      submitter_id: 101,
      submitter_can_view: true,
      submitter_only: ['@ug_9'],
      tracker: ['@ug_1'],
      artifact: [],
    },
    sender_user_id: 101,
    sender_uuid: 'tab-a',
    epoch: 'ep0ch',
    published_at: 1_767_225_600_000,
    ...overrides,
  })

t.test('messageFrame', async (t) => {
  t.test('valid JSON with exactly the fields of docs/protocol.md §5.2', async (t) => {
    const m = stored()
    const frame = parse(messageFrame(m))
    t.strictSame(frame, {
      type: 'message',
      room_id: '42',
      epoch: 'ep0ch',
      offset: 19,
      cmd: 'kanban_item:move',
      data: { artifact_id: 7, label: 'quote " backslash \\ and \u2028' },
    })
    t.notOk(messageFrame(m).toString().includes('@ug_'), 'rights never leave the relay')
    t.notOk(messageFrame(m).toString().includes('tab-a'), 'nor the sender uuid')
  })

  t.test('every kind of data', async (t) => {
    for (const data of [null, '', 0, false, 'x', [1, { a: null }], { '"': '<\\/script>' }]) {
      t.strictSame((parse(messageFrame(stored({ data }))) as { data: unknown }).data, data)
    }
  })

  t.test('strings that need escaping stay valid JSON', async (t) => {
    const m = stored({ room_id: 'r"\\', cmd: 'a:b', epoch: 'e"' })
    t.match(parse(messageFrame(m)), { room_id: 'r"\\', epoch: 'e"' })
  })

  t.test('a __proto__ key in data is serialised as data', async (t) => {
    const data: unknown = JSON.parse('{"__proto__":{"x":1}}')
    t.equal(
      messageFrame(stored({ data })).toString(),
      '{"type":"message","room_id":"42","epoch":"ep0ch","offset":19,"cmd":"kanban_item:move","data":{"__proto__":{"x":1}}}',
    )
  })

  t.test('serialised once: the same Buffer for the same message object', async (t) => {
    const m = stored()
    const first = messageFrame(m)
    t.equal(messageFrame(m), first, 'same Buffer instance')
    const twin = stored()
    t.not(messageFrame(twin), first, 'an equal but distinct message gets its own Buffer')
    t.same(messageFrame(twin), first)
  })
})

t.test('subscribedFrame', async (t) => {
  t.strictSame(
    parse(subscribedFrame({ room_id: '42', epoch: 'e', offset: 18, presence_count: 3 })),
    { type: 'subscribed', room_id: '42', epoch: 'e', offset: 18, presence_count: 3 },
    'without since or presence: no recovered, no presence',
  )
  const resumed = {
    room_id: '42',
    epoch: 'e',
    offset: 18,
    recovered: false,
    presence_count: 2,
    presence: [
      { user_id: 101, uuid: 'a' },
      { user_id: 102, uuid: null },
    ],
  }
  t.strictSame(parse(subscribedFrame(resumed)), { type: 'subscribed', ...resumed })
})

t.test('presence and resync', async (t) => {
  t.strictSame(parse(presenceFrame('42', 'join', { user_id: 101, uuid: 'tab' })), {
    type: 'presence',
    room_id: '42',
    event: 'join',
    user_id: 101,
    uuid: 'tab',
  })
  t.strictSame(parse(resyncFrame('42', 'e', 18)), {
    type: 'resync',
    room_id: '42',
    epoch: 'e',
    offset: 18,
  })
})

t.test('a message frame is memory of its own: history does not pin shared chunks', async (t) => {
  const frame = messageFrame(stored())
  t.equal(frame.byteOffset, 0)
  t.equal(frame.buffer.byteLength, frame.length, `${frame.length} bytes, not a slice of a chunk`)
})

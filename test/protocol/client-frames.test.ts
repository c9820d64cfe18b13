import t from 'tap'
import {
  isFrameError,
  parseClientFrame,
  type FrameError,
} from '../../src/protocol/client-frames.js'

const parse = (frame: unknown): ReturnType<typeof parseClientFrame> =>
  parseClientFrame(JSON.stringify(frame))

function error(frame: unknown): FrameError {
  const result = typeof frame === 'string' ? parseClientFrame(frame) : parse(frame)
  if (!isFrameError(result)) throw new Error(`accepted: ${JSON.stringify(result)}`)
  return result
}

t.test('subscribe', async (t) => {
  t.test('the full frame', async (t) => {
    const full = {
      type: 'subscribe',
      room_id: '42',
      token: 'abc',
      uuid: 'tab-1',
      since: { epoch: 'e', offset: 17 },
      presence: true,
    }
    t.strictSame(parse({ ...full }), full)
  })

  t.test('the minimal frame: optional fields absent', async (t) => {
    t.strictSame(parse({ type: 'subscribe', room_id: 42 }), {
      type: 'subscribe',
      room_id: '42',
      token: undefined,
      uuid: undefined,
      since: undefined,
      presence: false,
    })
  })

  t.test('accepts a Buffer as well as a string', async (t) => {
    t.match(parseClientFrame(Buffer.from('{"type":"subscribe","room_id":"testmanagement_3"}')), {
      type: 'subscribe',
      room_id: 'testmanagement_3',
    })
  })

  t.test('room_id', async (t) => {
    for (const roomId of [undefined, null, '', 'r'.repeat(129), 1.5, 'a\nb', '\u007f', {}]) {
      const err = error({ type: 'subscribe', room_id: roomId })
      t.match(err.error, 'room_id', JSON.stringify(roomId))
      t.notOk('room_id' in err, 'no room_id in the error when the room id is invalid')
    }
    t.match(parse({ type: 'subscribe', room_id: 'r'.repeat(128) }), { room_id: 'r'.repeat(128) })
  })

  t.test('token', async (t) => {
    for (const token of [42, null, {}, ['t']]) {
      t.strictSame(error({ type: 'subscribe', room_id: '42', token }), {
        error: 'token must be a string',
        room_id: '42',
      })
    }
  })

  t.test('uuid limits', async (t) => {
    t.match(parse({ type: 'subscribe', room_id: '42', uuid: 'u' }), { uuid: 'u' })
    t.match(parse({ type: 'subscribe', room_id: '42', uuid: 'u'.repeat(128) }), {
      uuid: 'u'.repeat(128),
    })
    for (const uuid of ['', 'u'.repeat(129), 'a\u0000', 'tab\n', '\u007f', 7, null, false]) {
      const err = error({ type: 'subscribe', room_id: '42', uuid })
      t.match(err, { error: /uuid/, room_id: '42' }, JSON.stringify(uuid))
    }
  })

  t.test('presence', async (t) => {
    t.match(parse({ type: 'subscribe', room_id: '42', presence: false }), { presence: false })
    for (const presence of ['true', 1, null]) {
      t.match(
        error({ type: 'subscribe', room_id: '42', presence }),
        { error: /presence/, room_id: '42' },
        JSON.stringify(presence),
      )
    }
  })

  t.test('since', async (t) => {
    const withSince = (since: unknown) => ({ type: 'subscribe', room_id: '42', since })
    t.match(parse(withSince({ epoch: 'e', offset: 0 })), { since: { epoch: 'e', offset: 0 } })
    t.match(parse(withSince(null)), { since: undefined }, 'null means absent')
    t.strictSame(
      parse(withSince({ epoch: 'e', offset: 3, extra: 1 })),
      {
        type: 'subscribe',
        room_id: '42',
        token: undefined,
        uuid: undefined,
        since: { epoch: 'e', offset: 3 },
        presence: false,
      },
      'extra keys dropped',
    )
    const bad: unknown[] = [
      'e:3',
      3,
      [],
      ['e', 3],
      {},
      { epoch: 'e' },
      { offset: 3 },
      { epoch: 3, offset: 3 },
      { epoch: 'e', offset: -1 },
      { epoch: 'e', offset: 1.5 },
      { epoch: 'e', offset: '3' },
      { epoch: 'e', offset: 2 ** 53 },
      { epoch: 'e'.repeat(129), offset: 3 },
    ]
    for (const since of bad) {
      t.match(error(withSince(since)), { error: /since/, room_id: '42' }, JSON.stringify(since))
    }
  })
})

t.test('unsubscribe', async (t) => {
  t.strictSame(parse({ type: 'unsubscribe', room_id: 42 }), { type: 'unsubscribe', room_id: '42' })
  t.match(error({ type: 'unsubscribe' }), { error: /room_id/ })
  t.match(error({ type: 'unsubscribe', room_id: '' }), { error: /room_id/ })
})

t.test('token', async (t) => {
  t.strictSame(parse({ type: 'token', token: 'abc' }), { type: 'token', token: 'abc' })
  for (const token of [undefined, '', 42, null]) {
    t.match(error({ type: 'token', token }), { error: /token/ }, JSON.stringify(token))
  }
})

t.test('ping', async (t) => {
  t.strictSame(parse({ type: 'ping' }), { type: 'ping' })
  t.strictSame(parse({ type: 'ping', extra: true }), { type: 'ping' })
})

t.test('unknown or missing type', async (t) => {
  for (const type of [undefined, 'hello', 'SUBSCRIBE', 'message', 1, null]) {
    t.strictSame(
      error({ type, room_id: '42' }),
      { error: 'type must be one of subscribe, unsubscribe, token, ping' },
      JSON.stringify(type),
    )
  }
})

t.test('not JSON, or not a JSON object', async (t) => {
  for (const text of ['', '{', 'subscribe', '{"type":"ping",}', '\u0000']) {
    t.strictSame(error(text), { error: 'frame is not valid JSON' }, JSON.stringify(text))
  }
  for (const text of ['null', '[]', '[{"type":"ping"}]', '"ping"', '42', 'true']) {
    t.strictSame(error(text), { error: 'frame must be a JSON object' }, text)
  }
  t.strictSame(error(Buffer.from([0xff, 0xfe]).toString('latin1')), {
    error: 'frame is not valid JSON',
  })
})

t.test('isFrameError', async (t) => {
  t.ok(isFrameError({ error: 'x' }))
  t.notOk(isFrameError({ type: 'ping' }))
})

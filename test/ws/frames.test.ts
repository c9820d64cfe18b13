import t from 'tap'
import {
  errorFrame,
  helloFrame,
  PONG_FRAME,
  tokenFrame,
  unsubscribedFrame,
} from '../../src/ws/frames.js'

const parse = (b: Buffer): unknown => JSON.parse(b.toString('utf8'))

t.test('errorFrame', async (t) => {
  t.strictSame(parse(errorFrame('BadRequest', 'bad frame')), {
    type: 'error',
    code: 'BadRequest',
    message: 'bad frame',
  })
  t.strictSame(parse(errorFrame('RoomLimit', 'too many', '42')), {
    type: 'error',
    code: 'RoomLimit',
    message: 'too many',
    room_id: '42',
  })
})

t.test('connection-level frames', async (t) => {
  t.strictSame(parse(helloFrame(25000)), { type: 'hello', protocol: 1, heartbeat_ms: 25000 })
  t.strictSame(parse(PONG_FRAME), { type: 'pong' })
  t.strictSame(parse(unsubscribedFrame('42')), { type: 'unsubscribed', room_id: '42' })
  t.strictSame(parse(tokenFrame(1767225600)), { type: 'token', exp: 1767225600 })
})

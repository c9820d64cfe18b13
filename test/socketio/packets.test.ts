/** socket.io EVENT packets encoded once, and the queue measure of an Engine.IO socket. */
import t from 'tap'
import { encodeEvent, queuedBytes, type EngineSocket } from '../../src/socketio/packets.js'

void t.test('the packet is socket.io-parser’s EVENT encoding', async (t) => {
  t.equal(encodeEvent('/', 'kanban_item:move', '{"a":1}').packet, '2["kanban_item:move",{"a":1}]')
  t.equal(
    encodeEvent('/testmanagement', 'user:leave', '"ua"').packet,
    '2/testmanagement,["user:leave","ua"]',
    'a namespace other than / is named before the array',
  )
  t.equal(encodeEvent('/', 'a"b', 'null').packet, '2["a\\"b",null]', 'the event name is JSON')
})

void t.test('the WebSocket frame is the text frame of the Engine.IO message', async (t) => {
  const small = encodeEvent('/', 'x', '5')
  const payload = Buffer.from(`4${small.packet}`)
  t.equal(small.bytes, payload.length)
  t.same(small.options.compress, false, 'compression stays off')
  t.same(
    Buffer.concat(small.options.wsPreEncodedFrame),
    Buffer.concat([Buffer.from([0x81, payload.length]), payload]),
    'FIN, text opcode, unmasked, 7-bit length',
  )
  const data = JSON.stringify('é'.repeat(200))
  const large = encodeEvent('/', 'x', data)
  const body = Buffer.from(`4${large.packet}`)
  t.equal(large.bytes, body.length, 'bytes, not characters')
  const frame = Buffer.concat(large.options.wsPreEncodedFrame)
  t.same(frame.subarray(0, 4), Buffer.from([0x81, 126, body.length >> 8, body.length & 0xff]))
  t.same(frame.subarray(4), body)
})

void t.test(
  'the WebSocket frame is one Buffer of its own: cached events pin no shared chunk',
  async (t) => {
    const { wsPreEncodedFrame } = encodeEvent(
      '/',
      'kanban_item:update',
      '{"artifact_id":1}',
    ).options
    t.equal(wsPreEncodedFrame.length, 1, 'header and payload together: one write')
    const [frame = Buffer.alloc(0)] = wsPreEncodedFrame
    t.equal(frame.byteOffset, 0)
    t.equal(frame.buffer.byteLength, frame.length)
  },
)

void t.test('queued bytes: the WebSocket buffer plus what Engine.IO holds', async (t) => {
  const conn = (
    bufferedAmount: number | undefined,
    queued: { data?: unknown }[],
  ): EngineSocket => ({
    readyState: 'open',
    writeBuffer: queued,
    transport: { name: 'websocket', socket: { bufferedAmount } },
    write: () => undefined,
  })
  t.equal(queuedBytes(conn(0, [])), 0)
  t.equal(queuedBytes(conn(100, [{ data: 'abc' }, { data: 'de' }])), 105)
  t.equal(queuedBytes(conn(undefined, [{}, { data: Buffer.alloc(3) }])), 32, 'non-text counts 16')
  const polling: EngineSocket = {
    readyState: 'open',
    writeBuffer: [{ data: 'x'.repeat(10) }],
    transport: { name: 'polling' },
    write: () => undefined,
  }
  t.equal(queuedBytes(polling), 10, 'polling has no socket buffer')
})

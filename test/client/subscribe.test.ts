import t from 'tap'
import type { MessageFrame, ResyncInfo } from '../../src/client/index.js'
import { flush, harness, helloIn42, message, subscribed } from './harness.js'

/** A client subscribed to room 42, collecting the offsets it is given; its socket said hello. */
async function collecting(t: Parameters<typeof harness>[0]) {
  const h = harness(t)
  const got: number[] = []
  const ws = await helloIn42(h, (m) => got.push(m.offset))
  return { h, got, ws }
}

t.test(
  'nothing is sent before hello; then every room is subscribed, token and uuid first',
  async (t) => {
    const h = harness(t)
    t.equal(h.client.state, 'idle', 'no socket before the first subscribe')
    t.equal(h.sockets.length, 0)
    h.client.subscribe('42', { onMessage: () => undefined })
    h.client.subscribe(7, { onMessage: () => undefined })
    await flush()
    t.equal(h.sockets.length, 1, 'one socket for every room')
    t.equal(h.socket().url, 'wss://relay.test/ws', 'the token is not in the URL')
    t.equal(h.client.state, 'connecting')
    t.same(h.socket().sent, [], 'waits for hello')
    h.socket().hello()
    t.equal(h.client.state, 'open')
    t.same(h.socket().sent, [
      { type: 'subscribe', room_id: '42', token: h.tokens[0], uuid: 'tab-1' },
      { type: 'subscribe', room_id: '7', token: h.tokens[0], uuid: 'tab-1' },
    ])
    t.same(h.states, ['connecting', 'open'])
  },
)

t.test('a subscribe while connected goes at once, without token once authenticated', async (t) => {
  const h = harness(t)
  const ws = await h.connect('42')
  ws.deliver(subscribed('42', 3))
  h.client.subscribe('testmanagement_9', { onMessage: () => undefined, presence: true })
  t.same(ws.sent.at(-1), {
    type: 'subscribe',
    room_id: 'testmanagement_9',
    uuid: 'tab-1',
    presence: true,
  })
  t.equal(h.tokens.length, 1, 'getToken called once')
})

t.test('the generated uuid is a v4 UUID and stays the same across reconnections', async (t) => {
  const h = harness(t, { uuid: undefined })
  t.match(h.client.uuid, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/)
  const first = await h.connect('42')
  first.serverClose(1006)
  ;(await h.nextSocket()).hello()
  t.not(h.socket(), first)
  t.same(
    h.sockets.map((ws) => ws.sentOf('subscribe')[0]?.uuid),
    [h.client.uuid, h.client.uuid],
  )
})

t.test('messages are delivered in order; an offset seen before is dropped', async (t) => {
  const { got, ws } = await collecting(t)
  ws.deliver(subscribed('42', 10))
  ws.deliver(message('42', 11))
  ws.deliver(message('42', 12))
  ws.deliver(message('42', 12))
  ws.deliver(message('42', 9))
  ws.deliver(message('42', 13))
  t.same(got, [11, 12, 13])
  // Offsets of another epoch are not comparable: delivered, and the new epoch adopted.
  ws.deliver(message('42', 1, { epoch: 'e2' }))
  ws.deliver(message('42', 1, { epoch: 'e2' }))
  t.same(got, [11, 12, 13, 1])
})

t.test('the message reaches onMessage as the protocol frame, data typed', async (t) => {
  const h = harness(t)
  let seen: MessageFrame<{ artifact_id: number }> | undefined
  h.client.subscribe<{ artifact_id: number }>('42', { onMessage: (m) => (seen = m) })
  await flush()
  h.socket().hello()
  h.socket().deliver(subscribed('42', 0))
  h.socket().deliver(message('42', 1))
  t.same(seen, message('42', 1))
  t.equal(seen?.data.artifact_id, 1)
})

t.test('a reconnection re-subscribes every room with since = the last offset seen', async (t) => {
  const h = harness(t)
  const got: number[] = []
  h.client.subscribe('42', { onMessage: (m) => got.push(m.offset) })
  h.client.subscribe('43', { onMessage: () => undefined })
  await flush()
  const first = h.socket()
  first.hello()
  first.deliver(subscribed('42', 10))
  first.deliver(subscribed('43', 5, { epoch: 'e9' }))
  first.deliver(message('42', 11))
  first.deliver(message('42', 12))
  first.serverClose(1001, 'restarting')
  t.equal(h.client.state, 'reconnecting')
  const second = await h.nextSocket()
  t.not(second, first)
  second.hello()
  t.same(second.sent, [
    {
      type: 'subscribe',
      room_id: '42',
      token: h.tokens[0],
      uuid: 'tab-1',
      since: { epoch: 'e1', offset: 12 },
    },
    {
      type: 'subscribe',
      room_id: '43',
      token: h.tokens[0],
      uuid: 'tab-1',
      since: { epoch: 'e9', offset: 5 },
    },
  ])
  // The relay answers with its latest offset, then replays what was missed.
  second.deliver(subscribed('42', 15, { recovered: true }))
  second.deliver(message('42', 12))
  second.deliver(message('42', 13))
  second.deliver(message('42', 15))
  t.same(got, [11, 12, 13, 15], 'the replay after subscribed is kept, the duplicate dropped')
})

t.test(
  'a room subscribed during a reconnection is sent once the new socket says hello',
  async (t) => {
    const h = harness(t)
    const first = await h.connect('42')
    first.serverClose(1006)
    h.client.subscribe('77', { onMessage: () => undefined })
    t.same(first.sentOf('subscribe').length, 1, 'nothing sent on the dead socket')
    ;(await h.nextSocket()).hello()
    t.same(
      h
        .socket()
        .sentOf('subscribe')
        .map((f) => f.room_id),
      ['42', '77'],
    )
  },
)

t.test('onResync on recovered:false, adopting the new position', async (t) => {
  const h = harness(t)
  const resyncs: ResyncInfo[] = []
  const got: string[] = []
  h.client.subscribe('42', {
    onMessage: (m) => got.push(`${m.epoch}:${m.offset}`),
    onResync: (info) => resyncs.push(info),
  })
  await flush()
  h.socket().hello()
  h.socket().deliver(subscribed('42', 4))
  t.same(resyncs, [], 'a first subscribe (no since) is not a resync')
  h.socket().serverClose(1001)
  let ws = await h.nextSocket()
  ws.hello()
  // Same epoch, but the history window passed: not recovered.
  ws.deliver(subscribed('42', 80, { recovered: false }))
  t.same(resyncs, [{ room_id: '42', epoch: 'e1', offset: 80, reason: 'not_recovered' }])
  ws.deliver(message('42', 80))
  ws.deliver(message('42', 81))
  t.same(got, ['e1:81'], 'continues after the adopted offset')
  ws.serverClose(1001)
  ws = await h.nextSocket()
  ws.hello()
  t.same(ws.sentOf('subscribe')[0]?.since, { epoch: 'e1', offset: 81 })
  // A new epoch (the relay restarted with the memory broker): not recovered either.
  ws.deliver(subscribed('42', 2, { epoch: 'e2', recovered: false }))
  t.same(resyncs.at(-1), { room_id: '42', epoch: 'e2', offset: 2, reason: 'not_recovered' })
  ws.deliver(message('42', 3, { epoch: 'e2' }))
  t.same(got, ['e1:81', 'e2:3'], 'offsets of the new epoch are not compared with the old')
})

t.test('onResync on a resync frame; the next since carries its position', async (t) => {
  const h = harness(t)
  const resyncs: ResyncInfo[] = []
  h.client.subscribe('42', { onMessage: () => undefined, onResync: (i) => resyncs.push(i) })
  await flush()
  const ws = h.socket()
  ws.hello()
  ws.deliver(subscribed('42', 4))
  ws.deliver(message('42', 5))
  ws.deliver({ type: 'resync', room_id: '42', epoch: 'e1', offset: 60 })
  t.same(resyncs, [{ room_id: '42', epoch: 'e1', offset: 60, reason: 'resync' }])
  ws.serverClose(4009)
  ;(await h.nextSocket()).hello()
  t.same(h.socket().sentOf('subscribe')[0]?.since, { epoch: 'e1', offset: 60 })
})

t.test('unsubscribe sends unsubscribe and forgets the room for good', async (t) => {
  const h = harness(t)
  const got: number[] = []
  const off = h.client.subscribe('42', { onMessage: (m) => got.push(m.offset) })
  h.client.subscribe('43', { onMessage: () => undefined })
  await flush()
  const ws = h.socket()
  ws.hello()
  ws.deliver(subscribed('42', 1))
  ws.deliver(subscribed('43', 1))
  off()
  off()
  t.same(ws.sentOf('unsubscribe'), [{ type: 'unsubscribe', room_id: '42' }], 'sent once')
  ws.deliver(message('42', 2))
  t.same(got, [], 'no callback after unsubscribe')
  ws.serverClose(1001)
  ;(await h.nextSocket()).hello()
  t.same(
    h
      .socket()
      .sentOf('subscribe')
      .map((f) => f.room_id),
    ['43'],
    'not re-subscribed after a reconnection',
  )
})

t.test('two listeners of a room: unsubscribe is sent when the last one leaves', async (t) => {
  const h = harness(t)
  const a: number[] = []
  const b: number[] = []
  const offA = h.client.subscribe('42', { onMessage: (m) => a.push(m.offset) })
  const offB = h.client.subscribe('42', { onMessage: (m) => b.push(m.offset) })
  await flush()
  const ws = h.socket()
  ws.hello()
  t.equal(ws.sentOf('subscribe').length, 1, 'one subscribe for the room')
  ws.deliver(subscribed('42', 0))
  ws.deliver(message('42', 1))
  offA()
  t.same(ws.sentOf('unsubscribe'), [])
  ws.deliver(message('42', 2))
  offB()
  t.same(ws.sentOf('unsubscribe'), [{ type: 'unsubscribe', room_id: '42' }])
  t.same([a, b], [[1], [1, 2]])
})

t.test('a throwing onMessage does not stop delivery to other rooms or listeners', async (t) => {
  const h = harness(t)
  const other: string[] = []
  h.client.subscribe('42', {
    onMessage: () => {
      throw new Error('page bug')
    },
  })
  h.client.subscribe('42', { onMessage: (m) => other.push(`42:${m.offset}`) })
  h.client.subscribe('43', { onMessage: (m) => other.push(`43:${m.offset}`) })
  h.client.on('state', () => {
    throw new Error('listener bug')
  })
  await flush()
  const ws = h.socket()
  ws.hello()
  ws.deliver(subscribed('42', 0))
  ws.deliver(subscribed('43', 0))
  ws.deliver(message('42', 1))
  ws.deliver(message('43', 1))
  ws.deliver(message('42', 2))
  t.same(other, ['42:1', '43:1', '42:2'])
  t.equal(h.client.state, 'open')
  t.same(
    h.callbackErrors.map((e) => (e as Error).message),
    ['listener bug', 'page bug', 'page bug'],
    'reported, not swallowed',
  )
})

t.test('a refused subscribe is an error event with its code and room', async (t) => {
  const h = harness(t)
  const ws = await h.connect('42')
  ws.deliver(subscribed('42', 0))
  h.client.subscribe('99', { onMessage: () => undefined })
  ws.deliver({ type: 'error', code: 'RoomLimit', message: 'at most 16 rooms', room_id: '99' })
  ws.deliver({ type: 'error', code: 'RateLimited', message: 'too many frames' })
  t.same(h.errors, [
    { code: 'RoomLimit', message: 'at most 16 rooms', room_id: '99' },
    { code: 'RateLimited', message: 'too many frames' },
  ])
  t.equal(h.client.state, 'open', 'the connection stays')
  ws.deliver({ type: 'token', exp: 2e9 })
  h.client.subscribe('99', { onMessage: () => undefined })
  t.equal(ws.sentOf('subscribe').length, 2, 'not retried on this connection')
  ws.serverClose(1001)
  const next = await h.nextSocket()
  next.hello()
  t.same(
    next.sentOf('subscribe').map((f) => f.room_id),
    ['42', '99'],
    'retried on the next connection',
  )
})

t.test('presence: members on subscribed, join and leave frames', async (t) => {
  const h = harness(t)
  const seen: unknown[] = []
  h.client.subscribe('42', {
    onMessage: () => undefined,
    presence: true,
    onSubscribed: (f) => seen.push(f.presence),
    onPresence: (ev) => seen.push([ev.event, ev.user_id]),
  })
  await flush()
  const ws = h.socket()
  ws.hello()
  t.equal(ws.sentOf('subscribe')[0]?.presence, true)
  ws.deliver(subscribed('42', 0, { presence: [{ user_id: 101, uuid: 'tab-1' }] }))
  ws.deliver({ type: 'presence', room_id: '42', event: 'join', user_id: 102, uuid: 'x' })
  ws.deliver({ type: 'presence', room_id: '42', event: 'leave', user_id: 102, uuid: 'x' })
  t.same(seen, [[{ user_id: 101, uuid: 'tab-1' }], ['join', 102], ['leave', 102]])
})

t.test('malformed and unknown frames are ignored', async (t) => {
  const { h, got, ws } = await collecting(t)
  ws.deliver(subscribed('42', 0))
  ws.deliver('not json')
  ws.deliver({ type: 'message', room_id: '42', epoch: 'e1', offset: '3', cmd: 'x' })
  ws.deliver({ type: 'from_the_future', room_id: '42' })
  ws.deliver(message('42', 1))
  t.same(got, [1])
  t.same(h.errors, [])
})

t.test('a listener asking for presence in a room joined without it subscribes again', async (t) => {
  const h = harness(t)
  const ws = await helloIn42(h)
  // Added while the first subscribe is still pending: sent once it is confirmed.
  h.client.subscribe('42', { onMessage: () => undefined, presence: true })
  t.equal(ws.sentOf('subscribe').length, 1)
  ws.deliver(subscribed('42', 7))
  t.same(ws.sentOf('subscribe')[1], {
    type: 'subscribe',
    room_id: '42',
    uuid: 'tab-1',
    since: { epoch: 'e1', offset: 7 },
    presence: true,
  })
  ws.deliver(subscribed('42', 7, { recovered: true, presence: [] }))
  h.client.subscribe('42', { onMessage: () => undefined, presence: true })
  t.equal(ws.sentOf('subscribe').length, 2, 'once is enough')
})

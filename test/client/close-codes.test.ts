import t from 'tap'
import { harness, message, subscribed } from './harness.js'

for (const code of [1008, 1009, 4000]) {
  t.test(`${code}: stop for good, an error event, no reconnection`, async (t) => {
    const h = harness(t)
    const ws = await h.connect('42')
    ws.deliver(subscribed('42', 0))
    ws.serverClose(code, 'go away')
    t.equal(h.client.state, 'closed')
    t.same(h.errors, [{ code: 'Closed', message: 'go away', close_code: code }])
    await h.tick(60 * 60_000)
    t.equal(h.sockets.length, 1, 'no new socket, even an hour later')
    t.equal(h.tokens.length, 1, 'no token refresh either')
    h.client.subscribe('43', { onMessage: () => undefined })
    t.equal(h.sockets.length, 1, 'a later subscribe does not reconnect')
    t.match(h.errors.at(-1), { code: 'Closed', room_id: '43' })
  })
}

for (const code of [1000, 1001, 1006, 1011, 4008, 4009, 4010, 4999]) {
  t.test(`${code}: reconnect after a backoff delay, resuming with since`, async (t) => {
    const h = harness(t)
    const ws = await h.connect('42')
    ws.deliver(subscribed('42', 0))
    ws.deliver(message('42', 1))
    ws.serverClose(code)
    t.equal(h.client.state, 'reconnecting')
    t.equal(h.sockets.length, 1, 'not at once')
    const next = await h.nextSocket()
    t.equal(next.openedAt - ws.openedAt, 500, 'after the jittered delay (0.5 * 1000)')
    next.hello()
    t.equal(h.client.state, 'open')
    t.same(next.sentOf('subscribe')[0]?.since, { epoch: 'e1', offset: 1 })
    t.equal(h.tokens.length, 1, 'the token still valid is reused')
    t.same(h.errors, [])
  })
}

t.test('4001: a new token first, then reconnect with it', async (t) => {
  const h = harness(t)
  const ws = await h.connect('42')
  ws.deliver(subscribed('42', 3))
  ws.serverClose(4001, 'token expired and not refreshed')
  const next = await h.nextSocket()
  t.equal(h.tokens.length, 2, 'getToken called again')
  t.equal(next.tokensAtOpen, 2, 'before the new socket was opened')
  next.hello()
  t.same(next.sentOf('subscribe'), [
    {
      type: 'subscribe',
      room_id: '42',
      token: h.tokens[1],
      uuid: 'tab-1',
      since: { epoch: 'e1', offset: 3 },
    },
  ])
  t.same(h.errors, [])
})

t.test('4001 while getToken fails: TokenUnavailable, then retried with backoff', async (t) => {
  let calls = 0
  const h = harness(t, {
    getToken: () => {
      calls += 1
      if (calls === 2) return Promise.reject(new Error('503 from /api/v1/jwt'))
      return Promise.resolve('a.e30.c')
    },
  })
  const ws = await h.connect('42')
  ws.serverClose(4001)
  await h.tick(500)
  t.equal(calls, 2)
  t.equal(h.sockets.length, 1, 'no socket without a token')
  t.match(h.errors, [{ code: 'TokenUnavailable', message: /503 from/ }])
  const next = await h.nextSocket()
  t.equal(calls, 3, 'asked again after a backoff delay')
  t.equal(next.tokensAtOpen, 0)
})

t.test('close(): code 1000, state closed, no reconnection, no more callbacks', async (t) => {
  const h = harness(t)
  const got: number[] = []
  h.client.subscribe('42', { onMessage: (m) => got.push(m.offset) })
  await h.tick(0)
  const ws = h.socket()
  ws.hello()
  ws.deliver(subscribed('42', 0))
  h.client.close()
  h.client.close()
  t.equal(h.client.state, 'closed')
  t.same(h.states, ['connecting', 'open', 'closed'], 'closed once')
  t.same(ws.closedByClient, { code: 1000, reason: 'client closed' })
  ws.deliver(message('42', 1))
  ws.serverClose(1000)
  await h.tick(60 * 60_000)
  t.same(got, [])
  t.equal(h.sockets.length, 1)
  t.equal(h.tokens.length, 1, 'the refresh timer is stopped')
})

t.test('close() while a token is being fetched opens no socket', async (t) => {
  let resolve: (token: string) => void = () => undefined
  const h = harness(t, {
    getToken: () => new Promise<string>((r) => (resolve = r)),
  })
  h.client.subscribe('42', { onMessage: () => undefined })
  h.client.close()
  resolve('a.e30.c')
  await h.tick(0)
  t.equal(h.sockets.length, 0)
  t.equal(h.client.state, 'closed')
})

t.test('a failing first connection stays "connecting" until it opens', async (t) => {
  const h = harness(t)
  h.client.subscribe('42', { onMessage: () => undefined })
  await h.tick(0)
  h.socket().serverClose(1006)
  t.equal(h.client.state, 'connecting')
  ;(await h.nextSocket()).hello()
  t.same(h.states, ['connecting', 'open'])
})

t.test('a WebSocket that cannot be created stops the client with an error', async (t) => {
  const h = harness(t, {
    WebSocket: function InvalidUrl() {
      throw new SyntaxError('invalid URL')
    } as never,
  })
  h.client.subscribe('42', { onMessage: () => undefined })
  await h.tick(0)
  t.equal(h.client.state, 'closed')
  t.match(h.errors, [{ code: 'Closed', message: /invalid URL/ }])
})

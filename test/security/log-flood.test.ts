/**
 * Logs cannot be flooded: refused requests, refused subscribes and refused sockets are
 * written as a bounded number of lines, each naming the client address (the real one
 * behind a trusted proxy) and never a token.
 */
import t from 'tap'
import { logSink } from '../helpers/logs.js'
import { startRelay } from '../helpers/relay.js'
import { kanbanRights, publishToken, subscriberToken } from '../helpers/tokens.js'
import { within } from '../helpers/wait.js'
import { maskedFrame, WRONG_KEY } from './hostile.js'

const message = { room_id: '42', cmd: 'kanban_item:move', data: {}, rights: kanbanRights() }
const REFUSALS = 200

t.test('refused publishes, subscribes and sockets: a bounded number of lines', async (t) => {
  const { lines, logger } = logSink()
  const relay = await startRelay(
    t,
    {
      publish_rate_per_minute: 100_000,
      max_unauthenticated_per_address: 2,
      max_frames_per_second: 1000,
      trusted_proxies: ['127.0.0.1'],
    },
    { logger },
  )
  const badToken = publishToken({ message }, WRONG_KEY)
  const proxied = { 'x-forwarded-for': '198.51.100.7' }
  for (let i = 0; i < REFUSALS; i++) {
    const r = await relay.post(badToken, 'application/jwt', proxied)
    if (r.status !== 401) t.fail(`publish ${i}: ${r.status}`)
  }
  const held = [await relay.connect(), await relay.connect()]
  for (let i = 0; i < 20; i++) {
    const c = relay.open()
    await within(c.closed, 5000, 'refused socket')
  }
  const forged = subscriberToken(1, ['@a'], {}, WRONG_KEY)
  for (let i = 0; i < 200; i++) held[0]!.send({ type: 'subscribe', room_id: '1', token: forged })
  for (let i = 0; i < 200; i++) await held[0]!.next()
  await relay.app.close()

  const refusals = lines.filter((l) => typeof l.msg === 'string' && /refus/.test(l.msg))
  t.ok(refusals.length > 0, 'refusals are logged')
  t.ok(refusals.length <= 8, `${refusals.length} lines for ${REFUSALS + 220} refusals`)
  const publish = refusals.filter((l) => l.endpoint === 'publish')
  t.ok(publish.length > 0)
  t.ok(
    publish.every((l) => l.address === '198.51.100.7'),
    'the client named by the trusted proxy',
  )
  t.ok(
    refusals.filter((l) => l.endpoint !== 'publish').every((l) => l.address === '127.0.0.1'),
    'WebSocket refusals name the peer',
  )
  t.match(
    refusals.find((l) => l.msg === 'refusals summarised' && l.endpoint === 'publish'),
    { reason: 'RELAY_ERR_AUTH_INVALID', count: REFUSALS },
  )
  t.match(
    refusals.find(
      (l) =>
        l.msg === 'refusals summarised' &&
        l.endpoint === 'ws' &&
        l.reason === 'RELAY_ERR_AUTH_INVALID',
    ),
    { count: 200 },
  )
  t.match(
    refusals.find((l) => l.msg === 'refusals summarised' && l.reason === 'close_4008'),
    { count: 20 },
  )
  const text = JSON.stringify(lines)
  t.notOk(text.includes(badToken.split('.')[2]!), 'no publish token')
  t.notOk(text.includes(forged.split('.')[2]!), 'no subscriber token')
})

t.test('sockets that break the framing: two lines, not one per socket', async (t) => {
  const { lines, logger } = logSink()
  const relay = await startRelay(t, { max_unauthenticated_per_address: 1000 }, { logger })
  // A text frame whose payload is not UTF-8: ws closes with 1007 and reports an error.
  const payload = Buffer.from([0x7b, 0xc3, 0x28, 0x7d])
  const SOCKETS = 50
  for (let i = 0; i < SOCKETS; i++) {
    const client = await relay.connect()
    const raw = (client.ws as unknown as { _socket: { write(b: Buffer): boolean } })._socket
    raw.write(maskedFrame(0x1, payload))
    t.equal((await within(client.closed, 5000, '1007')).code, 1007)
  }
  await relay.app.close()
  const peer = lines.filter((l) => l.address === '127.0.0.1')
  t.same(
    peer.map((l) => [l.msg, l.reason, l.count]),
    [
      ['refused', 'WS_ERR_INVALID_UTF8', undefined],
      ['refusals summarised', 'WS_ERR_INVALID_UTF8', SOCKETS],
    ],
  )
})

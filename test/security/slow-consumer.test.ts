/**
 * Subscribers that stop reading (docs/protocol.md §5.4, 4009): the relay closes each once more
 * than `slow_consumer_bytes` are queued for it, lets go of its socket within the close
 * handshake bound even if it never reads again, and the other subscribers of the same
 * room keep receiving every message promptly meanwhile.
 */
import t from 'tap'
import type { Close } from '../../src/errors.js'
import { CLOSE_HANDSHAKE_TIMEOUT_MS } from '../../src/ws/endpoint.js'
import { startRelay, type TestClient } from '../helpers/relay.js'
import { subscriberToken } from '../helpers/tokens.js'
import { until } from '../helpers/wait.js'
import { within } from './hostile.js'

const ROOM = 'firehose'
const MESSAGES = 80
const PAD = 'x'.repeat(100 * 1024)
/** Each message must reach each reading subscriber within this long of its publish. */
const PROMPT_MS = 1000

/** Resolves once `check` holds; rejects after `ms`. */

type Paused = TestClient & { socket: { pause(): void; resume(): void } }

t.test('clients that stop reading get 4009; the others get everything, promptly', async (t) => {
  const relay = await startRelay(t, { slow_consumer_bytes: 256 * 1024 })
  const { connections } = relay.app.relay
  const join = async (uuid: string): Promise<TestClient> => {
    const client = await relay.connect()
    await client.subscribe({ room_id: ROOM, token: subscriberToken(1, ['@site_active']), uuid })
    return client
  }
  const readers = [await join('reader-1'), await join('reader-2')]
  const pause = async (uuid: string): Promise<Paused> => {
    const client = await join(uuid)
    const socket = (client.ws as unknown as { _socket: Paused['socket'] })._socket
    socket.pause()
    return Object.assign(client, { socket })
  }
  // One will read again after its close, one never will.
  const [resumes, gone] = [await pause('slow-resumes'), await pause('slow-gone')]

  // Watch closes from the server side: which connection, which code, when.
  const closes: { uuid: string | null; code: number; at: number; afterMessage: number }[] = []
  const published: number[] = []
  for (const conn of connections) {
    const close = conn.close.bind(conn)
    conn.close = (c: Close, detail?: string) => {
      closes.push({ uuid: conn.uuid, code: c.code, at: Date.now(), afterMessage: published.length })
      close(c, detail)
    }
  }
  const arrivals = readers.map(() => new Map<number, number>())
  readers.forEach((reader, i) => {
    reader.ws.on('message', (data: Buffer) => {
      const frame = JSON.parse(data.toString('utf8')) as { data?: { n?: number } }
      if (typeof frame.data?.n === 'number') arrivals[i]!.set(frame.data.n, Date.now())
    })
  })

  for (let n = 0; n < MESSAGES; n++) {
    published.push(Date.now())
    const res = await relay.publish({
      message: { room_id: ROOM, cmd: 'big', data: { n, pad: PAD } },
    })
    if (res.status !== 200) t.fail(`publish ${n}: ${res.status}`)
  }
  await until('all at both readers', () => arrivals.every((a) => a.size === MESSAGES), {
    timeoutMs: 10_000,
  })
  for (const [i, a] of arrivals.entries()) {
    const delays = published.map((at, n) => a.get(n)! - at)
    const late = delays.filter((d) => d > PROMPT_MS)
    t.same(late, [], `reader ${i + 1}: all ${MESSAGES} messages, each within ${PROMPT_MS} ms`)
    t.comment(`reader ${i + 1}: worst latency ${Math.max(...delays)} ms`)
    t.equal(readers[i]!.ws.readyState, readers[i]!.ws.OPEN, `reader ${i + 1} stays open`)
  }
  t.same(
    closes.map((c) => [c.uuid, c.code]).sort(),
    [
      ['slow-gone', 4009],
      ['slow-resumes', 4009],
    ],
    'the server closed both slow ones with 4009, and only them',
  )
  t.comment(
    `closed after ${closes.map((c) => c.afterMessage).join(' and ')} of ${MESSAGES} messages`,
  )
  t.ok(
    closes.every((c) => c.afterMessage < MESSAGES),
    'closed while the publishing went on, not at the end',
  )

  resumes.socket.resume()
  t.equal(
    (await within(resumes.closed, 10_000, 'the resumed client sees its close')).code,
    4009,
    'reading again, a slow client finds the 4009 close frame behind its backlog',
  )
  const goneClosedAt = closes.find((c) => c.uuid === 'slow-gone')!.at
  await until(
    'the server lets go of the client that never reads',
    () => ![...connections].some((c) => c.uuid === 'slow-gone'),
    { timeoutMs: CLOSE_HANDSHAKE_TIMEOUT_MS + 5000 },
  )
  const held = Date.now() - goneClosedAt
  t.ok(
    held < CLOSE_HANDSHAKE_TIMEOUT_MS + 2000,
    `a client that never reads again is dropped ${held} ms after its 4009 (bound ${CLOSE_HANDSHAKE_TIMEOUT_MS} ms)`,
  )
  t.equal(connections.size, 2, 'the two readers are all the server holds')
  gone.ws.terminate()
})

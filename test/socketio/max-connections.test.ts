/**
 * `max_connections` bounds /ws connections and socket.io pages together (docs/tuleap.md):
 * a page over it has its handshake refused (403 `server full` on polling, 400 on a
 * WebSocket-only connection), a /ws client over it is closed with 4010.
 */
import t from 'tap'
import { io as io475 } from 'socket.io-client-4.7.5'
import { startRelay, type TestRelay } from '../helpers/relay.js'
import { until, within } from '../helpers/wait.js'
import { page, type Io, type Page } from './pages.js'

const connected = (p: Page): Promise<void> => until('the page connected', () => p.socket.connected)

/** The next connect_error of a page (its handshake refused). */
const connectError = (p: Page): Promise<Error> =>
  new Promise((resolve) => p.socket.once('connect_error', resolve))

/** The number of refusals counted for `reason` by /metrics. */
async function refusals(relay: TestRelay, reason: string): Promise<number> {
  const series = `tuleap_realtime_refusals_total{reason="${reason}"} `
  const line = (await relay.request('GET', '/metrics')).text
    .split('\n')
    .find((l) => l.startsWith(series))
  return line === undefined ? 0 : Number(line.slice(series.length))
}

const HANDSHAKE = '/socket.io/?EIO=4&transport=polling'

void t.test('pages count in max_connections; the next page is refused', async (t) => {
  const relay = await startRelay(t, { max_connections: 2, metrics: true })
  const polling = page(t, relay, { io: io475 as unknown as Io })
  const websocket = page(t, relay, { transports: ['websocket'] })
  await connected(polling)
  await connected(websocket)

  const handshake = await relay.request('GET', HANDSHAKE)
  t.equal(handshake.status, 403, 'a polling handshake: 403')
  t.same(handshake.body, { code: 4, message: 'server full' })
  const upgrade = relay.open({ path: '/socket.io/?EIO=4&transport=websocket' })
  await t.rejects(upgrade.opened, /Unexpected server response: 400/, 'a WebSocket-only one: 400')
  const ws = relay.open()
  t.equal((await within(ws.closed, 3000, '4010')).code, 4010, 'a /ws client: 4010')

  const third = page(t, relay, { transports: ['websocket'] })
  t.type(await connectError(third), Error, 'socket.io-client reports connect_error')
  t.notOk(third.socket.connected)
  t.equal(await refusals(relay, 'close_4010'), 4, 'each refusal counted as close_4010')

  polling.socket.close()
  await until('a place is free again', async () => {
    return (await relay.request('GET', HANDSHAKE)).status === 200
  })
  t.pass('a page that goes frees its place')
})

void t.test('/ws connections count for pages too', async (t) => {
  const relay = await startRelay(t, { max_connections: 2 })
  await relay.connect()
  const p = page(t, relay, { transports: ['websocket'] })
  await connected(p)
  const refused = page(t, relay, { io: io475 as unknown as Io })
  t.type(await connectError(refused), Error, 'one /ws + one page: the next page is refused')
  t.equal((await relay.request('GET', HANDSHAKE)).status, 403)
})

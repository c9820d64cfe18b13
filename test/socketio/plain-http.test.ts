/**
 * Deployment B of docs/tuleap.md: the relay on plain HTTP on loopback (`"tls": false`),
 * behind Tuleap's nginx, which terminates TLS and forwards `/local-socket.io`. Tuleap's
 * pages connect over plain HTTP there, and Tuleap's PHP posts unsigned JSON from localhost.
 */
import type { AddressInfo } from 'node:net'
import t from 'tap'
import { io as ioLatest } from 'socket.io-client'
import { io as io475 } from 'socket.io-client-4.7.5'
import { buildApp } from '../../src/app.js'
import { testConfig } from '../helpers/config.js'
import type { Teardown } from '../helpers/relay.js'
import { kanbanRights, subscriberToken } from '../helpers/tokens.js'
import { until } from '../helpers/wait.js'
import { page, subscription, type Io } from './pages.js'

/** The relay as docs/tuleap.md's deployment B configures it (port 0 for the test). */
async function startPlainRelay(t: Teardown) {
  const app = await buildApp(
    testConfig({
      tls: false,
      address: '127.0.0.1',
      allow_unsigned_loopback_publish: true,
    }),
    { tls: null },
  )
  await app.listen({ port: 0, host: '127.0.0.1' })
  t.teardown(() => app.close())
  const url = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`
  return {
    app,
    url,
    /** Tuleap's NodeJSClient: an unsigned JSON POST to http://localhost…/message. */
    publish: (message: Record<string, unknown>) =>
      fetch(`${url}/message`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(message),
      }),
  }
}

void t.test('the documented check: a handshake answer over plain HTTP', async (t) => {
  const relay = await startPlainRelay(t)
  const answer = await fetch(`${relay.url}/local-socket.io/?EIO=4&transport=polling`)
  t.equal(answer.status, 200)
  t.match(await answer.text(), /^0\{"sid":/)
})

const clients: [string, Io, string[]][] = [
  ['socket.io-client 4.7.5, polling first', io475 as unknown as Io, ['polling', 'websocket']],
  ['socket.io-client latest, websocket only', ioLatest, ['websocket']],
]

for (const [name, io, transports] of clients) {
  void t.test(`a Kanban page over plain HTTP (${name})`, async (t) => {
    const relay = await startPlainRelay(t)
    const p = page(t, relay, { io, transports })
    p.socket.emit('subscription', subscription(42, subscriberToken(1, ['@site_active']), 'u'))
    await until('the page subscribed', () => relay.app.relay.hub.stats().members === 1)
    const answer = await relay.publish({
      sender_user_id: 2,
      sender_uuid: null,
      room_id: 42,
      rights: kanbanRights(),
      cmd: 'kanban_item:move',
      data: { artifact_id: 7, in_column: 2 },
    })
    t.equal(answer.status, 200, 'the unsigned publish from loopback is accepted')
    t.same(await p.next('kanban_item:move'), { artifact_id: 7, in_column: 2 })
    if (transports[0] === 'polling') {
      const engine = p.socket.io.engine
      if (engine.transport.name !== 'websocket') {
        await new Promise<void>((resolve) => engine.once('upgrade', () => resolve()))
      }
      t.equal(engine.transport.name, 'websocket', 'upgraded from polling, over plain HTTP')
    }
  })
}

void t.test('a Test Management page over plain HTTP', async (t) => {
  const relay = await startPlainRelay(t)
  const p = page(t, relay, { nsp: '/testmanagement', transports: ['websocket'] })
  p.socket.emit(
    'subscription',
    subscription('testmanagement_5', subscriberToken(1, ['@site_active']), 'u'),
  )
  t.same(await p.next('presences'), {})
})

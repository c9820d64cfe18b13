/**
 * A real browser: a page of the relay's origin loads socket.io-client 4.7.5's browser
 * bundle (what Tuleap ships), subscribes as the Kanban page does, and receives a card
 * move. Skipped when /usr/bin/chromium is missing, except on CI where that is a failure.
 */
import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { chromium } from 'playwright-core'
import t from 'tap'
import { startRelay } from '../helpers/relay.js'
import { kanbanRights, subscriberToken } from '../helpers/tokens.js'
import { hubMembers, publishUnsigned } from './pages.js'

const CHROMIUM = '/usr/bin/chromium'
const BUNDLE = fileURLToPath(
  new URL('../../node_modules/socket.io-client-4.7.5/dist/socket.io.min.js', import.meta.url),
)

if (!existsSync(CHROMIUM)) {
  if (process.env.CI === 'true') t.fail(`${CHROMIUM} is missing: CI must install chromium`)
  else t.plan(0, `${CHROMIUM} is missing: apt-get install chromium to run the browser tests`)
} else {
  void t.test('Chromium, socket.io-client 4.7.5: a Kanban page receives a card move', async (t) => {
    const relay = await startRelay(t, { allow_unsigned_loopback_publish: true })
    const browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless=new', '--no-sandbox', '--disable-gpu', '--ignore-certificate-errors'],
    })
    t.teardown(() => browser.close())
    const page = await browser.newPage()
    await page.goto(`${relay.url}/health`)
    await page.addScriptTag({ path: BUNDLE })
    const token = subscriberToken(101, ['@site_active'])
    await page.evaluate((token) => {
      const w = window as unknown as {
        io: (o: object) => {
          emit(e: string, d: object): void
          on(e: string, f: (d: unknown) => void): void
        }
        moves: unknown[]
      }
      w.moves = []
      const socket = w.io({ path: '/local-socket.io', secure: true })
      socket.on('kanban_item:move', (data) => w.moves.push(data))
      socket.emit('subscription', {
        nodejs_server_version: '2.0.0',
        token,
        room_id: 42,
        uuid: 'tab',
      })
    }, token)
    await hubMembers(relay, 1)
    await publishUnsigned(relay, {
      sender_user_id: 7,
      sender_uuid: 'other-tab',
      room_id: 42,
      rights: { ...kanbanRights(), field: {} },
      cmd: 'kanban_item:move',
      data: { artifact_id: 1201, from_column: 201, in_column: 202 },
    })
    await page.waitForFunction(
      () => (window as unknown as { moves: unknown[] }).moves.length > 0,
      null,
      {
        timeout: 10_000,
      },
    )
    t.same(await page.evaluate(() => (window as unknown as { moves: unknown[] }).moves), [
      { artifact_id: 1201, from_column: 201, in_column: 202 },
    ])
  })
}

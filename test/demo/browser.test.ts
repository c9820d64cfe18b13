/**
 * The Kanban demo in a real browser: Debian's Chromium driven by playwright-core, against
 * the real relay process in development mode (its own port and folder). Skipped when
 * /usr/bin/chromium is missing, except on CI where that is a failure.
 *
 * `UPDATE_DEMO_SCREENSHOT=1 npm test` also writes docs/demo.png (two boards side by side).
 */
import { existsSync, mkdirSync, writeFileSync } from 'node:fs'
import { dirname } from 'node:path'
import { fileURLToPath } from 'node:url'
import { chromium, type Browser, type Page, type WebSocket as PageSocket } from 'playwright-core'
import t, { type Test } from 'tap'
import type { BoardView } from '../../src/demo/api-types.js'
import { RESTRICTED_CARD_ID } from '../../src/demo/board.js'
import {
  devCert,
  devDir,
  freePort,
  httpsGet,
  mainJs,
  startRelay,
  type RelayProcess,
} from './dev-relay.js'

const CHROMIUM = '/usr/bin/chromium'
const CHROMIUM_ARGS = [
  '--headless=new',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--ignore-certificate-errors',
]
const SCREENSHOT = fileURLToPath(new URL('../../docs/demo.png', import.meta.url))
/** Bound of each wait in a page. */
const PAGE_WAIT_MS = 10_000
/** How soon a move must show in another page. */
const LIVE_MS = 1000
/** How soon a page must be live again after a restart (its backoff grows to 30 s). */
const RECONNECT_MS = 45_000

/** A relay in development mode with its own folder, and how to restart it on its port. */
interface DemoRelay {
  process: RelayProcess
  readonly port: number
  readonly dir: string
  restart(): Promise<void>
  /** The board as the backend has it for `login`: column id → card ids. */
  board(login: string): Promise<[string, number[]][]>
}

async function startDemoRelay(t: Test): Promise<DemoRelay> {
  const dir = devDir(t)
  const port = await freePort()
  const relay: DemoRelay = {
    process: await startRelay(t, { port, dev: dir }),
    port,
    dir,
    async restart() {
      t.same(await relay.process.stop(), { code: 0, signal: null }, 'the relay stopped')
      relay.process = await startRelay(t, { port, dev: dir })
    },
    async board(login) {
      const answer = await httpsGet(port, `/demo/api/board?user=${login}`, devCert(dir))
      return (answer.body as unknown as BoardView).columns.map((c) => [
        String(c.id),
        c.cards.map((x) => x.id),
      ])
    },
  }
  return relay
}

/** A page of the demo, with what went wrong in it. */
interface BoardPage {
  readonly page: Page
  /** Uncaught exceptions of the page. */
  readonly errors: string[]
  /** Every WebSocket frame the page received, parsed. */
  readonly frames: Record<string, unknown>[]
}

let browserPromise: Promise<Browser> | undefined
/** One browser for the whole file, closed at its end. */
function browser(): Promise<Browser> {
  browserPromise ??= chromium.launch({
    executablePath: CHROMIUM,
    args: CHROMIUM_ARGS,
    timeout: 30_000,
  })
  return browserPromise
}

const card = (id: number): string => `.card[data-id="${id}"]`
const cardIn = (id: number, column: string | number): string =>
  `.column[data-column="${column}"] ${card(id)}`

/**
 * Open the board as `query` says (`user=alice`), in a browser context of its own, and
 * wait until it is live and subscribed (the presence line comes with `subscribed`).
 */
async function openBoard(
  t: Test,
  relay: DemoRelay,
  query: string,
  prepare?: (page: Page) => Promise<void>,
): Promise<BoardPage> {
  const context = await (
    await browser()
  ).newContext({
    ignoreHTTPSErrors: true,
    viewport: { width: 840, height: 700 },
    reducedMotion: 'no-preference',
  })
  t.teardown(() => context.close())
  context.setDefaultTimeout(PAGE_WAIT_MS)
  const page = await context.newPage()
  const result: BoardPage = { page, errors: [], frames: [] }
  page.on('pageerror', (err) => result.errors.push(err.message))
  page.on('websocket', (ws: PageSocket) => {
    ws.on('framereceived', ({ payload }) => {
      result.frames.push(JSON.parse(String(payload)) as Record<string, unknown>)
    })
  })
  await prepare?.(page)
  await page.goto(`https://127.0.0.1:${relay.port}/demo/?${query}`)
  await page.waitForSelector('#status[data-state="open"]')
  await page.waitForFunction(() => document.getElementById('presence')?.textContent !== '')
  await page.waitForSelector('#board[aria-busy="false"]')
  return result
}

/** The board a page shows: column id → card ids. */
const shown = (page: Page): Promise<[string, number[]][]> =>
  page.$$eval('.column', (columns) =>
    columns.map((c): [string, number[]] => [
      c.getAttribute('data-column') ?? '',
      Array.from(c.querySelectorAll('.card'), (e) => Number(e.getAttribute('data-id'))),
    ]),
  )

/** The activity entries of a kind, newest first. */
const activity = (page: Page, kind: string): Promise<string[]> =>
  page.$$eval(`#activity [data-kind="${kind}"]`, (items) => items.map((i) => i.textContent))

/** Wait until `selector` is in the page; how long it took, in ms. */
async function timeUntil(page: Page, selector: string, timeoutMs = PAGE_WAIT_MS): Promise<number> {
  const started = Date.now()
  await page.waitForSelector(selector, { timeout: timeoutMs })
  return Date.now() - started
}

/** The pages show what the backend has, and nothing threw in them. */
async function checkPages(t: Test, relay: DemoRelay, pages: [string, BoardPage][]): Promise<void> {
  for (const [login, p] of pages) {
    t.same(
      await shown(p.page),
      await relay.board(login),
      `${login}'s page shows the backend's board`,
    )
    t.same(p.errors, [], `no uncaught error in ${login}'s page`)
  }
}

/** Width and height of a PNG. */
function pngSize(png: Buffer): { width: number; height: number } {
  if (png.subarray(1, 4).toString('latin1') !== 'PNG') throw new Error('not a PNG')
  return { width: png.readUInt32BE(16), height: png.readUInt32BE(20) }
}

/** Two pages side by side, captioned, as one PNG. */
async function sideBySide(left: [Page, string], right: [Page, string], t: Test): Promise<Buffer> {
  const [a, b] = await Promise.all([left[0].screenshot(), right[0].screenshot()])
  // As wide as the two pages and their margins; fullPage grows it to the content's height.
  const context = await (await browser()).newContext({ viewport: { width: 1728, height: 100 } })
  t.teardown(() => context.close())
  const page = await context.newPage()
  const figure = (png: Buffer, caption: string) =>
    `<figure><figcaption>${caption}</figcaption><img src="data:image/png;base64,${png.toString('base64')}" width="840" height="700"></figure>`
  await page.setContent(
    `<style>
      html { background: #2b303b; }
      body { margin: 0; font: 600 15px system-ui, sans-serif; color: #e6e9ef; }
      main { display: flex; gap: 16px; padding: 16px 16px 20px; }
      figure { margin: 0; } figcaption { margin: 0 0 8px 4px; }
      img { display: block; border-radius: 8px; box-shadow: 0 4px 18px rgb(0 0 0 / 0.45); }
    </style><main>${figure(a, left[1])}${figure(b, right[1])}</main>`,
  )
  return page.screenshot({ fullPage: true })
}

// The file's own bound (tap's default is package.json's 180 s): four scenarios in one
// browser, one waiting out a reconnect (RECONNECT_MS), on a machine that may be loaded.
t.setTimeout(360_000)

if (!existsSync(CHROMIUM)) {
  if (process.env.CI === 'true') {
    t.fail(`${CHROMIUM} is missing: CI must install Debian's chromium (.ci/run APT_PACKAGES)`)
  } else {
    t.plan(0, `${CHROMIUM} is missing: apt-get install chromium to run the browser tests`)
  }
} else if (!existsSync(mainJs)) {
  t.fail(`${mainJs} is missing: run "npm run build" first (npm test does)`)
} else {
  t.teardown(async () => {
    if (browserPromise) await (await browserPromise).close()
  })

  t.test('two pages: a move in one appears in the other within a second', async (t) => {
    const relay = await startDemoRelay(t)
    const alice = await openBoard(t, relay, 'user=alice')
    const aliceTab2 = await openBoard(t, relay, 'user=alice')
    const bob = await openBoard(t, relay, 'user=bob')

    // Drag and drop: backlog → Review.
    await alice.page.dragAndDrop(card(1201), '.cards[data-column="202"]')
    await alice.page.waitForSelector(cardIn(1201, 202), { timeout: 1000 })
    const dragged = await timeUntil(bob.page, cardIn(1201, 202))
    t.ok(dragged < LIVE_MS, `bob's page shows the dragged card after ${dragged} ms`)
    t.ok((await timeUntil(aliceTab2.page, cardIn(1201, 202))) < LIVE_MS, "and alice's other tab")

    // A card's → button: In progress → Review.
    await bob.page.click(`${card(1202)} [data-role="right"]`)
    const clicked = await timeUntil(alice.page, cardIn(1202, 202))
    t.ok(clicked < LIVE_MS, `alice's page shows the clicked move after ${clicked} ms`)

    // The keyboard: ← on a focused card, Review → In progress.
    await bob.page.focus(card(1205))
    await bob.page.keyboard.press('ArrowLeft')
    const keyed = await timeUntil(alice.page, cardIn(1205, 201))
    t.ok(keyed < LIVE_MS, `alice's page shows the keyboard move after ${keyed} ms`)
    t.equal(
      await bob.page.evaluate(() => document.activeElement?.getAttribute('data-id')),
      '1205',
      'the moved card keeps the focus',
    )

    await aliceTab2.page.waitForSelector(cardIn(1205, 201))
    t.same((await activity(alice.page, 'move')).length, 2, "alice's page got bob's two moves")
    t.same((await activity(bob.page, 'move')).length, 1, "bob's page got alice's move, not his own")
    t.same((await activity(aliceTab2.page, 'move')).length, 3, "alice's other tab got all three")
    await checkPages(t, relay, [
      ['alice', alice],
      ['alice', aliceTab2],
      ['bob', bob],
    ])
  })

  t.test("carol never sees the restricted card's moves", async (t) => {
    const relay = await startDemoRelay(t)
    const alice = await openBoard(t, relay, 'user=alice')
    const carol = await openBoard(t, relay, 'user=carol')
    t.equal(await carol.page.locator(card(RESTRICTED_CARD_ID)).count(), 0, 'no restricted card')
    t.equal(await alice.page.locator(card(RESTRICTED_CARD_ID)).count(), 1, 'alice has it')

    await alice.page.click(`${card(RESTRICTED_CARD_ID)} [data-role="right"]`)
    await alice.page.waitForSelector(`#activity [data-kind="sent"]`)
    await alice.page.click(`${card(1201)} [data-role="right"]`)
    // Messages arrive in order: once the second move is there, the first would have been.
    const later = await timeUntil(carol.page, cardIn(1201, 201))
    t.ok(later < LIVE_MS, `carol's page shows the other move after ${later} ms`)
    t.equal(
      await carol.page.locator(card(RESTRICTED_CARD_ID)).count(),
      0,
      'still no restricted card',
    )
    t.same(await activity(carol.page, 'move'), [
      await carol.page.textContent('#activity [data-kind="move"]'),
    ])
    t.match((await activity(carol.page, 'move'))[0], 'Write the release notes')
    const moves = carol.frames.filter((f) => f.type === 'message')
    t.same(
      moves.map((f) => (f.data as { artifact_id: number }).artifact_id),
      [1201],
      'her socket received the one move she may see',
    )
    t.same(await activity(carol.page, 'resync'), [], 'no reload was needed')
    await checkPages(t, relay, [
      ['alice', alice],
      ['carol', carol],
    ])

    await alice.page.mouse.move(0, 0) // no hover effect in the picture
    const png = await sideBySide(
      [alice.page, 'Alice (Security team) moved two cards…'],
      [carol.page, '…Carol saw one of them: the restricted card does not exist for her'],
      t,
    )
    const size = pngSize(png)
    t.ok(
      size.width === 1728 && size.height > 700,
      `a side-by-side screenshot (${size.width}×${size.height})`,
    )
    if (process.env.UPDATE_DEMO_SCREENSHOT === '1') {
      mkdirSync(dirname(SCREENSHOT), { recursive: true })
      writeFileSync(SCREENSHOT, png)
      t.comment(`wrote ${SCREENSHOT}`)
    }
  })

  t.test('the relay restarts while a move is published: the pages end right', async (t) => {
    const relay = await startDemoRelay(t)
    const alice = await openBoard(t, relay, 'user=alice')
    const bob = await openBoard(t, relay, 'user=bob')
    await alice.page.click(`${card(1201)} [data-role="right"]`)
    await bob.page.waitForSelector(cardIn(1201, 201))

    const down = Date.now()
    await relay.restart()
    t.comment(`the relay was down for ${Date.now() - down} ms`)
    // Alice moves at once, while the pages are still reconnecting (the move's publish is
    // accepted by the new process: its answer is logged as "You moved").
    await alice.page.click(`${card(1204)} [data-role="right"]`)
    await alice.page.waitForFunction(
      () =>
        document.querySelectorAll('#activity [data-kind="sent"]').length === 2 ||
        document.querySelector('#activity [data-kind="error"]') !== null,
    )
    t.same(await activity(alice.page, 'error'), [], 'the move was taken')
    const bobState = await bob.page.getAttribute('#status', 'data-state')
    t.comment(`bob's page was "${bobState ?? ''}" when the move was published`)

    for (const [login, p] of [
      ['alice', alice],
      ['bob', bob],
    ] as const) {
      // The client's backoff decides when it is back: after an outage of D seconds, the
      // next delay is drawn below the first power of 2 above about D (full jitter).
      await timeUntil(p.page, '#status[data-state="open"]', RECONNECT_MS)
      t.comment(`${login}'s page was live again ${Date.now() - down} ms after the stop`)
      await p.page.waitForSelector(cardIn(1204, 201))
      await p.page.waitForSelector(cardIn(1201, 201))
      const states = await p.page.$$eval('#activity [data-kind="state"]', (l) =>
        l.map((i) => i.textContent),
      )
      t.ok(
        states.some((s) => s.includes('reconnecting')),
        `${login}'s page saw the connection drop`,
      )
    }
    const bobResynced = (await activity(bob.page, 'resync')).length > 0
    const bobReceived = (await activity(bob.page, 'move')).some((m) => m.includes('Translate'))
    t.ok(bobResynced || bobReceived, "bob's page received the move or reloaded the board")
    t.comment(
      `bob's page: ${bobResynced ? 'reloaded on resync' : ''}${bobReceived ? ' received it live' : ''}`,
    )
    await checkPages(t, relay, [
      ['alice', alice],
      ['bob', bob],
    ])
    t.same(
      (await relay.board('bob'))[1],
      ['201', [1202, RESTRICTED_CARD_ID, 1201, 1204]],
      'the moves before and after the restart are both there',
    )
  })

  t.test('a token that expires is refreshed without losing a move', async (t) => {
    const relay = await startDemoRelay(t)
    let calls = 0
    let refreshAsked: () => void = () => undefined
    const refreshRequested = new Promise<void>((resolve) => (refreshAsked = resolve))
    let release: () => void = () => undefined
    const released = new Promise<void>((resolve) => {
      release = resolve
      setTimeout(resolve, PAGE_WAIT_MS).unref() // never hold a request for ever
    })
    // token_ttl=-25: each token is one the relay takes for about 5 s (30 s clock tolerance).
    const alice = await openBoard(t, relay, 'user=alice&token_ttl=-25', async (page) => {
      await page.route('**/demo/api/token?*', async (route) => {
        calls += 1
        if (calls === 2) {
          refreshAsked()
          await released // hold the refresh until a move was published meanwhile
        }
        await route.continue()
      })
    })
    const bob = await openBoard(t, relay, 'user=bob')

    const waited = Date.now()
    await Promise.race([
      refreshRequested,
      new Promise((_resolve, reject) =>
        setTimeout(() => reject(new Error('no token refresh within 15 s')), 15_000).unref(),
      ),
    ])
    t.comment(`the relay expired alice's token ${Date.now() - waited} ms after she subscribed`)
    t.ok(
      alice.frames.some((f) => f.type === 'error' && f.code === 'JWTExpired'),
      'the relay said JWTExpired',
    )

    await bob.page.click(`${card(1202)} [data-role="right"]`)
    await bob.page.waitForSelector('#activity [data-kind="sent"]')
    await alice.page.waitForTimeout(300)
    t.equal(
      await alice.page.locator(cardIn(1202, 202)).count(),
      0,
      'not delivered while the token is expired',
    )
    release()
    const caughtUp = await timeUntil(alice.page, cardIn(1202, 202), 5000)
    t.comment(`delivered ${caughtUp} ms after the refresh was let through`)
    t.ok(
      alice.frames.some((f) => f.type === 'token'),
      'the relay took the new token',
    )
    t.ok((await activity(alice.page, 'token')).length >= 2, 'the page fetched a second token')
    t.same(await activity(alice.page, 'resync'), [], 'no reload: the move itself was replayed')
    t.same(await activity(alice.page, 'error'), [], 'no error shown')
    t.match(await activity(alice.page, 'move'), [/Resume after a relay restart/])
    await checkPages(t, relay, [
      ['alice', alice],
      ['bob', bob],
    ])
  })
}

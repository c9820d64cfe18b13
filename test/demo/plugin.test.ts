/**
 * The demo backend in process, over real TLS with real `ws` clients: its tokens open
 * subscriptions, its moves reach the relay as signed `POST /message` requests over HTTPS
 * in Tuleap's shape, and rights and sender exclusion apply to them like to any backend's.
 */
import { existsSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { request as httpsRequest } from 'node:https'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import { WebSocket } from 'ws'
import { buildApp } from '../../src/app.js'
import { RESTRICTED_CARD_ID } from '../../src/demo/board.js'
import { demoPlugin, type DemoOptions } from '../../src/demo/plugin.js'
import { projectRoot } from '../../src/dev-defaults.js'
import { testCert } from '../helpers/certs.js'
import { TEST_KEY, testConfig } from '../helpers/config.js'
import { TestClient, type Frame } from '../helpers/relay.js'

interface Answer {
  readonly status: number
  readonly headers: Record<string, unknown>
  readonly text: string
  readonly json: Record<string, unknown>
}

interface Demo {
  readonly port: number
  /** Every request the relay's HTTPS server received for /message: method, type, peer. */
  readonly publishes: { method: string; type: string; peer: string }[]
  request(
    method: string,
    path: string,
    body?: unknown,
    headers?: Record<string, string>,
  ): Promise<Answer>
  /** A `ws` client of user `login`, with a demo token, subscribed to the board's room. */
  viewer(login: string, uuid: string): Promise<TestClient>
  close(): Promise<void>
}

function tempDir(t: Test): string {
  const dir = mkdtempSync(join(tmpdir(), 'tuleap-realtime-demo-'))
  t.teardown(() => {
    rmSync(dir, { recursive: true, force: true })
  })
  return dir
}

/** The relay with the demo registered, as main.ts does in development mode; port 0. */
async function startDemo(t: Test, options: Partial<DemoOptions> = {}): Promise<Demo> {
  const cert = testCert()
  const app = await buildApp(testConfig(), { tls: { cert: cert.cert, key: cert.key } })
  await app.register(demoPlugin, { key: TEST_KEY, ca: cert.cert, root: projectRoot(), ...options })
  const publishes: Demo['publishes'] = []
  app.server.on('request', (req: import('node:http').IncomingMessage) => {
    if (req.url === '/message') {
      publishes.push({
        method: req.method ?? '',
        type: req.headers['content-type'] ?? '',
        peer: req.socket.remoteAddress ?? '',
      })
    }
  })
  await app.listen({ port: 0, host: '127.0.0.1' })
  const port = (app.server.address() as AddressInfo).port
  const clients: TestClient[] = []
  let closed = false
  const close = async () => {
    if (closed) return
    closed = true
    for (const c of clients) c.ws.terminate()
    await app.close()
  }
  t.teardown(close)

  const request: Demo['request'] = (method, path, body, headers = {}) =>
    new Promise((resolve, reject) => {
      const payload =
        body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body)
      const req = httpsRequest(
        {
          host: '127.0.0.1',
          port,
          path,
          method,
          ca: cert.cert,
          agent: false,
          headers:
            payload === undefined ? headers : { 'content-type': 'application/json', ...headers },
        },
        (res) => {
          let text = ''
          res.setEncoding('utf8')
          res.on('data', (chunk: string) => (text += chunk))
          res.on('end', () => {
            let json: Record<string, unknown> = {}
            try {
              json = JSON.parse(text) as Record<string, unknown>
            } catch {
              // not JSON
            }
            resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json })
          })
        },
      )
      req.on('error', reject)
      req.end(payload)
    })

  return {
    port,
    publishes,
    request,
    close,
    async viewer(login, uuid) {
      const { json } = await request('GET', `/demo/api/token?user=${login}`)
      const client = new TestClient(new WebSocket(`wss://127.0.0.1:${port}/ws`, { ca: cert.cert }))
      clients.push(client)
      await client.opened
      t.match(await client.next(), { type: 'hello' })
      t.match(await client.subscribe({ room_id: '42', token: json.token, uuid }), {
        type: 'subscribed',
        room_id: '42',
      })
      return client
    },
  }
}

/** The `data` of the `kanban_item:move` messages `client` received, in order. */
async function moves(client: TestClient, count: number): Promise<Frame[]> {
  const frames: Frame[] = []
  for (let i = 0; i < count; i++) frames.push(await client.next())
  for (const f of frames)
    if (f.type !== 'message') throw new Error(`not a message: ${JSON.stringify(f)}`)
  return frames
}

const move = (demo: Demo, login: string, body: unknown, uuid?: string) =>
  demo.request(
    'POST',
    `/demo/api/move?user=${login}`,
    body,
    uuid === undefined ? {} : { 'x-client-uuid': uuid },
  )

t.test('moves go to POST /message over HTTPS; rights and sender exclusion apply', async (t) => {
  const demo = await startDemo(t)
  const alice1 = await demo.viewer('alice', 'alice-1')
  const alice2 = await demo.viewer('alice', 'alice-2')
  const carol = await demo.viewer('carol', 'carol-1')
  /** A move on the demo, which must be answered 200. */
  const moveOk = async (login: string, body: unknown, uuid?: string) => {
    const answer = await move(demo, login, body, uuid)
    t.equal(answer.status, 200, answer.text)
    return answer
  }

  const m1 = await moveOk('alice', { artifact_id: 1201, in_column: 201, before: null }, 'alice-1')
  const data1 = {
    artifact_id: 1201,
    in_column: 201,
    from_column: 'backlog',
    ordered_destination_column_items_ids: [1202, RESTRICTED_CARD_ID, 1201],
  }
  t.same(m1.json, { move: data1, relay_status: 200 })
  // bob, without X-Client-UUID, moves the restricted card before 1202.
  await moveOk('bob', { artifact_id: RESTRICTED_CARD_ID, in_column: 202, before: 1205 })
  await moveOk('carol', { artifact_id: 1204, in_column: 'archive', before: 1207 }, 'carol-1')
  await moveOk('alice', { artifact_id: 1206, in_column: 202, before: null }, 'alice-9')

  t.same(
    demo.publishes,
    Array.from({ length: 4 }, () => ({
      method: 'POST',
      type: 'application/jwt',
      peer: '127.0.0.1',
    })),
    'four signed requests reached the relay over its HTTPS port',
  )

  const all = await moves(alice2, 4)
  t.same(
    all.map((f) => f.offset),
    [1, 2, 3, 4],
    'the other tab of the mover gets every move, in order',
  )
  t.match(all[0], { room_id: '42', cmd: 'kanban_item:move', data: data1 })
  t.same(all[1]!.data, {
    artifact_id: RESTRICTED_CARD_ID,
    in_column: 202,
    from_column: 201,
    ordered_destination_column_items_ids: [RESTRICTED_CARD_ID, 1205],
  })
  t.same(all[2]!.data, {
    artifact_id: 1204,
    in_column: 'archive',
    from_column: 'backlog',
    ordered_destination_column_items_ids: [1204, 1207],
  })
  t.same(
    (await moves(alice1, 3)).map((f) => f.offset),
    [2, 3, 4],
    'the moving tab does not get its own move',
  )
  const carolMoves = await moves(carol, 2)
  t.same(
    carolMoves.map((f) => f.offset),
    [1, 4],
    'carol gets neither the restricted card nor her own move',
  )
  t.ok(await carol.silentFor(200), 'and nothing else')

  const carolBoard = await demo.request('GET', '/demo/api/board?user=carol')
  const cards = (carolBoard.json.columns as { cards: { id: number }[] }[]).flatMap((c) =>
    c.cards.map((card) => card.id),
  )
  t.notOk(cards.includes(RESTRICTED_CARD_ID), 'carol does not see the restricted card')
  t.equal(cards.length, 6)
  const aliceBoard = await demo.request('GET', '/demo/api/board?user=alice')
  t.same(
    (aliceBoard.json.columns as { id: unknown; cards: { id: number }[] }[]).map((c) => [
      c.id,
      c.cards.map((card) => card.id),
    ]),
    [
      ['backlog', []],
      [201, [1202, 1201]],
      [202, [RESTRICTED_CARD_ID, 1205, 1206]],
      ['archive', [1204, 1207]],
    ],
    'the board reflects every move',
  )
  t.match(aliceBoard.json.user, {
    id: 101,
    login: 'alice',
    groups: ['Project members', 'Security team'],
  })
})

t.test('tokens: Tuleap-shaped subscriber claims, lifetime bounded', async (t) => {
  const demo = await startDemo(t)
  const claims = (token: unknown) =>
    JSON.parse(Buffer.from(String(token).split('.')[1] ?? '', 'base64url').toString()) as {
      exp: number
      data: unknown
    }
  const header = (token: unknown) =>
    JSON.parse(Buffer.from(String(token).split('.')[0] ?? '', 'base64url').toString()) as unknown
  const now = Math.floor(Date.now() / 1000)

  const carol = await demo.request('GET', '/demo/api/token?user=carol')
  t.equal(carol.status, 200)
  t.match(header(carol.json.token), { alg: 'HS512' })
  t.same(claims(carol.json.token).data, {
    user_id: 103,
    user_rights: ['@site_active', '@gpig_project_members'],
  })
  t.ok(Math.abs(claims(carol.json.token).exp - (now + 1800)) <= 2, 'valid 30 minutes by default')
  t.equal(carol.json.exp, claims(carol.json.token).exp)
  t.equal(carol.headers['cache-control'], 'no-store')

  const short = await demo.request('GET', '/demo/api/token?user=alice&ttl=-25')
  t.equal(short.status, 200)
  t.ok(Math.abs(claims(short.json.token).exp - (now - 25)) <= 2, 'ttl=-25: exp 25 s ago')
  for (const ttl of ['-30', '1801', 'abc', '1.5', '']) {
    const refused = await demo.request('GET', `/demo/api/token?user=alice&ttl=${ttl}`)
    t.equal(refused.status, 400, `ttl=${ttl}`)
    t.match(refused.json, { error: { code: 400, message: /ttl must be an integer/ } })
  }
  for (const user of ['dave', '', 'ALICE']) {
    const refused = await demo.request('GET', `/demo/api/token?user=${user}`)
    t.equal(refused.status, 404, `user=${user}`)
  }
  t.equal((await demo.request('GET', '/demo/api/token')).status, 404, 'no user')
})

t.test('moves refused, and nothing published', async (t) => {
  const demo = await startDemo(t)
  const cases: [string, string, unknown, number][] = [
    [
      'carol cannot move a card she may not see',
      'carol',
      { artifact_id: RESTRICTED_CARD_ID, in_column: 202, before: null },
      404,
    ],
    ['an unknown card', 'alice', { artifact_id: 9999, in_column: 202, before: null }, 404],
    ['an unknown column', 'alice', { artifact_id: 1201, in_column: 999, before: null }, 400],
    [
      'a column given as a string id',
      'alice',
      { artifact_id: 1201, in_column: '201', before: null },
      400,
    ],
    ['no before', 'alice', { artifact_id: 1201, in_column: 201 }, 400],
    ['artifact_id a string', 'alice', { artifact_id: '1201', in_column: 201, before: null }, 400],
    ['an unknown user', 'mallory', { artifact_id: 1201, in_column: 201, before: null }, 404],
    ['not JSON', 'alice', 'nope', 400],
    [
      'too large',
      'alice',
      { artifact_id: 1201, in_column: 201, before: null, pad: 'x'.repeat(2000) },
      413,
    ],
  ]
  for (const [name, user, body, status] of cases) {
    const answer = await move(demo, user, body)
    t.equal(answer.status, status, `${name}: ${answer.text}`)
    t.match(
      answer.json,
      { error: { code: status, message: String } },
      `${name}: Tuleap's error shape`,
    )
  }
  t.same(demo.publishes, [], 'nothing was published')
})

t.test('the page, its scripts and nothing else', async (t) => {
  const demo = await startDemo(t)
  const redirect = await demo.request('GET', '/demo')
  t.equal(redirect.status, 302)
  t.equal(redirect.headers.location, '/demo/')
  const page = await demo.request('GET', '/demo/')
  t.equal(page.status, 200)
  t.match(page.headers['content-security-policy'], "default-src 'self'")
  t.equal(page.headers['x-content-type-options'], 'nosniff')
  for (const path of [
    '/demo/board.css',
    '/demo/assets/client/index.js',
    '/demo/assets/demo/browser/main.js',
  ]) {
    t.equal((await demo.request('GET', path)).status, 200, path)
  }
  for (const path of [
    '/demo/assets/../../package.json',
    '/demo/assets/demo/board.js',
    '/demo/assets/demo/browser/main.d.ts',
    '/demo/assets/cli/token.js',
    '/demo/assets/demo/browser/%2e%2e/plugin.js',
    '/demo/public/index.html',
    '/demo/index.html',
  ]) {
    t.equal((await demo.request('GET', path)).status, 404, path)
  }
})

t.test('the board survives a restart through its file', async (t) => {
  const dir = tempDir(t)
  const stateFile = join(dir, 'demo-board.json')
  const first = await startDemo(t, { stateFile })
  t.equal(
    (await move(first, 'alice', { artifact_id: 1207, in_column: 'backlog', before: 1201 })).status,
    200,
  )
  await first.close()
  const second = await startDemo(t, { stateFile })
  const board = await second.request('GET', '/demo/api/board?user=alice')
  t.same(
    (board.json.columns as { cards: { id: number }[] }[])[0]!.cards.map((c) => c.id),
    [1207, 1201, 1204, 1206],
  )
  await second.close()

  writeFileSync(stateFile, '{"backlog":[1201,1201]}')
  const third = await startDemo(t, { stateFile })
  const reset = await third.request('GET', '/demo/api/board?user=alice')
  t.same(
    (reset.json.columns as { cards: { id: number }[] }[])[0]!.cards.map((c) => c.id),
    [1201, 1204, 1206],
    'a file that does not fit the cards is ignored',
  )
  await third.close()

  const link = join(dir, 'link.json')
  symlinkSync(join(dir, 'elsewhere.json'), link)
  const fourth = await startDemo(t, { stateFile: link })
  t.equal(
    (await move(fourth, 'alice', { artifact_id: 1207, in_column: 'backlog', before: null })).status,
    200,
  )
  t.notOk(existsSync(join(dir, 'elsewhere.json')), 'a symbolic link is not followed')
})

t.test('a publish the relay refuses is reported, not hidden', async (t) => {
  const demo = await startDemo(t, { key: `${TEST_KEY}-not-the-relay-key` })
  const answer = await move(demo, 'alice', { artifact_id: 1201, in_column: 201, before: null })
  t.equal(answer.status, 200)
  t.match(answer.json, { relay_status: 401 })
})

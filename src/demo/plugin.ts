/**
 * The Kanban demo of development mode (main.ts registers it only without --config):
 * the page, its scripts and style, and a small backend standing in for Tuleap's PHP. The
 * backend issues subscriber tokens for the demo users, keeps the board, and publishes
 * every move to the relay's `POST /message` over HTTPS with the shared key.
 *
 * Files: `src/demo/public/` (HTML, CSS) as they are; the page's scripts are TypeScript
 * (`src/demo/browser/`) compiled by `npm run build` into `dist/src/demo/browser/`, next
 * to the client library (`dist/src/client/`), and served from `/demo/assets/` with the
 * same relative layout, so their `import … from '../../client/index.js'` works unchanged.
 * Everything is read once here, before privileges are dropped.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import type { AddressInfo } from 'node:net'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { signSubscriberToken } from '../auth/sign.js'
import { projectRoot } from '../dev-defaults.js'
import type { ColumnId, ErrorAnswer, MoveAnswer, MoveRequest, TokenAnswer } from './api-types.js'
import { BoardStore } from './board-store.js'
import { DemoBoard, DemoError, findUser, KANBAN_ID, type DemoUser } from './board.js'
import { reachableHost, RelayPublisher } from './relay-publisher.js'

/** Where the page is. */
export const DEMO_PATH = '/demo/'

/** What the demo needs from the process. */
export interface DemoOptions {
  /** The shared key: signs the subscriber tokens and the publish tokens. */
  readonly key: string
  /** The relay's certificate (trusted when publishing to it); null: plain HTTP. */
  readonly ca: Buffer | null
  /** The JSON file keeping the board across restarts; null or absent: memory only. */
  readonly stateFile?: string | null
  /** The project root (`src/demo/public/`, `dist/src/`). Default: {@link projectRoot}. */
  readonly root?: string
  /** Lifetime of the publish tokens, in seconds. Default 60. */
  readonly publishTokenTtlS?: number
}

/** Subscriber token lifetime, as Tuleap's `GET /api/v1/jwt`: 30 minutes. */
export const DEFAULT_TOKEN_TTL_S = 1800
/**
 * The shortest `ttl` the token endpoint takes: a token whose `exp` is 29 s ago, which the
 * relay still accepts for 1 s (its clock tolerance is 30 s). The page passes its
 * `token_ttl` parameter here, to watch tokens expire and get refreshed.
 */
export const MIN_TOKEN_TTL_S = -29

interface Asset {
  readonly type: string
  readonly body: Buffer
}

const TYPES: Record<string, string> = {
  html: 'text/html; charset=utf-8',
  css: 'text/css; charset=utf-8',
  js: 'text/javascript; charset=utf-8',
  map: 'application/json; charset=utf-8',
}

/** Same-origin everything: the page loads nothing from elsewhere and runs no inline script. */
const PAGE_HEADERS = {
  'content-security-policy':
    "default-src 'self'; connect-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-store',
}

function asset(file: string): Asset | null {
  if (!existsSync(file)) return null
  const ext = file.slice(file.lastIndexOf('.') + 1)
  return { type: TYPES[ext] ?? 'application/octet-stream', body: readFileSync(file) }
}

/** The page's files by URL path below /demo/, read once. */
function readAssets(root: string): Map<string, Asset> {
  const assets = new Map<string, Asset>()
  for (const name of ['index.html', 'board.css']) {
    const found = asset(join(root, 'src/demo/public', name))
    if (found) assets.set(name === 'index.html' ? '' : name, found)
  }
  for (const dir of ['client', 'demo/browser']) {
    const folder = join(root, 'dist/src', dir)
    if (!existsSync(folder)) continue
    for (const name of readdirSync(folder)) {
      if (!/^[a-z0-9-]+\.js(\.map)?$/.test(name)) continue
      const found = asset(join(folder, name))
      if (found) assets.set(`assets/${dir}/${name}`, found)
    }
  }
  return assets
}

function fail(reply: FastifyReply, status: number, message: string): FastifyReply {
  const body: ErrorAnswer = { error: { code: status, message } }
  return reply.code(status).header('cache-control', 'no-store').send(body)
}

function userOf(request: FastifyRequest): DemoUser {
  const login = (request.query as Record<string, unknown>).user
  const user = findUser(login)
  if (!user) throw new DemoError(404, `no demo user ${JSON.stringify(login ?? null)}`)
  return user
}

function tokenTtl(request: FastifyRequest): number {
  const raw = (request.query as Record<string, unknown>).ttl
  if (raw === undefined) return DEFAULT_TOKEN_TTL_S
  const ttl = typeof raw === 'string' && /^-?\d{1,5}$/.test(raw) ? Number(raw) : NaN
  if (!(ttl >= MIN_TOKEN_TTL_S && ttl <= DEFAULT_TOKEN_TTL_S)) {
    throw new DemoError(
      400,
      `ttl must be an integer from ${MIN_TOKEN_TTL_S} to ${DEFAULT_TOKEN_TTL_S}`,
    )
  }
  return ttl
}

const isColumnId = (v: unknown): v is ColumnId =>
  v === 'backlog' || v === 'archive' || (typeof v === 'number' && Number.isSafeInteger(v))

function moveRequest(body: unknown): MoveRequest {
  const b = (typeof body === 'object' && body !== null ? body : {}) as Record<string, unknown>
  const { artifact_id: id, in_column: column, before } = b
  if (typeof id !== 'number' || !Number.isSafeInteger(id)) {
    throw new DemoError(400, 'artifact_id must be an integer')
  }
  if (!isColumnId(column))
    throw new DemoError(400, 'in_column must be "backlog", "archive" or an id')
  if (before !== null && !(typeof before === 'number' && Number.isSafeInteger(before))) {
    throw new DemoError(400, 'before must be an integer or null')
  }
  return { artifact_id: id, in_column: column, before }
}

/** The tab's `X-Client-UUID` (docs/protocol.md §2 `sender_uuid`), or null. */
function clientUuid(request: FastifyRequest): string | null {
  const value = request.headers['x-client-uuid']
  return typeof value === 'string' && /^[\x21-\x7e]{1,128}$/.test(value) ? value : null
}

/** Register the demo's routes below /demo/. */
export async function demoPlugin(app: FastifyInstance, opts: DemoOptions): Promise<void> {
  const assets = readAssets(opts.root ?? projectRoot())
  if (!assets.has('assets/demo/browser/main.js')) {
    app.log.warn('demo: dist/src/demo/browser/main.js is missing: run "npm run build"')
  }
  const store = new BoardStore(opts.stateFile ?? null, app.log)
  const board = new DemoBoard(store.load() ?? undefined)
  const publisher = new RelayPublisher({
    key: opts.key,
    ca: opts.ca,
    tokenTtlS: opts.publishTokenTtlS ?? 60,
    timeoutMs: 5000,
    address: () => {
      const address = app.server.address() as AddressInfo
      return { host: reachableHost(address.address), port: address.port }
    },
  })
  app.addHook('onClose', async () => {
    store.close()
  })
  app.setErrorHandler((err: Error & { statusCode?: number }, _request, reply) => {
    if (err instanceof DemoError) return fail(reply, err.status, err.message)
    const status = err.statusCode ?? 500
    if (status >= 500) app.log.error({ err }, 'demo: request failed')
    return fail(reply, status, status >= 500 ? 'internal error' : err.message)
  })

  app.get('/demo', async (_request, reply) => reply.redirect(DEMO_PATH, 302))
  app.get('/demo/*', async (request, reply) => {
    const path = (request.params as { '*': string })['*']
    const found = assets.get(path)
    if (!found) return fail(reply, 404, `no demo file ${JSON.stringify(path)}`)
    return reply.headers(PAGE_HEADERS).type(found.type).send(found.body)
  })

  app.get('/demo/api/board', async (request, reply) => {
    reply.header('cache-control', 'no-store')
    return board.view(userOf(request))
  })

  app.get('/demo/api/token', async (request, reply) => {
    const user = userOf(request)
    const ttl = tokenTtl(request)
    const token = signSubscriberToken(user.id, user.groups, ttl, opts.key)
    const answer: TokenAnswer = { token, exp: Math.floor(Date.now() / 1000) + ttl }
    return reply.header('cache-control', 'no-store').send(answer)
  })

  app.post('/demo/api/move', { bodyLimit: 1024 }, async (request, reply) => {
    const user = userOf(request)
    const move = moveRequest(request.body)
    const { data, rights } = board.move(user, move.artifact_id, move.in_column, move.before)
    store.save(board.snapshot())
    // Tuleap's message for a moved Kanban item (docs/protocol.md §2).
    const outcome = await publisher.publish({
      room_id: String(KANBAN_ID),
      cmd: 'kanban_item:move',
      data,
      rights,
      sender_user_id: user.id,
      sender_uuid: clientUuid(request),
    })
    if (outcome.status !== 200) {
      app.log.warn(
        { status: outcome.status, answer: outcome.body },
        'demo: publishing a move failed',
      )
    }
    const answer: MoveAnswer = { move: data, relay_status: outcome.status }
    return reply.header('cache-control', 'no-store').send(answer)
  })
}

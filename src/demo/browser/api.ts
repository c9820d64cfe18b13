/** The page's calls to the demo backend (the stand-in for Tuleap's REST API). */
import type { BoardView, ErrorAnswer, MoveAnswer, MoveRequest, TokenAnswer } from '../api-types.js'

/** Bound of every request. */
const TIMEOUT_MS = 5000

async function call<T>(url: string, init: RequestInit = {}): Promise<T> {
  const res = await fetch(url, {
    ...init,
    cache: 'no-store',
    signal: AbortSignal.timeout(TIMEOUT_MS),
  })
  const body: unknown = await res.json().catch(() => null)
  if (!res.ok) {
    const message = (body as Partial<ErrorAnswer> | null)?.error?.message ?? res.statusText
    throw new Error(`${url.split('?')[0] ?? url}: ${res.status} ${message}`)
  }
  return body as T
}

/** The demo backend, as one user of one tab. */
export class DemoApi {
  private readonly user: string

  /** `tokenTtl`: the page's `token_ttl` parameter, passed on to the token endpoint. */
  constructor(
    readonly login: string,
    private readonly tokenTtl: string | null,
  ) {
    this.user = `user=${encodeURIComponent(login)}`
  }

  /** The board as this user may see it. */
  board(): Promise<BoardView> {
    return call(`/demo/api/board?${this.user}`)
  }

  /** A subscriber token, like Tuleap's `GET /api/v1/jwt`. */
  token(): Promise<TokenAnswer> {
    const ttl = this.tokenTtl === null ? '' : `&ttl=${encodeURIComponent(this.tokenTtl)}`
    return call(`/demo/api/token?${this.user}${ttl}`)
  }

  /** Move a card; `uuid` is this tab's id (Tuleap's `X-Client-UUID`). */
  move(move: MoveRequest, uuid: string): Promise<MoveAnswer> {
    return call(`/demo/api/move?${this.user}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-client-uuid': uuid },
      body: JSON.stringify(move),
    })
  }
}

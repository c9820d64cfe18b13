/**
 * The subscriber token on the browser side: where it comes from (`getToken`), when it
 * expires and when to refresh it. The token is never verified here (the relay does it);
 * its payload is only read for `exp`.
 */
import type { ClientClock } from './options.js'

/** Never schedule a refresh sooner than this, whatever the token says (clock skew guard). */
export const MIN_REFRESH_DELAY_MS = 30_000

/** The longest delay timers honour; a longer one fires at once in browsers and Node. */
export const MAX_TIMER_DELAY_MS = 2 ** 31 - 1

function base64UrlDecode(part: string): string {
  const base64 = part.replace(/-/g, '+').replace(/_/g, '/')
  const binary = atob(base64 + '='.repeat((4 - (base64.length % 4)) % 4))
  return new TextDecoder().decode(Uint8Array.from(binary, (c) => c.charCodeAt(0)))
}

/** The `exp` claim (seconds since the epoch) of a compact JWS, or null when unreadable. */
export function decodeTokenExp(token: string): number | null {
  const payload = token.split('.')[1]
  if (payload === undefined || payload === '') return null
  try {
    const claims: unknown = JSON.parse(base64UrlDecode(payload))
    if (typeof claims !== 'object' || claims === null) return null
    const exp = (claims as { exp?: unknown }).exp
    return typeof exp === 'number' && Number.isFinite(exp) ? exp : null
  } catch {
    return null
  }
}

/**
 * When to refresh a token that expires at `expMs`: `refreshBeforeMs` ahead of expiry, or
 * halfway through what is left for a token shorter than twice that, never sooner than
 * {@link MIN_REFRESH_DELAY_MS} and never beyond {@link MAX_TIMER_DELAY_MS} (about 24.8 days).
 */
export function refreshDelay(expMs: number, nowMs: number, refreshBeforeMs: number): number {
  const left = expMs - nowMs
  const delay = left > 2 * refreshBeforeMs ? left - refreshBeforeMs : left / 2
  return Math.min(MAX_TIMER_DELAY_MS, Math.max(MIN_REFRESH_DELAY_MS, Math.floor(delay)))
}

/**
 * Holds the current token, calls `getToken` at most once at a time (concurrent callers
 * of `fetch()` share the answer) and, after each token obtained, arms one timer that
 * calls `onRefreshDue` {@link refreshDelay} later.
 */
export class TokenSource {
  private current: string | null = null
  private expiresAtMs: number | null = null
  private inflight: Promise<string> | null = null
  private refreshTimer: unknown = undefined
  private stopped = false

  constructor(
    private readonly getToken: () => Promise<string> | string,
    private readonly clock: ClientClock,
    private readonly refreshBeforeMs: number,
    private readonly onRefreshDue: () => void,
  ) {}

  /** The last token obtained, if any. */
  get token(): string | null {
    return this.current
  }

  /** Its expiry in ms since the epoch, when its payload says. */
  get expMs(): number | null {
    return this.expiresAtMs
  }

  /** Whether the current token can still be presented for at least `marginMs`. */
  usable(marginMs: number): boolean {
    if (this.current === null) return false
    return this.expiresAtMs === null || this.expiresAtMs - this.clock.now() > marginMs
  }

  /** Forget the current token (the relay refused it): the next connect fetches one. */
  invalidate(): void {
    this.current = null
    this.expiresAtMs = null
  }

  /** No more refresh timer, ever (the client closed). */
  stop(): void {
    this.stopped = true
    this.clock.clearTimeout(this.refreshTimer)
  }

  /** A new token from `getToken()`; rejects when it throws or answers no token. */
  fetch(): Promise<string> {
    if (this.inflight) return this.inflight
    const request = Promise.resolve()
      .then(() => this.getToken())
      .then((token: unknown) => {
        if (typeof token !== 'string' || token === '') {
          throw new TypeError('getToken() must resolve to a non-empty string')
        }
        this.adopt(token)
        return token
      })
    const settled = (): void => {
      if (this.inflight === request) this.inflight = null
    }
    request.then(settled, settled)
    this.inflight = request
    return request
  }

  private adopt(token: string): void {
    const exp = decodeTokenExp(token)
    this.current = token
    this.expiresAtMs = exp === null ? null : exp * 1000
    this.clock.clearTimeout(this.refreshTimer)
    if (this.expiresAtMs === null || this.stopped) return
    const delay = refreshDelay(this.expiresAtMs, this.clock.now(), this.refreshBeforeMs)
    this.refreshTimer = this.clock.setTimeout(this.onRefreshDue, delay)
  }
}

/**
 * The one way the relay logs a refusal (a subscribe, a token renewal, a publish, an
 * upgrade it turns away): at info, with the client's address and a stable reason code,
 * so an admin can grep who is refused and why. Every refusal goes through `logRefusal`:
 * the place where refusals per address and reason can be bounded against floods.
 * Never pass a token, a key or a signature: `detail` is the relay's own words.
 */
export interface Refusal {
  /** The client: behind a trusted proxy, the address it names (trusted_proxies). */
  readonly address: string
  /** A stable code: RELAY_ERR_* (docs/errors.md), a /ws error frame code, or close_NNNN. */
  readonly reason: string
  /** Which door refused it. */
  readonly endpoint: 'ws' | 'socket.io' | 'publish' | 'http'
  /** One sentence in the relay's words; never client input quoted at length. */
  readonly detail?: string
  readonly room_id?: string
}

/** What logRefusal needs of a logger (pino and fastify's both fit). */
export interface RefusalLogger {
  info(bindings: object, message: string): void
}

/** Longest detail kept: a client cannot grow log lines through it. */
const MAX_DETAIL = 200

/** What bounds refusals per address and reason (src/log-summary.ts's RefusalSummariser). */
export interface RefusalSink {
  refused(
    refusal: Readonly<Record<string, string | undefined>> & { address: string; reason: string },
  ): void
}

/**
 * Log one refusal at info as `{address, reason, endpoint, detail?, room_id?}`, "refused":
 * through `log` when it is a summariser (bounded against floods), else straight to it.
 */
export function logRefusal(log: RefusalLogger | RefusalSink, refusal: Refusal): void {
  const detail =
    refusal.detail !== undefined && refusal.detail.length > MAX_DETAIL
      ? `${refusal.detail.slice(0, MAX_DETAIL)}…`
      : refusal.detail
  const line = { ...refusal, ...(detail !== undefined ? { detail } : {}) }
  if ('refused' in log) log.refused({ ...line })
  else log.info(line, 'refused')
}

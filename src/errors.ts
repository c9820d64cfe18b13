/**
 * The one catalogue of coded errors (HTTP publish side) and of WebSocket close codes.
 * docs/errors.md lists these tables; test/errors.test.ts fails when they drift apart.
 * Also the error of an unusable configuration, which stops the relay before it listens.
 */

/** Every coded error the relay can answer with, and its HTTP status. */
export const ERRORS = {
  RELAY_ERR_AUTH_MISSING: { status: 401, message: 'no token in the request body' },
  RELAY_ERR_AUTH_INVALID: { status: 401, message: 'the token is malformed or wrongly signed' },
  RELAY_ERR_AUTH_EXPIRED: { status: 401, message: 'the token has expired' },
  RELAY_ERR_AUTH_NOT_YET_VALID: { status: 401, message: 'the token is not valid yet (nbf)' },
  RELAY_ERR_AUTH_LIFETIME: {
    status: 401,
    message: 'the token exp is further away than publish_token_max_lifetime_s',
  },
  RELAY_ERR_AUTH_WRONG_KIND: {
    status: 401,
    message: 'a subscriber token cannot publish, nor a publish token subscribe',
  },
  RELAY_ERR_AUTH_UNSIGNED_NOT_LOOPBACK: {
    status: 401,
    message: 'unsigned publish is only accepted directly from a loopback address',
  },
  RELAY_ERR_PUBLISH_BAD_CLAIMS: { status: 400, message: 'the publish token claims are malformed' },
  RELAY_ERR_PUBLISH_BAD_MESSAGE: { status: 400, message: 'a message has a malformed field' },
  RELAY_ERR_PUBLISH_BAD_RIGHTS: { status: 400, message: 'a message has malformed rights' },
  RELAY_ERR_PUBLISH_BAD_BODY: { status: 400, message: 'the request body is malformed' },
  RELAY_ERR_PUBLISH_TOO_LARGE: {
    status: 413,
    message: 'the request body is larger than max_publish_bytes',
  },
  RELAY_ERR_PUBLISH_CONTENT_TYPE: {
    status: 415,
    message: 'Content-Type must be application/jwt or text/plain',
  },
  RELAY_ERR_RATE_LIMITED: { status: 429, message: 'too many requests from this address' },
  RELAY_ERR_BROKER_UNAVAILABLE: {
    status: 503,
    message: 'the broker is not available; nothing was published, retry later',
  },
  RELAY_ERR_HTTP_UPGRADE_REQUIRED: {
    status: 426,
    message: 'GET /ws is a WebSocket endpoint: send an Upgrade: websocket request',
  },
  RELAY_ERR_HTTP_TIMEOUT: { status: 408, message: 'the request did not arrive in time' },
  RELAY_ERR_HTTP_HEADERS_TOO_LARGE: { status: 431, message: 'the request headers are too large' },
  RELAY_ERR_HTTP_NOT_FOUND: { status: 404, message: 'no such route' },
  RELAY_ERR_HTTP_METHOD: { status: 405, message: 'method not allowed' },
  RELAY_ERR_HTTP_BAD_REQUEST: { status: 400, message: 'malformed HTTP request' },
  RELAY_ERR_METRICS_FORBIDDEN: {
    status: 403,
    message: 'metrics are served to loopback or with the configured bearer token only',
  },
  RELAY_ERR_SERVER_INTERNAL: { status: 500, message: 'internal error' },
} as const satisfies Record<string, { status: number; message: string }>

/** A stable error code of the catalogue. */
export type ErrorCode = keyof typeof ERRORS

/** An error the relay answers with: code and HTTP status from the catalogue, message for humans. */
export class RelayError extends Error {
  readonly code: ErrorCode
  readonly status: number

  constructor(code: ErrorCode, message?: string) {
    super(message ?? ERRORS[code].message)
    this.name = 'RelayError'
    this.code = code
    this.status = ERRORS[code].status
  }

  /** The JSON body of an HTTP answer. */
  toJSON(): { error: ErrorCode; message: string } {
    return { error: this.code, message: this.message }
  }
}

/** WebSocket close codes (docs/protocol.md §5.4): meaning and what the client should do. */
export const CLOSE = {
  NORMAL: { code: 1000, reason: 'normal', reconnect: false },
  GOING_AWAY: { code: 1001, reason: 'server shutting down', reconnect: true },
  POLICY_ORIGIN: { code: 1008, reason: 'origin not allowed', reconnect: false },
  TOO_LARGE: { code: 1009, reason: 'frame too large', reconnect: false },
  INTERNAL: { code: 1011, reason: 'internal error', reconnect: true },
  MALFORMED: { code: 4000, reason: 'too many malformed frames', reconnect: false },
  UNAUTHORIZED: { code: 4001, reason: 'unauthorized', reconnect: true },
  RATE_LIMITED: { code: 4008, reason: 'rate limited', reconnect: true },
  SLOW_CONSUMER: { code: 4009, reason: 'slow consumer', reconnect: true },
  SERVER_FULL: { code: 4010, reason: 'server full', reconnect: true },
} as const satisfies Record<string, { code: number; reason: string; reconnect: boolean }>

/** A row of the close-code table. */
export type Close = (typeof CLOSE)[keyof typeof CLOSE]

/** Error codes carried by `{"type":"error"}` frames (docs/protocol.md §5.2). */
export const WS_ERROR_CODES = [
  'JWTExpired',
  'Unauthorized',
  'BadRequest',
  'RoomLimit',
  'RateLimited',
] as const

/** One of the WebSocket error frame codes. */
export type WsErrorCode = (typeof WS_ERROR_CODES)[number]

/** Closes that refuse the peer (what it sent or did): logged and counted as refusals. */
export const REFUSAL_CLOSES = [
  CLOSE.POLICY_ORIGIN,
  CLOSE.TOO_LARGE,
  CLOSE.MALFORMED,
  CLOSE.UNAUTHORIZED,
  CLOSE.RATE_LIMITED,
  CLOSE.SERVER_FULL,
] as const

/** A close that refuses the peer. */
export type RefusalClose = (typeof REFUSAL_CLOSES)[number]

/** Whether this close refuses the peer (a 4009 slow consumer or a 1001 shutdown does not). */
export function isRefusalClose(close: Close): close is RefusalClose {
  return (REFUSAL_CLOSES as readonly Close[]).includes(close)
}

/** The `close_NNNN` reason a refusal close is counted and logged under. */
export type CloseReason = `close_${RefusalClose['code']}`

/** Whether `reason` names a refusal close (`close_4001`...), as socket.io pages' closes do. */
export function isRefusalCloseReason(reason: string): reason is CloseReason {
  return REFUSAL_CLOSES.some((close) => closeReason(close) === reason)
}

/** The reason of a refusal close. */
export function closeReason(close: RefusalClose): CloseReason {
  return `close_${close.code}`
}

/** The error frame code of a refused subscriber token: JWTExpired when expired, else Unauthorized. */
export function tokenRefusalCode(code: string): WsErrorCode {
  return code === 'RELAY_ERR_AUTH_EXPIRED' ? 'JWTExpired' : 'Unauthorized'
}

/**
 * Why something was refused, as `tuleap_realtime_refusals_total{reason}` counts it: an
 * error code of the catalogue, a WebSocket error frame code, or a refusal close.
 */
export type RefusalReason = ErrorCode | WsErrorCode | CloseReason

/** Every reason a refusal can be counted under: the metrics start each at zero. */
export const REFUSAL_REASONS: readonly RefusalReason[] = [
  ...(Object.keys(ERRORS) as ErrorCode[]),
  ...WS_ERROR_CODES,
  ...REFUSAL_CLOSES.map(closeReason),
]

/** A configuration that cannot be used; the message names the key and says how to fix it. */
export class ConfigError extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'ConfigError'
  }
}

/**
 * The wire frames of docs/protocol.md (version 1) as a browser sees them (§5.1, §5.2), their
 * defensive parsing, and the close-code table of §5.4 from the client's side.
 * Field names are the protocol's own (snake_case), untouched.
 */

/** The protocol version this client speaks. */
export const PROTOCOL_VERSION = 1

/** A position in a room's history: the last message seen (docs/protocol.md §6). */
export interface RoomPosition {
  readonly epoch: string
  readonly offset: number
}

/** Codes carried by `error` frames (docs/protocol.md §5.2). */
export type ServerErrorCode =
  'JWTExpired' | 'Unauthorized' | 'BadRequest' | 'RoomLimit' | 'RateLimited'

/** A member of a room as presence shows it: ids only (docs/protocol.md §7). */
export interface PresenceMember {
  readonly user_id: number
  readonly uuid: string | null
}

/** `hello`: sent by the server on connect. */
export interface HelloFrame {
  readonly type: 'hello'
  readonly protocol: number
  readonly heartbeat_ms?: number
}

/** `subscribed`: the answer to subscribe; `recovered` only when `since` was sent. */
export interface SubscribedFrame {
  readonly type: 'subscribed'
  readonly room_id: string
  readonly epoch: string
  readonly offset: number
  readonly recovered?: boolean
  readonly presence_count: number
  readonly presence?: readonly PresenceMember[]
}

/** `message`: a published message, replayed or live; per room, offsets only grow. */
export interface MessageFrame<D = unknown> {
  readonly type: 'message'
  readonly room_id: string
  readonly epoch: string
  readonly offset: number
  readonly cmd: string
  readonly data: D
}

/** `presence`: another connection joined or left the room (only when asked for). */
export interface PresenceFrame {
  readonly type: 'presence'
  readonly room_id: string
  readonly event: 'join' | 'leave'
  readonly user_id: number
  readonly uuid: string | null
}

/** `unsubscribed`: the answer to unsubscribe. */
export interface UnsubscribedFrame {
  readonly type: 'unsubscribed'
  readonly room_id: string
}

/** `token`: the refreshed token was accepted; `exp` is its expiry in seconds. */
export interface TokenAcceptedFrame {
  readonly type: 'token'
  readonly exp: number
}

/** `resync`: messages were lost for this connection; reload state, continue from offset. */
export interface ResyncFrame {
  readonly type: 'resync'
  readonly room_id: string
  readonly epoch: string
  readonly offset: number
}

/** `pong`: the answer to ping. */
export interface PongFrame {
  readonly type: 'pong'
}

/** `error`: a refused frame; `room_id` when the refused frame named a room. */
export interface ErrorFrame {
  readonly type: 'error'
  readonly code: ServerErrorCode
  readonly message: string
  readonly room_id?: string
}

/** Every server → client frame. */
export type ServerFrame =
  | HelloFrame
  | SubscribedFrame
  | MessageFrame
  | PresenceFrame
  | UnsubscribedFrame
  | TokenAcceptedFrame
  | ResyncFrame
  | PongFrame
  | ErrorFrame

/** `subscribe`: join a room; `token` on the first subscribe of a connection. */
export interface SubscribeFrame {
  readonly type: 'subscribe'
  readonly room_id: string
  readonly token?: string
  readonly uuid?: string
  readonly since?: RoomPosition
  readonly presence?: boolean
}

/** `unsubscribe`: leave a room. */
export interface UnsubscribeFrame {
  readonly type: 'unsubscribe'
  readonly room_id: string
}

/** `token`: a new token for the same user, replacing the connection's rights and expiry. */
export interface TokenFrame {
  readonly type: 'token'
  readonly token: string
}

/** `ping`: application-level ping; the server answers `pong`. */
export interface PingFrame {
  readonly type: 'ping'
}

/** Every client → server frame. */
export type ClientFrame = SubscribeFrame | UnsubscribeFrame | TokenFrame | PingFrame

type Fields = Record<string, unknown>

const isString = (v: unknown): v is string => typeof v === 'string'
const isOffset = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) >= 0
const hasPosition = (f: Fields): boolean =>
  isString(f.room_id) && isString(f.epoch) && isOffset(f.offset)

/** Whether the parsed object has the fields this client relies on for its `type`. */
function wellFormed(f: Fields): boolean {
  switch (f.type) {
    case 'hello':
      return f.heartbeat_ms === undefined || typeof f.heartbeat_ms === 'number'
    case 'pong':
      return true
    case 'subscribed':
    case 'resync':
      return hasPosition(f)
    case 'message':
      return hasPosition(f) && isString(f.cmd)
    case 'presence':
      return isString(f.room_id) && (f.event === 'join' || f.event === 'leave')
    case 'unsubscribed':
      return isString(f.room_id)
    case 'token':
      return f.exp === undefined || typeof f.exp === 'number'
    case 'error':
      return isString(f.code)
    default:
      return false
  }
}

/**
 * Parse one text frame from the server. Never throws: anything that is not a known,
 * well-formed frame (including a frame type from a newer protocol) is `null`.
 */
export function parseServerFrame(data: unknown): ServerFrame | null {
  if (typeof data !== 'string') return null
  let value: unknown
  try {
    value = JSON.parse(data)
  } catch {
    return null
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return null
  return wellFormed(value as Fields) ? (value as ServerFrame) : null
}

/**
 * What the client does after the socket closed with a code: `reconnect` with backoff and
 * `since`, `reauthenticate` (get a new token first, then reconnect with backoff) or
 * `stop` for good.
 */
export type CloseAction = 'reconnect' | 'reauthenticate' | 'stop'

/** docs/protocol.md §5.4 from the client's side; a code not listed here means `reconnect`. */
export const CLOSE_ACTIONS: Readonly<Record<number, CloseAction>> = {
  1000: 'reconnect', // the server never closes with 1000 itself: a proxy did; stay live
  1001: 'reconnect', // server shutting down or restarting
  1006: 'reconnect', // abnormal closure (network loss, refused upgrade)
  1008: 'stop', // origin not allowed
  1009: 'stop', // frame too large: a client bug
  1011: 'reconnect', // internal error
  4000: 'stop', // too many malformed frames: a client bug
  4001: 'reauthenticate', // no valid subscribe in time, or expired and not refreshed
  4008: 'reconnect', // rate limited
  4009: 'reconnect', // slow consumer
  4010: 'reconnect', // server full
}

/** The action for a close code (docs/protocol.md §5.4). */
export function closeAction(code: number): CloseAction {
  return CLOSE_ACTIONS[code] ?? 'reconnect'
}

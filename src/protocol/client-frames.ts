import { normaliseRoomId, type RoomPosition } from './message.js'

/** A client → server frame (docs/protocol.md §5.1), validated. */
export type ClientFrame =
  | {
      readonly type: 'subscribe'
      readonly room_id: string
      readonly token: string | undefined
      readonly uuid: string | undefined
      readonly since: RoomPosition | undefined
      readonly presence: boolean
    }
  | { readonly type: 'unsubscribe'; readonly room_id: string }
  | { readonly type: 'token'; readonly token: string }
  | { readonly type: 'ping' }

/** Why a frame was refused; `room_id` when the frame named a valid one. */
export interface FrameError {
  readonly error: string
  readonly room_id?: string
}

const MAX_UUID_LENGTH = 128
const MAX_EPOCH_LENGTH = 128
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f]/

function roomOf(f: Record<string, unknown>): string | FrameError {
  const room = normaliseRoomId(f.room_id)
  return room ?? { error: 'room_id must be a string or integer of 1 to 128 printable characters' }
}

function parseSince(value: unknown): RoomPosition | undefined | null {
  if (value === undefined || value === null) return undefined
  if (typeof value !== 'object' || Array.isArray(value)) return null
  const { epoch, offset } = value as Record<string, unknown>
  if (typeof epoch !== 'string' || epoch.length > MAX_EPOCH_LENGTH) return null
  if (typeof offset !== 'number' || !Number.isSafeInteger(offset) || offset < 0) return null
  return { epoch, offset }
}

function parseSubscribe(f: Record<string, unknown>): ClientFrame | FrameError {
  const room = roomOf(f)
  if (typeof room !== 'string') return room
  const bad = (error: string): FrameError => ({ error, room_id: room })
  const { token, uuid, presence } = f
  if (token !== undefined && typeof token !== 'string') return bad('token must be a string')
  if (
    uuid !== undefined &&
    (typeof uuid !== 'string' ||
      uuid.length < 1 ||
      uuid.length > MAX_UUID_LENGTH ||
      CONTROL.test(uuid))
  ) {
    return bad('uuid must be a string of 1 to 128 printable characters')
  }
  if (presence !== undefined && typeof presence !== 'boolean')
    return bad('presence must be a boolean')
  const since = parseSince(f.since)
  if (since === null) return bad('since must be {"epoch": string, "offset": integer >= 0}')
  return { type: 'subscribe', room_id: room, token, uuid, since, presence: presence === true }
}

/** Parse one text frame. Never throws: anything malformed becomes a FrameError. */
export function parseClientFrame(data: Buffer | string): ClientFrame | FrameError {
  let value: unknown
  try {
    value = JSON.parse(typeof data === 'string' ? data : data.toString('utf8'))
  } catch {
    return { error: 'frame is not valid JSON' }
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return { error: 'frame must be a JSON object' }
  }
  const f = value as Record<string, unknown>
  switch (f.type) {
    case 'subscribe':
      return parseSubscribe(f)
    case 'unsubscribe': {
      const room = roomOf(f)
      return typeof room === 'string' ? { type: 'unsubscribe', room_id: room } : room
    }
    case 'token':
      return typeof f.token === 'string' && f.token !== ''
        ? { type: 'token', token: f.token }
        : { error: 'token must be a non-empty string' }
    case 'ping':
      return { type: 'ping' }
    default:
      return { error: 'type must be one of subscribe, unsubscribe, token, ping' }
  }
}

/** Type guard for a refused frame. */
export function isFrameError(f: ClientFrame | FrameError): f is FrameError {
  return 'error' in f
}

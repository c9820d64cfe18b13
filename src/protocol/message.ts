import { parseRights, type Rights } from '../auth/rights.js'
import { RelayError } from '../errors.js'

/** A validated message (docs/protocol.md §2), as published by the backend. */
export interface Message {
  readonly room_id: string
  readonly cmd: string
  readonly data: unknown
  readonly rights: Rights | null
  readonly sender_user_id: number | null
  readonly sender_uuid: string | null
}

/** A room's position: its history epoch and latest offset (0 before the first message). */
export interface RoomPosition {
  readonly epoch: string
  readonly offset: number
}

/** A message once stored in its room's history. Owned by the broker that stored it; never mutated. */
export interface StoredMessage extends Message {
  readonly epoch: string
  readonly offset: number
  /** When the broker stored it, ms since epoch (drives history_ttl_s and latency metrics). */
  readonly published_at: number
}

const CMD = /^[A-Za-z0-9_.:-]{1,128}$/
// Control characters (C0, DEL, C1), line/paragraph separators and lone surrogates.
// eslint-disable-next-line no-control-regex
const NOT_PRINTABLE = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]|\p{Cs}/u
const MAX_ROOM_ID_LENGTH = 128

/** docs/protocol.md §2: a room id is a string or an integer, normalised to a string; null if invalid. */
export function normaliseRoomId(value: unknown): string | null {
  let room: string
  if (typeof value === 'string') room = value
  else if (typeof value === 'number' && Number.isSafeInteger(value)) room = String(value)
  else return null
  if (room.length < 1 || room.length > MAX_ROOM_ID_LENGTH || NOT_PRINTABLE.test(room)) return null
  return room
}

/**
 * Deepest nesting of objects and arrays a message's `data` may have: PHP's json_encode
 * default depth, so Tuleap never reaches it. The relay serialises `data` into every
 * subscriber's frame with JSON.stringify, which recurses and overflows the stack a few
 * thousand levels down; such a message, once in history, would fail every delivery and
 * every replay of its room. It is refused at publish instead, before it is stored.
 */
export const MAX_DATA_DEPTH = 512

/** Whether objects and arrays in `value` nest deeper than `max`; iterative, for any depth. */
export function nestedDeeperThan(value: unknown, max: number): boolean {
  const stack: { value: unknown; depth: number }[] = [{ value, depth: 1 }]
  for (let top = stack.pop(); top !== undefined; top = stack.pop()) {
    if (typeof top.value !== 'object' || top.value === null) continue
    if (top.depth > max) return true
    const children = Array.isArray(top.value) ? (top.value as unknown[]) : Object.values(top.value)
    for (const child of children) stack.push({ value: child, depth: top.depth + 1 })
  }
  return false
}

function bad(where: string, what: string): RelayError {
  return new RelayError('RELAY_ERR_PUBLISH_BAD_MESSAGE', `${where}.${what}`)
}

/** Validate one message of a publish; `where` names it in errors (e.g. `messages[3]`). */
export function parseMessage(value: unknown, where = 'message'): Message {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new RelayError('RELAY_ERR_PUBLISH_BAD_MESSAGE', `${where} must be an object`)
  }
  const m = value as Record<string, unknown>
  const room = normaliseRoomId(m.room_id)
  if (room === null) {
    throw bad(where, 'room_id is required: a string or integer of 1 to 128 printable characters')
  }
  if (typeof m.cmd !== 'string' || !CMD.test(m.cmd)) {
    throw bad(where, 'cmd is required: 1 to 128 characters of [A-Za-z0-9_.:-]')
  }
  const senderUserId = m.sender_user_id ?? null
  if (
    senderUserId !== null &&
    !(typeof senderUserId === 'number' && Number.isSafeInteger(senderUserId))
  ) {
    throw bad(where, 'sender_user_id must be an integer or null')
  }
  const senderUuid = m.sender_uuid ?? null
  if (senderUuid !== null && typeof senderUuid !== 'string') {
    throw bad(where, 'sender_uuid must be a string or null')
  }
  if (nestedDeeperThan(m.data, MAX_DATA_DEPTH)) {
    throw bad(where, `data nests objects and arrays deeper than ${MAX_DATA_DEPTH} levels`)
  }
  return {
    room_id: room,
    cmd: m.cmd,
    data: m.data === undefined ? null : m.data,
    rights: m.rights === undefined ? null : parseRights(m.rights, `${where}.rights`),

    sender_user_id: senderUserId,
    sender_uuid: senderUuid,
  }
}

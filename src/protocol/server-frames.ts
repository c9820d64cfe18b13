/**
 * Server → client frames the hub sends to room members (docs/protocol.md §5.2), built as Buffers
 * so that one frame can be written to many sockets. Connection-level frames (hello, pong,
 * token, unsubscribed, error) belong to the endpoint that sends them (src/ws/frames.ts).
 */
import type { StoredMessage } from './message.js'
import { ownBytes } from './own-bytes.js'

const encode = (frame: object): Buffer => Buffer.from(JSON.stringify(frame))

const messageFrames = new WeakMap<StoredMessage, Buffer>()
const framedMessages = new WeakMap<Buffer, StoredMessage>()

/**
 * The `message` frame of a stored message, serialised once and cached for as long as
 * the message object lives (the same Buffer serves live fan-out and history replays), in
 * memory of its own (src/protocol/own-bytes.ts). Callers must not mutate the returned Buffer.
 */
export function messageFrame(m: StoredMessage): Buffer {
  let frame = messageFrames.get(m)
  if (!frame) {
    frame = ownBytes(
      `{"type":"message","room_id":${JSON.stringify(m.room_id)},"epoch":${JSON.stringify(m.epoch)},"offset":${m.offset},"cmd":${JSON.stringify(m.cmd)},"data":${JSON.stringify(m.data)}}`,
    )
    messageFrames.set(m, frame)
    framedMessages.set(frame, m)
  }
  return frame
}

/**
 * The stored message a `message` frame was built from, or undefined for any other frame:
 * lets a member that speaks another wire format (socket.io) encode the message its own
 * way, once per message, behind the hub's unchanged `Member.send(frame)`.
 */
export function messageOfFrame(frame: Buffer): StoredMessage | undefined {
  return framedMessages.get(frame)
}

/** A member of a room as presence shows it: ids only. */
export interface PresenceEntry {
  readonly user_id: number
  readonly uuid: string | null
}

/** `subscribed`, the answer to subscribe. */
export function subscribedFrame(f: {
  room_id: string
  epoch: string
  offset: number
  recovered?: boolean
  presence_count: number
  presence?: readonly PresenceEntry[]
}): Buffer {
  return encode({ type: 'subscribed', ...f })
}

/** `presence` join/leave. */
export function presenceFrame(
  roomId: string,
  event: 'join' | 'leave',
  entry: PresenceEntry,
): Buffer {
  return encode({
    type: 'presence',
    room_id: roomId,
    event,
    user_id: entry.user_id,
    uuid: entry.uuid,
  })
}

/** `resync`: messages were lost for this connection; reload state and continue from offset. */
export function resyncFrame(roomId: string, epoch: string, offset: number): Buffer {
  return encode({ type: 'resync', room_id: roomId, epoch, offset })
}

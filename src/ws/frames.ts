/**
 * Frames only the WebSocket endpoint sends (docs/protocol.md §5.2): connection-level answers.
 * The frames the hub fans out live in src/protocol/server-frames.ts.
 */
import type { WsErrorCode } from '../errors.js'

/** Protocol version announced in `hello`. */
export const PROTOCOL_VERSION = 1

const encode = (frame: object): Buffer => Buffer.from(JSON.stringify(frame))

/** `hello`, sent on connect. */
export function helloFrame(heartbeatMs: number): Buffer {
  return encode({ type: 'hello', protocol: PROTOCOL_VERSION, heartbeat_ms: heartbeatMs })
}

/** `pong`, the answer to an application-level ping. */
export const PONG_FRAME = encode({ type: 'pong' })

/** `unsubscribed`. */
export function unsubscribedFrame(roomId: string): Buffer {
  return encode({ type: 'unsubscribed', room_id: roomId })
}

/** `token`: the refreshed token was accepted. */
export function tokenFrame(exp: number): Buffer {
  return encode({ type: 'token', exp })
}

/** `error`: a refused frame. */
export function errorFrame(code: WsErrorCode, message: string, roomId?: string): Buffer {
  return encode(
    roomId === undefined
      ? { type: 'error', code, message }
      : { type: 'error', code, message, room_id: roomId },
  )
}

/**
 * socket.io EVENT packets, encoded once per message and namespace and written as they are
 * to every recipient's Engine.IO socket, the way socket.io's own broadcast does it: the
 * text packet (polling) and the finished WebSocket frame (websocket transport).
 */
import * as ws from 'ws'
import { ownConcat } from '../protocol/own-bytes.js'

/** ws's frame builder; @types/ws does not declare `Sender`. */
const Sender = (
  ws as unknown as {
    Sender: {
      frame(
        data: Buffer,
        options: { readOnly: boolean; mask: boolean; rsv1: boolean; opcode: number; fin: boolean },
      ): Buffer[]
    }
  }
).Sender

/** One encoded event: shared by every recipient, never mutated after `encodeEvent`. */
export interface EncodedEvent {
  /** The socket.io packet (`2["cmd",data]`), for Engine.IO's `write`. */
  readonly packet: string
  /** Engine.IO write options; `wsPreEncodedFrame` is the WebSocket text frame of `4<packet>`. */
  readonly options: { compress: boolean; wsPreEncodedFrame: Buffer[] }
  /** Bytes it adds to a socket's queue. */
  readonly bytes: number
}

/**
 * Encode `emit(event, data)` for namespace `nsp` as socket.io-parser would (EVENT type 2,
 * the namespace unless it is `/`, then the JSON array). `dataJson` is the JSON text of the
 * argument, serialised by the caller once per message.
 */
export function encodeEvent(nsp: string, event: string, dataJson: string): EncodedEvent {
  const packet = `2${nsp === '/' ? '' : `${nsp},`}[${JSON.stringify(event)},${dataJson}]`
  const payload = Buffer.from(`4${packet}`)
  const parts = Sender.frame(payload, {
    readOnly: false,
    mask: false,
    rsv1: false,
    opcode: 1,
    fin: true,
  })
  // Header and payload as one Buffer of its own: it lives as long as the message in
  // history (src/protocol/own-bytes.ts), and ws writes a one-part frame in one write.
  return {
    packet,
    options: { compress: false, wsPreEncodedFrame: [ownConcat(parts)] },
    bytes: payload.length,
  }
}

/** The Engine.IO socket as far as writing pre-encoded events goes. */
export interface EngineSocket {
  readonly readyState: string
  readonly writeBuffer: readonly { data?: unknown }[]
  readonly transport: { readonly name: string; readonly socket?: { bufferedAmount?: number } }
  write(data: string, options: object): unknown
}

/**
 * Bytes waiting for a peer: Engine.IO's own queue (what a polling client has not fetched
 * yet, or what waits behind a WebSocket send in flight) plus the WebSocket's buffer.
 */
export function queuedBytes(conn: EngineSocket): number {
  let bytes = conn.transport.socket?.bufferedAmount ?? 0
  for (const p of conn.writeBuffer) {
    bytes += typeof p.data === 'string' ? p.data.length : 16
  }
  return bytes
}

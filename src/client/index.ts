/**
 * `tuleap-realtime/client`: the browser client of the relay. No dependencies, no Node
 * imports; standard DOM APIs only (WebSocket, timers, atob, TextDecoder, crypto).
 */
export { RealtimeClient } from './realtime-client.js'
export type {
  ClientClock,
  ClientError,
  ClientErrorCode,
  ClientEvents,
  ConnectionState,
  RealtimeClientOptions,
  WebSocketConstructor,
  WebSocketLike,
} from './options.js'
export type { ResyncInfo, RoomHandlers } from './room.js'
export type { BackoffOptions } from './backoff.js'
export type { CallbackErrorReporter } from './callbacks.js'
export { Backoff, DEFAULT_BACKOFF } from './backoff.js'
export { decodeTokenExp } from './token.js'
export {
  CLOSE_ACTIONS,
  closeAction,
  parseServerFrame,
  PROTOCOL_VERSION,
  type ClientFrame,
  type CloseAction,
  type ErrorFrame,
  type HelloFrame,
  type MessageFrame,
  type PingFrame,
  type PongFrame,
  type PresenceFrame,
  type PresenceMember,
  type ResyncFrame,
  type RoomPosition,
  type ServerErrorCode,
  type ServerFrame,
  type SubscribeFrame,
  type SubscribedFrame,
  type TokenAcceptedFrame,
  type TokenFrame,
  type UnsubscribedFrame,
  type UnsubscribeFrame,
} from './protocol.js'

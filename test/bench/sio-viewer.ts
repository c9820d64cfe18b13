/**
 * The bench's socket.io viewers of the relay (kind `relaysio`): a Tuleap Kanban page as
 * socket.io-client on the websocket transport, subscribing with the historic
 * `subscription` event (docs/tuleap.md) and receiving `emit(cmd, data)`. The relay does
 * not answer a Kanban subscription, so the set-up waits until the server counts every
 * page subscribed (servers.ts counts hub members for this kind).
 */
import type { Agent } from 'node:https'
import { io as ioClient, type Socket as IoSocket } from 'socket.io-client'
import { CMD, type BenchMark } from './common.js'

interface ServerEvents {
  [CMD]: (data: { bench?: BenchMark }) => void
  'error-jwt': (reason: string) => void
}
interface ClientEvents {
  subscription: (data: {
    nodejs_server_version: string
    token: string
    room_id: string
    uuid: string
  }) => void
}

/** What a viewer reports to its client process. */
export interface ViewerEvents {
  message(mark: BenchMark | undefined): void
  /** An `error-jwt` event: counted as an error frame. */
  error(reason: string): void
  /** The connection ended; `connected` says whether it had connected. */
  closed(reason: string, connected: boolean): void
}

/**
 * Open one page to the relay on `port` and subscribe it to `room`; resolves with its
 * `close` once the subscription is sent, rejects when the connection fails.
 */
export function connectViewer(
  port: number,
  agent: Agent,
  room: string,
  token: string,
  uuid: string,
  on: ViewerEvents,
): Promise<() => void> {
  const socket: IoSocket<ServerEvents, ClientEvents> = ioClient(`https://127.0.0.1:${port}`, {
    path: '/socket.io',
    transports: ['websocket'],
    // engine.io-client passes `agent` on to `ws`; its type says string | boolean.
    agent: agent as unknown as string,
    forceNew: true,
    reconnection: false,
    timeout: 60_000,
  })
  let connected = false
  return new Promise((resolve, reject) => {
    socket.on('connect', () => {
      connected = true
      socket.emit('subscription', { nodejs_server_version: '2.0.0', token, room_id: room, uuid })
      resolve(() => socket.disconnect())
    })
    socket.on(CMD, (data) => {
      on.message(data.bench)
    })
    socket.on('error-jwt', (reason) => {
      on.error(reason)
    })
    socket.on('connect_error', (err) => {
      reject(err)
    })
    socket.on('disconnect', (reason) => {
      on.closed(reason, connected)
      reject(new Error(`disconnected: ${reason}`))
    })
  })
}

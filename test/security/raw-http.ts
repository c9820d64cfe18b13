/**
 * Raw HTTP over plain TCP or TLS for the hostile-input tests: requests exactly as written,
 * answers as received, and the moment the server closes the socket.
 */
import { readdirSync } from 'node:fs'
import type { AddressInfo } from 'node:net'
import { connect as netConnect, type Socket } from 'node:net'
import { connect as tlsConnect } from 'node:tls'
import type { FastifyInstance } from 'fastify'
import { buildApp } from '../../src/app.js'
import { testCert } from '../helpers/certs.js'
import { testConfig } from '../helpers/config.js'
import type { Teardown } from '../helpers/relay.js'

/** A relay listening on 127.0.0.1, over TLS or plain (`tls: false`, loopback only). */
export interface RawRelay {
  readonly app: FastifyInstance
  readonly port: number
  readonly tls: boolean
}

/** Start a relay for raw tests; closed at teardown. */
export async function startRawRelay(
  t: Teardown,
  tls: boolean,
  values: Record<string, unknown> = {},
): Promise<RawRelay> {
  const cert = testCert()
  const config = testConfig({ tls, ...values })
  const app = await buildApp(config, { tls: tls ? { cert: cert.cert, key: cert.key } : null })
  await app.listen({ port: 0, host: '127.0.0.1' })
  t.teardown(() => app.close())
  return { app, port: (app.server.address() as AddressInfo).port, tls }
}

/** A connected socket to `relay` (TLS handshake done when `relay.tls`). */
export function rawConnect(relay: RawRelay): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket: Socket = relay.tls
      ? tlsConnect({ host: '127.0.0.1', port: relay.port, ca: testCert().cert }, () => {
          resolve(socket)
        })
      : netConnect({ host: '127.0.0.1', port: relay.port }, () => {
          resolve(socket)
        })
    socket.once('error', reject)
  })
}

/** What a raw exchange gave: everything received, and when the server closed. */
export interface RawExchange {
  readonly received: string
  /** ms from the request to the close, or null if the socket was still open at `waitMs`. */
  readonly closedAfter: number | null
}

/** Send `text` and collect the answer until the socket closes or `waitMs` passes. */
export async function rawExchange(
  relay: RawRelay,
  text: string,
  waitMs: number,
): Promise<RawExchange> {
  const socket = await rawConnect(relay)
  socket.on('error', () => undefined)
  const start = Date.now()
  let received = ''
  socket.on('data', (chunk: Buffer) => (received += chunk.toString('latin1')))
  const closed = new Promise<number>((resolve) =>
    socket.once('close', () => {
      resolve(Date.now() - start)
    }),
  )
  socket.write(text)
  let timer: NodeJS.Timeout | undefined
  const closedAfter = await Promise.race([
    closed,
    new Promise<null>((resolve) => (timer = setTimeout(() => resolve(null), waitMs))),
  ])
  clearTimeout(timer)
  socket.destroy()
  return { received, closedAfter }
}

/** Open file descriptors of this process (Linux). */
export function fdCount(): number {
  return readdirSync('/proc/self/fd').length
}

/** Resolves after `ms`. */
export const pause = (ms: number): Promise<void> =>
  new Promise((resolve) => setTimeout(resolve, ms))

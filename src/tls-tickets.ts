import { randomBytes } from 'node:crypto'
import type { Server as TlsServer } from 'node:tls'

/** How long one session-ticket key is used before the next replaces it. */
export const TICKET_KEY_LIFETIME_MS = 60 * 60 * 1000

/** Size of the key `setTicketKeys` takes: name, HMAC and AES keys. */
const TICKET_KEY_BYTES = 48

/** The running rotation of the server's session-ticket key. */
export interface TicketKeys {
  /** Replace the key now: sessions resumable until now need a full handshake again. */
  rotate(): void
  stop(): void
}

/**
 * TLS session resumption with tickets (TLS 1.2 tickets and TLS 1.3 PSK): a backend that
 * opens a new connection for each publish, as `curl` from PHP does, and keeps the session
 * of its previous one, skips the certificate and the key exchange of a full handshake.
 * Node enables tickets with one random key for the life of the process; this replaces it
 * with a fresh random key every `lifetimeMs` (and on `rotate`, which a reload calls), so
 * that a ticket, and the traffic keys it protects, cannot be opened with a key that lived
 * for months. The key never leaves the process and is never logged; after a rotation,
 * each returning client makes one full handshake.
 */
export function startTicketKeys(
  server: TlsServer,
  lifetimeMs: number = TICKET_KEY_LIFETIME_MS,
): TicketKeys {
  const rotate = (): void => {
    server.setTicketKeys(randomBytes(TICKET_KEY_BYTES))
  }
  rotate()
  const timer = setInterval(rotate, lifetimeMs)
  timer.unref()
  return {
    rotate,
    stop: () => {
      clearInterval(timer)
    },
  }
}

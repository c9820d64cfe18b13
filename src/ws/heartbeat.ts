import type { Connection } from './connection.js'

/** A running heartbeat. */
export interface Heartbeat {
  /** Visit every connection now (a whole interval's work at once). */
  sweep(): void
  /** Visit the next slice of connections (the timer calls this `SLICES` times per interval). */
  step(): void
  stop(): void
}

/**
 * Each interval's sweep is spread over this many steps. Pinging every socket at once
 * holds the event loop for ~20 µs per socket (TLS write, then the pong to read): ~200 ms
 * at 10,000 subscribers, which a message published meanwhile would wait behind.
 */
export const SLICES = 10

/**
 * One timer for all connections (the ws README's broken-connection recipe), each
 * connection visited once per `intervalMs`, a tenth of them at a time (by id): a
 * connection that has not answered its previous ping is terminated, the others are
 * pinged. A connection's pong (or any frame) sets `alive` back.
 */
export function startHeartbeat(
  connections: ReadonlySet<Connection>,
  intervalMs: number,
): Heartbeat {
  const visit = (conn: Connection): void => {
    if (!conn.alive) {
      conn.log.info('no pong since the previous ping: terminating')
      conn.ws.terminate()
      return
    }
    conn.alive = false
    try {
      conn.ws.ping()
    } catch {
      conn.ws.terminate()
    }
  }
  let slice = 0
  const step = (): void => {
    for (const conn of connections) if (conn.id % SLICES === slice) visit(conn)
    slice = (slice + 1) % SLICES
  }
  const timer = setInterval(step, Math.max(1, Math.round(intervalMs / SLICES)))
  timer.unref()
  return {
    sweep: () => {
      for (const conn of connections) visit(conn)
    },
    step,
    stop: () => {
      clearInterval(timer)
    },
  }
}

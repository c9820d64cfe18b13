import type { Connection } from './connection.js'

/** A running heartbeat sweep. */
export interface Heartbeat {
  /** Run one sweep now (the timer calls this). */
  sweep(): void
  stop(): void
}

/**
 * One timer for all connections (the ws README's broken-connection recipe): a
 * connection that has not answered the previous ping is terminated, the others are
 * pinged. A connection's pong sets `alive` back.
 */
export function startHeartbeat(
  connections: ReadonlySet<Connection>,
  intervalMs: number,
): Heartbeat {
  const sweep = (): void => {
    for (const conn of connections) {
      if (!conn.alive) {
        conn.log.info('no pong since the previous ping: terminating')
        conn.ws.terminate()
        continue
      }
      conn.alive = false
      try {
        conn.ws.ping()
      } catch {
        conn.ws.terminate()
      }
    }
  }
  const timer = setInterval(sweep, intervalMs)
  timer.unref()
  return {
    sweep,
    stop: () => {
      clearInterval(timer)
    },
  }
}

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
 * Each interval's sweep is spread over this many steps. Pinging a socket holds the event
 * loop for its TLS write and then its pong's read: all 10,000 at once was ~200 ms, which a
 * message published meanwhile waited behind; a tenth at a time still set the many-rooms
 * bench's p99 (54-84 ms); a fiftieth (200 sockets) held the loop 23-36 ms at rest with
 * 10,000 connections (`npm run bench -- --idle`), a two-hundredth (50 sockets every 125 ms
 * of a 25 s interval) 12-19 ms for the same CPU. Finer (8 sockets every 20 ms) was
 * measured and not kept: a 12 ms longest hold, but 1.5 times the CPU at rest, each ping
 * then waking its peer alone (docs/performance.md).
 */
export const SLICES = 200

/**
 * One timer for all connections (the ws README's broken-connection recipe), each
 * connection visited (`Connection.ping`) once per `intervalMs`, one slice of them at a
 * time (by id): a connection that has not answered its previous ping is terminated, the
 * others are pinged. A connection's pong (or any frame) marks it alive again.
 */
export function startHeartbeat(
  connections: ReadonlySet<Connection>,
  intervalMs: number,
): Heartbeat {
  let slice = 0
  const step = (): void => {
    for (const conn of connections) if (conn.id % SLICES === slice) conn.ping()
    slice = (slice + 1) % SLICES
  }
  const timer = setInterval(step, Math.max(1, Math.round(intervalMs / SLICES)))
  timer.unref()
  return {
    sweep: () => {
      for (const conn of connections) conn.ping()
    },
    step,
    stop: () => {
      clearInterval(timer)
    },
  }
}

/**
 * The relay's shutdown order, written in this one place:
 *
 * 1. a signal stops the process taking new work: fastify refuses new requests (503);
 * 2. every subscriber is closed: /ws connections with 1001 (docs/protocol.md §5.4: going
 *    away, reconnect), socket.io pages by closing their Engine.IO transport (a transport
 *    close, after which Tuleap's pages reconnect);
 * 3. the listening socket closes;
 * 4. the broker closes, once no subscriber is left to serve;
 * 5. the logs are flushed and the process exits, all of it within `shutdown_timeout_ms`
 *    (past it, every socket is terminated; past twice that, the process exits anyway).
 *
 * Steps 1 to 4 are `app.close()` (the hooks installed by `installShutdownOrder`), so tests
 * that close the app follow the same order as the process; step 5 is `shutdownProcess`.
 */
import type { FastifyInstance } from 'fastify'
import type { Broker } from './broker/broker.js'
import { CLOSE } from './errors.js'
import type { Logger } from './log.js'
import type { Connection } from './ws/connection.js'

/** Every subscriber of the relay, of both protocols. */
export interface Subscribers {
  /** Open /ws connections. */
  readonly connections: ReadonlySet<Connection>
  /** Tuleap's socket.io pages. */
  readonly socketIo: { close(): void }
}

/** Step 2: close every subscriber, /ws with 1001, socket.io by closing its transport. */
export function closeSubscribers(subscribers: Subscribers): void {
  for (const conn of subscribers.connections) conn.close(CLOSE.GOING_AWAY)
  subscribers.socketIo.close()
}

/** Make `app.close()` run steps 2 to 4: subscribers first, the broker last. */
export function installShutdownOrder(
  app: FastifyInstance,
  subscribers: Subscribers,
  broker: Broker,
): void {
  // fastify runs every preClose hook, then closes its server, then the onClose hooks.
  app.addHook('preClose', (done) => {
    closeSubscribers(subscribers)
    done()
  })
  app.addHook('onClose', async () => {
    await broker.close()
  })
}

/** Exit codes of `shutdownProcess`. */
export const SHUTDOWN_EXIT = { ok: 0, failure: 1 } as const

/**
 * The process part: log, `app.close()` bounded by `timeoutMs`, flush, exit. `exit` is
 * `process.exit` in production.
 */
export async function shutdownProcess(
  app: FastifyInstance,
  logger: Logger,
  signal: string,
  timeoutMs: number,
  exit: (code: number) => void = (code) => process.exit(code),
): Promise<void> {
  logger.info({ signal }, 'shutting down')
  const force = setTimeout(() => {
    logger.warn(
      { timeout_ms: timeoutMs },
      'connections still open at the shutdown timeout: terminating them',
    )
    for (const conn of app.relay.connections) conn.terminate()
    // HTTP requests still in progress (a slow publish body) would otherwise hold
    // app.close() until their own timeouts, well past shutdown_timeout_ms.
    app.server.closeAllConnections()
    // Last resort, if closing still hangs (e.g. the broker): exit rather than linger.
    setTimeout(() => {
      logger.error({ timeout_ms: timeoutMs }, 'still closing after terminating every connection')
      logger.flush()
      exit(SHUTDOWN_EXIT.failure)
    }, timeoutMs).unref()
  }, timeoutMs)
  force.unref()
  try {
    await app.close()
  } catch (err) {
    logger.error({ err }, 'error while closing')
  }
  clearTimeout(force)
  logger.info('stopped')
  logger.flush()
  exit(SHUTDOWN_EXIT.ok)
}

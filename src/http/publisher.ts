import type { Accepted, Broker } from '../broker/broker.js'
import { RelayError } from '../errors.js'
import type { Message } from '../protocol/message.js'

/** How long a publish `jti` is remembered (docs/protocol.md §1.2). */
export const JTI_WINDOW_MS = 5 * 60 * 1000

/** The answer to a publish: one entry per message; `duplicate` for a repeated jti. */
export interface PublishResult {
  readonly accepted: Accepted
  readonly duplicate?: true
}

/**
 * Publish validated messages through the broker, at most once per `jti` within the
 * window (the broker keeps the jti with the publish). A broker failure becomes a 503.
 */
export async function publishMessages(
  broker: Broker,
  messages: readonly Message[],
  jti: string | null,
): Promise<PublishResult> {
  if (!broker.ready) throw new RelayError('RELAY_ERR_BROKER_UNAVAILABLE')
  const idempotency = jti === null ? undefined : { jti, ttlMs: JTI_WINDOW_MS }
  const published = await broker.publish(messages, idempotency).catch(unavailable)
  return published.duplicate
    ? { accepted: published.accepted, duplicate: true }
    : { accepted: published.accepted }
}

function unavailable(err: unknown): never {
  if (err instanceof RelayError) throw err
  throw new RelayError(
    'RELAY_ERR_BROKER_UNAVAILABLE',
    `the broker is not available: ${(err as Error).message}`,
  )
}

import type { Accepted, Broker } from '../broker/broker.js'
import { RelayError } from '../errors.js'
import type { Message } from './message.js'

/** How long a publish `jti` is remembered (PROTOCOL §1.2). */
export const JTI_WINDOW_MS = 5 * 60 * 1000

/** The answer to a publish: one entry per message; `duplicate` for a repeated jti. */
export interface PublishResult {
  readonly accepted: Accepted
  readonly duplicate?: true
}

/**
 * Publish validated messages through the broker, at most once per `jti` within the
 * window. A broker failure releases the jti (the backend may retry) and becomes a 503.
 */
export async function publishMessages(
  broker: Broker,
  messages: readonly Message[],
  jti: string | null,
): Promise<PublishResult> {
  if (!broker.ready) throw new RelayError('RELAY_ERR_BROKER_UNAVAILABLE')
  if (jti !== null) {
    const previous = await broker.claimJti(jti, JTI_WINDOW_MS).catch(unavailable)
    if (previous !== null) return { accepted: previous, duplicate: true }
  }
  let accepted: Accepted
  try {
    const stored = await broker.publish(messages)
    accepted = stored.map((m) => ({ room_id: m.room_id, epoch: m.epoch, offset: m.offset }))
  } catch (err) {
    // Stored but not confirmed by enough replicas: a retry with this jti gets this answer.
    const kept = (err as { stored?: Accepted }).stored
    const settled = kept
      ? kept.map((m) => ({ room_id: m.room_id, epoch: m.epoch, offset: m.offset }))
      : null
    if (jti !== null) await broker.settleJti(jti, settled, JTI_WINDOW_MS).catch(() => undefined)
    return unavailable(err)
  }
  if (jti !== null) await broker.settleJti(jti, accepted, JTI_WINDOW_MS).catch(() => undefined)
  return { accepted }
}

function unavailable(err: unknown): never {
  if (err instanceof RelayError) throw err
  throw new RelayError(
    'RELAY_ERR_BROKER_UNAVAILABLE',
    `the broker is not available: ${(err as Error).message}`,
  )
}

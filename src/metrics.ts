import type { RefusalReason } from './errors.js'

/**
 * What the relay counts. Every call is made once per message or per event, never once
 * per recipient: the fan-out loop counts locally and reports a total.
 */
export interface RelayMetrics {
  /** Messages accepted by POST /message. */
  published(count: number): void
  /** Frames of one message handed to subscribers' sockets. */
  delivered(count: number): void
  /** A refused request or frame, by its error code (or close code). */
  refused(reason: RefusalReason): void
  /** A connection closed as a slow consumer (4009). */
  slowConsumer(): void
  /** Milliseconds from a message being stored to its frame being handed to the sockets. */
  latency(ms: number): void
  /** A subscribe with `since`: recovered from history (hit) or not (miss). */
  history(hit: boolean): void
}

/** Metrics off: every call is a no-op. */
export const NO_METRICS: RelayMetrics = {
  published: () => undefined,
  delivered: () => undefined,
  refused: () => undefined,
  slowConsumer: () => undefined,
  latency: () => undefined,
  history: () => undefined,
}

/** Reconnection delays: capped exponential backoff with full jitter. */

/** Backoff settings, in milliseconds. */
export interface BackoffOptions {
  /** Ceiling of the first delay. Default 1000. */
  readonly baseMs?: number
  /** Ceiling of every delay. Default 30000. */
  readonly maxMs?: number
  /** A connection must stay open this long before the attempt counter resets. Default 15000. */
  readonly stableMs?: number
}

/** The defaults of {@link BackoffOptions}. */
export const DEFAULT_BACKOFF = { baseMs: 1000, maxMs: 30_000, stableMs: 15_000 } as const

/**
 * Full jitter ("Exponential Backoff And Jitter", AWS architecture blog): attempt `n`
 * (from 0) waits `random() * min(maxMs, baseMs * 2^n)`, so a restarted relay is not hit
 * by every browser at the same instant. The counter only goes back to 0 through `reset()`.
 */
export class Backoff {
  private attempt = 0

  constructor(
    private readonly baseMs: number,
    private readonly maxMs: number,
    private readonly random: () => number,
  ) {}

  /** How many delays were handed out since the last reset. */
  get attempts(): number {
    return this.attempt
  }

  /** The next delay, in ms: uniform in [0, min(maxMs, baseMs * 2^attempt)). */
  next(): number {
    // 2^31 already exceeds any sensible cap; stop growing the exponent there.
    const ceiling = Math.min(this.maxMs, this.baseMs * 2 ** Math.min(this.attempt, 31))
    this.attempt += 1
    const r = this.random()
    return Math.floor((r >= 0 && r < 1 ? r : 0) * ceiling)
  }

  /** Back to the first attempt (after a connection stayed open long enough). */
  reset(): void {
    this.attempt = 0
  }
}

import { performance } from 'node:perf_hooks'

/** A stream whose writes can be held back and then sent together (a net/TLS socket). */
export interface Corkable {
  cork(): void
  uncork(): void
}

/**
 * Longest a batch holds writes, in ms of the event loop's time since its first hold, before
 * it is sent from within the loop that is still adding to it. A burst of publishes into
 * small rooms is fanned out in well under this, so its frames still leave each socket as
 * one record; a fan-out to thousands of sockets sends what it has every this-many ms
 * instead of holding the first socket's frame until the last socket has one.
 */
export const BATCH_BUDGET_MS = 2

/** Holds between two looks at the clock. */
const CLOCK_EVERY = 32

/**
 * Holds back the writes to a socket from its first write in a turn of the event loop
 * until that turn's I/O is done (one `setImmediate` for all sockets), so that the
 * frames of several messages fanned out in the same turn — a burst of publishes — leave
 * each socket as one TLS record and one system call instead of one per frame. The hold
 * is bounded: once a batch is older than `budgetMs`, the next hold sends everything held
 * so far (progressively, from within a long fan-out loop) and starts a new batch.
 */
export class WriteBatch {
  private held: Corkable[] = []
  private scheduled = false
  private since = 0

  constructor(
    private readonly budgetMs = BATCH_BUDGET_MS,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** Cork `stream` until the end of this turn. The caller adds each stream once per turn. */
  hold(stream: Corkable): void {
    const count = this.held.length
    if (count === 0) this.since = this.now()
    else if (count % CLOCK_EVERY === 0 && this.now() - this.since >= this.budgetMs) {
      this.send()
      this.since = this.now()
    }
    stream.cork()
    this.held.push(stream)
    if (!this.scheduled) {
      this.scheduled = true
      setImmediate(this.flush)
    }
  }

  /** Send everything held (the timer calls this). */
  readonly flush = (): void => {
    this.scheduled = false
    this.send()
  }

  private send(): void {
    const held = this.held
    this.held = []
    for (const stream of held) stream.uncork()
  }
}

/** A stream whose writes can be held back and then sent together (a net/TLS socket). */
export interface Corkable {
  cork(): void
  uncork(): void
}

/**
 * Holds back the writes to a socket from its first write in a turn of the event loop
 * until that turn's I/O is done (one `setImmediate` for all sockets), so that the
 * frames of several messages fanned out in the same turn — a burst of publishes — leave
 * each socket as one TLS record and one system call instead of one per frame. A single
 * message is not delayed beyond the end of its own fan-out loop.
 */
export class WriteBatch {
  private held: Corkable[] = []
  private scheduled = false

  /** Cork `stream` until the end of this turn. The caller adds each stream once per turn. */
  hold(stream: Corkable): void {
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
    const held = this.held
    this.held = []
    for (const stream of held) stream.uncork()
  }
}

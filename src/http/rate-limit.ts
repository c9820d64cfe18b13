/**
 * Most distinct keys tracked at once; beyond it the oldest window is forgotten, so that a
 * newcomer is never refused for want of room: an address flood costs
 * at most this many entries and never locks the backend out.
 */
const MAX_KEYS = 100_000

interface Window {
  start: number
  count: number
}

/**
 * Fixed-window request counter per key (peer address). Bounded in memory: expired
 * windows are dropped by `sweep`, which runs once per window, and the table never holds
 * more than MAX_KEYS (the oldest window goes first; the Map keeps insertion order and a
 * window that restarts is re-inserted at the end).
 */
export class RateLimiter {
  private readonly windows = new Map<string, Window>()
  private readonly timer: NodeJS.Timeout

  constructor(
    private readonly limit: number,
    private readonly windowMs: number,
    private readonly now: () => number = Date.now,
  ) {
    this.timer = setInterval(() => {
      this.sweep()
    }, windowMs)
    this.timer.unref()
  }

  /** Count one request for `key`; false when it is over the limit. */
  take(key: string): boolean {
    const now = this.now()
    let w = this.windows.get(key)
    if (!w || now - w.start >= this.windowMs) {
      if (w) this.windows.delete(key)
      else if (this.windows.size >= MAX_KEYS) {
        const oldest = this.windows.keys().next()
        if (oldest.done !== true) this.windows.delete(oldest.value)
      }
      w = { start: now, count: 0 }
      this.windows.set(key, w)
    }
    w.count += 1
    return w.count <= this.limit
  }

  /** Whether `key` has used up its allowance in the current window (counts nothing). */
  exhausted(key: string): boolean {
    const w = this.windows.get(key)
    return w !== undefined && this.now() - w.start < this.windowMs && w.count >= this.limit
  }

  /** Drop finished windows. */
  sweep(): void {
    const now = this.now()
    for (const [key, w] of this.windows)
      if (now - w.start >= this.windowMs) this.windows.delete(key)
  }

  /** Keys tracked, for tests. */
  get size(): number {
    return this.windows.size
  }

  stop(): void {
    clearInterval(this.timer)
  }
}

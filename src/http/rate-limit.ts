/** Most distinct keys tracked at once; beyond it new keys are limited until a sweep. */
const MAX_KEYS = 100_000

interface Window {
  start: number
  count: number
}

/**
 * Fixed-window request counter per key (peer address). Bounded in memory: expired
 * windows are dropped by `sweep`, which runs once per window.
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
      if (!w && this.windows.size >= MAX_KEYS) {
        this.sweep()
        if (this.windows.size >= MAX_KEYS) return false
      }
      w = { start: now, count: 0 }
      this.windows.set(key, w)
    }
    w.count += 1
    return w.count <= this.limit
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

/**
 * Connections per client address that have not subscribed yet
 * (`max_unauthenticated_per_address`), shared by /ws and socket.io: one address cannot
 * fill `max_connections` with sockets that never authenticate, each held until
 * `auth_timeout_ms`. Memory is bounded by the open connections: an address leaves the
 * table when its count drops to zero.
 */
export class UnauthenticatedLimit {
  private readonly counts = new Map<string, number>()

  constructor(private readonly max: number) {}

  /**
   * Count one more unauthenticated connection of `address`. Null when the address already
   * holds `max` of them (refuse the connection); otherwise the function that gives the
   * place back, to call on the first successful subscribe and on close: calling it again
   * does nothing.
   */
  admit(address: string): (() => void) | null {
    const held = this.counts.get(address) ?? 0
    if (held >= this.max) return null
    this.counts.set(address, held + 1)
    let released = false
    return () => {
      if (released) return
      released = true
      const now = (this.counts.get(address) ?? 1) - 1
      if (now <= 0) this.counts.delete(address)
      else this.counts.set(address, now)
    }
  }

  /** Unauthenticated connections `address` holds now. */
  held(address: string): number {
    return this.counts.get(address) ?? 0
  }

  /** Addresses holding at least one, for tests. */
  get size(): number {
    return this.counts.size
  }
}

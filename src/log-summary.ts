/** One refused request, connection or frame, as it is logged. */
export interface Refusal {
  /** The client address (behind `trusted_proxies`, the real one). */
  readonly address: string
  /** What was refused and why, as a stable code: `RELAY_ERR_…`, `Unauthorized`, `close_4008`. */
  readonly reason: string
  /** Short context (a message, a connection id); never a token or key. */
  readonly [field: string]: string | number | boolean | null | undefined
}

/** What the summariser writes to: a pino (or fastify) logger. */
export interface InfoLog {
  info(fields: object, message: string): void
}

/** How the summariser bounds what it writes. */
export interface SummaryOptions {
  /** Length of one interval; default 60 s. */
  readonly intervalMs?: number
  /** Distinct (address, reason) pairs tracked per interval; default 1000. */
  readonly maxPairs?: number
}

/** Longest string field written; longer ones are cut. */
const MAX_FIELD_CHARS = 256
/**
 * Field names dropped whatever their value: a caller's mistake must not put a secret in
 * the logs (pino's redaction covers `token` too, but only where its paths say).
 */
const SECRET_FIELD = /token|key|secret|password|authori[sz]ation|cookie|jwt/i

interface Pair {
  readonly first: Refusal
  /** Refusals of the pair after the first in this interval: not written one by one. */
  more: number
}

/**
 * Logs refusals without letting a flood flood the logs. Per interval, the first refusal
 * of each (address, reason) pair is written at once, with its details; the others are
 * counted and written as one summary line per pair when the interval ends. Beyond
 * `maxPairs` pairs in one interval, new pairs are counted per reason only (one line per
 * reason, address `*`). So an interval writes at most 2 × maxPairs lines plus one per
 * reason, whatever arrives: 100,000 refusals of one address are two lines.
 */
export class RefusalSummariser {
  private pairs = new Map<string, Pair>()
  private overflow = new Map<string, number>()
  private readonly intervalMs: number
  private readonly maxPairs: number
  private readonly timer: NodeJS.Timeout

  constructor(
    private readonly log: InfoLog,
    options: SummaryOptions = {},
  ) {
    this.intervalMs = options.intervalMs ?? 60_000
    this.maxPairs = options.maxPairs ?? 1000
    this.timer = setInterval(() => {
      this.flush()
    }, this.intervalMs)
    this.timer.unref()
  }

  /** Count one refusal; written now if it is the first of its pair in this interval. */
  refused(refusal: Refusal): void {
    // Per door as well: a flood on /ws does not hide the same refusal of a publish.
    const key = `${refusal.address}\u0000${refusal.reason}\u0000${String(refusal.endpoint ?? '')}`
    const pair = this.pairs.get(key)
    if (pair) {
      pair.more += 1
      return
    }
    if (this.pairs.size >= this.maxPairs) {
      this.overflow.set(refusal.reason, (this.overflow.get(refusal.reason) ?? 0) + 1)
      return
    }
    const first = clean(refusal)
    this.pairs.set(key, { first, more: 0 })
    this.log.info(first, 'refused')
  }

  /** End the interval: one summary line per pair refused more than once, and per overflowing reason. */
  flush(): void {
    const intervalS = this.intervalMs / 1000
    for (const { first, more } of this.pairs.values()) {
      if (more === 0) continue
      this.log.info(
        {
          address: first.address,
          reason: first.reason,
          ...(first.endpoint !== undefined ? { endpoint: first.endpoint } : {}),
          count: more + 1,
          interval_s: intervalS,
        },
        'refusals summarised',
      )
    }
    for (const [reason, count] of this.overflow) {
      this.log.info(
        { address: '*', reason, count, interval_s: intervalS, addresses_over: this.maxPairs },
        'refusals summarised (more addresses than tracked)',
      )
    }
    this.pairs = new Map()
    this.overflow = new Map()
  }

  /** Write what is counted and stop the interval timer. */
  close(): void {
    clearInterval(this.timer)
    this.flush()
  }
}

/** The refusal as written: no secret-named field, short strings. */
function clean(refusal: Refusal): Refusal {
  const out: Record<string, string | number | boolean | null> = {}
  for (const [name, value] of Object.entries(refusal)) {
    if (value === undefined || (SECRET_FIELD.test(name) && name !== 'reason')) continue
    out[name] =
      typeof value === 'string' && value.length > MAX_FIELD_CHARS
        ? `${value.slice(0, MAX_FIELD_CHARS)}…`
        : value
  }
  return out as Refusal
}

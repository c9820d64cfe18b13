/** A relay logger whose output tests read back. */
import { Writable } from 'node:stream'
import { createLogger, type Logger } from '../../src/log.js'

/** What a `logSink` has collected. */
export interface LogSink {
  readonly logger: Logger
  /** Every line written so far, parsed. */
  readonly lines: Record<string, unknown>[]
  /** Everything written so far, as written (to look for secrets in). */
  readonly text: () => string
}

/** A logger at `level` whose JSON lines are kept. */
export function logSink(level = 'info'): LogSink {
  const lines: Record<string, unknown>[] = []
  let text = ''
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      const written = chunk.toString()
      text += written
      for (const line of written.split('\n')) {
        if (line !== '') lines.push(JSON.parse(line) as Record<string, unknown>)
      }
      done()
    },
  })
  return { logger: createLogger(level, stream), lines, text: () => text }
}

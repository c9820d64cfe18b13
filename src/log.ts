import type { FastifyBaseLogger } from 'fastify'
import {
  pino,
  type Bindings,
  type ChildLoggerOptions,
  type DestinationStream,
  type LevelWithSilentOrString,
  type Logger,
  type LoggerOptions,
} from 'pino'

/** Paths pino redacts wherever they appear: the key, tokens, Authorization headers. */
export const REDACT_PATHS = [
  'nodejs_server_jwt_private_key',
  '*.nodejs_server_jwt_private_key',
  'token',
  '*.token',
  'req.headers.authorization',
  'req.headers.cookie',
  'headers.authorization',
  'config.nodejs_server_jwt_private_key',
  'metrics_bearer_token',
  '*.metrics_bearer_token',
]

/** pino options shared by the process logger and fastify's. */
export function logOptions(level: LoggerOptions['level']): LoggerOptions {
  return {
    level,
    base: { service: 'tuleap-realtime' },
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }) },
  }
}

/** The process logger: JSON lines to stdout (journald collects them), or to `destination`. */
export function createLogger(
  level: LoggerOptions['level'],
  destination?: DestinationStream,
): Logger {
  return destination ? pino(logOptions(level), destination) : pino(logOptions(level))
}

type LogMethod = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent'

/**
 * A request's logger that becomes a pino child (with its bindings, the request id) only
 * when something is logged through it. fastify makes one logger per request, and a pino
 * child serialises its bindings and copies its redaction at once — about a sixth of the
 * relay's CPU from a request's headers to its route in the many-rooms profile — while a
 * publish that succeeds logs nothing (request logging is off).
 */
export class DeferredChildLogger implements FastifyBaseLogger {
  #child: FastifyBaseLogger | undefined
  readonly #parent: FastifyBaseLogger
  readonly #bindings: Bindings
  readonly #options: ChildLoggerOptions

  constructor(parent: FastifyBaseLogger, bindings: Bindings, options: ChildLoggerOptions = {}) {
    this.#parent = parent
    this.#bindings = bindings
    this.#options = options
  }

  /** The pino child, made on first use and kept. */
  private get made(): FastifyBaseLogger {
    this.#child ??= this.#parent.child(this.#bindings, this.#options)
    return this.#child
  }

  get level(): LevelWithSilentOrString {
    return this.#child?.level ?? this.#options.level ?? this.#parent.level
  }
  set level(level: LevelWithSilentOrString) {
    this.made.level = level
  }

  fatal(...args: unknown[]): void {
    this.forward('fatal', args)
  }
  error(...args: unknown[]): void {
    this.forward('error', args)
  }
  warn(...args: unknown[]): void {
    this.forward('warn', args)
  }
  info(...args: unknown[]): void {
    this.forward('info', args)
  }
  debug(...args: unknown[]): void {
    this.forward('debug', args)
  }
  trace(...args: unknown[]): void {
    this.forward('trace', args)
  }
  silent(...args: unknown[]): void {
    this.forward('silent', args)
  }

  child(bindings: Bindings, options?: ChildLoggerOptions): FastifyBaseLogger {
    return this.made.child(bindings, options)
  }

  private forward(method: LogMethod, args: unknown[]): void {
    const made = this.made
    Reflect.apply(made[method], made, args)
  }
}

/** fastify's `childLoggerFactory`: each request's logger, deferred (DeferredChildLogger). */
export function deferredRequestLogger(
  logger: FastifyBaseLogger,
  bindings: Bindings,
  options: ChildLoggerOptions,
): FastifyBaseLogger {
  return new DeferredChildLogger(logger, bindings, options)
}

export type { Logger }

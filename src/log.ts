import { pino, type Logger, type LoggerOptions, type DestinationStream } from 'pino'

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

export type { Logger }

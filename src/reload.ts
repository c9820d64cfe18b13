import { X509Certificate } from 'node:crypto'
import type { Server as TlsServer } from 'node:tls'
import type { FastifyInstance } from 'fastify'
import { loadConfig, type Config, type ConfigSource } from './config.js'
import { ConfigError } from './errors.js'
import type { Logger } from './log.js'
import { readTlsFiles } from './tls.js'

/**
 * The keys a reload (SIGHUP, `systemctl reload`) applies to the running relay. The TLS
 * files are re-read even when their paths did not change: certbot renews in place.
 */
export const RELOADABLE_KEYS: readonly (keyof Config)[] = [
  'nodejs_server_jwt_private_key',
  'full_path_ssl_cert',
  'full_path_ssl_key',
  'log_level',
]

/** What a successful reload did, as logged (nothing secret: no key, only whether it changed). */
export interface ReloadResult {
  readonly key_changed: boolean
  readonly log_level: Config['log_level']
  /** The new certificate, when TLS is on. */
  readonly certificate: { subject: string; valid_to: string; fingerprint256: string } | null
  /** Changed keys that only a restart applies; the running values stay. */
  readonly restart_needed: readonly string[]
}

const sameValue = (a: unknown, b: unknown): boolean => JSON.stringify(a) === JSON.stringify(b)

/** The top-level keys whose values differ, reloadable ones left out. */
function needingRestart(running: Config, next: Config): string[] {
  return (Object.keys(next) as (keyof Config)[]).filter(
    (key) => !RELOADABLE_KEYS.includes(key) && !sameValue(running[key], next[key]),
  )
}

/**
 * Re-read the configuration from `source` (the file and environment the relay started
 * with) and apply the reloadable keys: new TLS handshakes get the new certificate (open
 * connections keep theirs) and a new session-ticket key (src/tls-tickets.ts), tokens are verified with the new key, the log level changes.
 * All or nothing: on any error the running state is kept and a ConfigError says why.
 * Returns the configuration now in force (reloadable keys new, the others as running).
 */
export function reloadRelay(
  app: FastifyInstance,
  running: Config,
  source: ConfigSource,
  logger: Logger,
): { config: Config; result: ReloadResult } {
  const next = loadConfig(source)
  const restart = needingRestart(running, next)
  if (restart.includes('tls')) {
    throw new ConfigError('tls: switching between TLS and plain HTTP needs a restart')
  }
  // Read and check everything before changing anything.
  const tls = readTlsFiles(next, 'reload')
  let certificate: ReloadResult['certificate'] = null
  if (tls) {
    const x509 = new X509Certificate(tls.cert)
    certificate = {
      subject: x509.subject.replaceAll('\n', ', '),
      valid_to: x509.validTo,
      fingerprint256: x509.fingerprint256,
    }
    // Throws, before anything changed, if the pair does not load (already checked above).
    ;(app.server as unknown as TlsServer).setSecureContext({ cert: tls.cert, key: tls.key })
    // A new session-ticket key too: sessions of the old certificate resume no more.
    app.relay.tickets?.rotate()
  }
  const keyChanged = next.nodejs_server_jwt_private_key !== running.nodejs_server_jwt_private_key
  if (keyChanged) app.relay.verifier.setKey(next.nodejs_server_jwt_private_key)
  logger.level = next.log_level
  const config: Config = Object.freeze({
    ...running,
    nodejs_server_jwt_private_key: next.nodejs_server_jwt_private_key,
    full_path_ssl_cert: next.full_path_ssl_cert,
    full_path_ssl_key: next.full_path_ssl_key,
    log_level: next.log_level,
  })
  return {
    config,
    result: {
      key_changed: keyChanged,
      log_level: next.log_level,
      certificate,
      restart_needed: restart,
    },
  }
}

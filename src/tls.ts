import { readFileSync } from 'node:fs'
import { createSecureContext } from 'node:tls'
import { ConfigError, type Config } from './config.js'

/** The certificate and key, read once (as root, before privileges are dropped). */
export interface TlsFiles {
  readonly cert: Buffer
  readonly key: Buffer
}

/**
 * When the files are read: at start (as root, before dropping privileges) or at a reload
 * (SIGHUP, as the unprivileged process_uid/process_gid).
 */
export type TlsReadTime = 'start' | 'reload'

const PERMISSION_HINT: Record<TlsReadTime, string> = {
  start:
    ' (permission denied: start the relay as root, it reads TLS files before dropping privileges)',
  reload:
    ' (permission denied: a reload reads the files as process_uid/process_gid; make them readable by that group, e.g. chgrp tuleaprt FILE && chmod 0640 FILE)',
}

function readPem(
  configKey: 'full_path_ssl_cert' | 'full_path_ssl_key',
  path: string,
  when: TlsReadTime,
): Buffer {
  try {
    return readFileSync(path)
  } catch (err) {
    const reason = (err as NodeJS.ErrnoException).code === 'EACCES' ? PERMISSION_HINT[when] : ''
    throw new ConfigError(`${configKey}: cannot read ${path}: ${(err as Error).message}${reason}`)
  }
}

/**
 * Read the configured certificate and key and check that they form a usable TLS pair.
 * Returns null when `tls` is false (plain HTTP behind a reverse proxy on loopback).
 */
export function readTlsFiles(config: Config, when: TlsReadTime = 'start'): TlsFiles | null {
  if (!config.tls) return null
  const cert = readPem('full_path_ssl_cert', config.full_path_ssl_cert, when)
  const key = readPem('full_path_ssl_key', config.full_path_ssl_key, when)
  try {
    createSecureContext({ cert, key })
  } catch (err) {
    throw new ConfigError(
      `full_path_ssl_cert/full_path_ssl_key: ${config.full_path_ssl_cert} and ${config.full_path_ssl_key} do not load as a TLS pair: ${(err as Error).message}`,
    )
  }
  return { cert, key }
}

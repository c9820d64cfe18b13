import { readFileSync } from 'node:fs'
import { createPrivateKey, X509Certificate, type KeyObject } from 'node:crypto'
import { createSecureContext } from 'node:tls'
import type { Config } from './config.js'
import { ConfigError } from './errors.js'

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
 * Why `cert` (the first certificate of the chain) and `key` are not a usable pair, or null:
 * not PEM, an encrypted key (nothing could type its passphrase), a key that is not the
 * certificate's (X509Certificate.checkPrivateKey), or anything else OpenSSL refuses.
 */
export function pairProblem(cert: Buffer, key: Buffer): string | null {
  let x509: X509Certificate
  try {
    x509 = new X509Certificate(cert)
  } catch (err) {
    return `the certificate file holds no PEM certificate (${(err as Error).message})`
  }
  let privateKey: KeyObject
  try {
    privateKey = createPrivateKey(key)
  } catch (err) {
    const message = (err as Error).message
    // PKCS#8 ("BEGIN ENCRYPTED PRIVATE KEY") or traditional ("Proc-Type: 4,ENCRYPTED").
    return /-----BEGIN ENCRYPTED PRIVATE KEY-----|Proc-Type: 4,ENCRYPTED/.test(
      key.toString('latin1'),
    )
      ? 'the key file is encrypted; the relay needs it without a passphrase (openssl pkey -in KEY -out KEY.plain)'
      : `the key file holds no PEM private key (${message})`
  }
  if (!x509.checkPrivateKey(privateKey)) {
    return "the key is not the certificate's private key (key values mismatch)"
  }
  try {
    createSecureContext({ cert, key })
  } catch (err) {
    return (err as Error).message
  }
  return null
}

/**
 * Read the configured certificate and key and check that they form a usable TLS pair.
 * Returns null when `tls` is false (plain HTTP behind a reverse proxy on loopback).
 */
export function readTlsFiles(config: Config, when: TlsReadTime = 'start'): TlsFiles | null {
  if (!config.tls) return null
  const cert = readPem('full_path_ssl_cert', config.full_path_ssl_cert, when)
  const key = readPem('full_path_ssl_key', config.full_path_ssl_key, when)
  const problem = pairProblem(cert, key)
  if (problem !== null) {
    throw new ConfigError(
      `full_path_ssl_cert/full_path_ssl_key: ${config.full_path_ssl_cert} and ${config.full_path_ssl_key} do not load as a TLS pair: ${problem}`,
    )
  }
  return { cert, key }
}

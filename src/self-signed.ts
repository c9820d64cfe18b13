import { spawnSync } from 'node:child_process'
import { chmodSync, existsSync } from 'node:fs'
import { ConfigError } from './errors.js'

/** Default names of a self-signed certificate: this host as localhost and loopback. */
export const DEFAULT_SAN = 'DNS:localhost,IP:127.0.0.1,IP:::1'

/**
 * Make a self-signed certificate and key with openssl, as ssl/make-self-signed.sh does
 * (P-256, 825 days, serverAuth), without a shell: an RPM host has openssl, not our script.
 * The key is written 0600 and never overwritten. Throws a ConfigError saying what to do.
 */
export function makeSelfSigned(
  certFile: string,
  keyFile: string,
  name = 'localhost',
  san = DEFAULT_SAN,
): void {
  if (existsSync(keyFile)) {
    throw new ConfigError(`${keyFile} exists; remove it to make a new pair`)
  }
  const made = spawnSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-sha256',
      '-days',
      '825',
      '-subj',
      `/CN=${name}`,
      '-addext',
      `subjectAltName=${san}`,
      '-addext',
      'basicConstraints=critical,CA:FALSE',
      '-addext',
      'keyUsage=critical,digitalSignature',
      '-addext',
      'extendedKeyUsage=serverAuth',
      '-keyout',
      keyFile,
      '-out',
      certFile,
    ],
    { encoding: 'utf8', stdio: ['ignore', 'ignore', 'pipe'], timeout: 30_000 },
  )
  if (made.error !== undefined) {
    throw new ConfigError(
      'openssl is not installed (Debian: apt-get install openssl; RHEL: dnf install openssl)',
    )
  }
  if (made.status !== 0) {
    const last = made.stderr.trim().split('\n').at(-1) ?? ''
    throw new ConfigError(`openssl could not make the certificate: ${last}`)
  }
  chmodSync(keyFile, 0o600)
  chmodSync(certFile, 0o644)
}

import { readFileSync } from 'node:fs'
import type { LookupFunction } from 'node:net'
import { rootCertificates } from 'node:tls'
import type { Config } from '../config.js'
import { UsageError } from './command.js'

/** TLS options of the commands that connect to the relay. */
export interface TrustOptions {
  readonly ca?: (string | Buffer)[]
  readonly rejectUnauthorized: boolean
  /** --resolve: where a host name connects (the certificate is still checked against it). */
  readonly lookup?: LookupFunction
}

/**
 * What the commands trust: the system CAs plus --ca FILE, plus the relay's own
 * certificate when readable (a self-signed one then works without flags);
 * --insecure turns verification off.
 */
export function trustFor(
  config: Config,
  caFile: string | undefined,
  insecure: boolean,
  lookup?: LookupFunction,
): TrustOptions {
  const resolved = lookup === undefined ? {} : { lookup }
  if (insecure) return { rejectUnauthorized: false, ...resolved }
  const ca: (string | Buffer)[] = [...rootCertificates]
  if (caFile !== undefined) {
    try {
      ca.push(readFileSync(caFile))
    } catch (err) {
      throw new UsageError(`--ca: cannot read ${caFile}: ${(err as Error).message}`)
    }
  }
  try {
    ca.push(readFileSync(config.full_path_ssl_cert))
  } catch {
    // Not readable here (another host, or not root): the system CAs and --ca decide.
  }
  return { ca, rejectUnauthorized: true, ...resolved }
}

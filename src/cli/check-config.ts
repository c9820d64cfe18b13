import { X509Certificate } from 'node:crypto'
import { configWarnings, loadConfig } from '../config.js'
import { ConfigError } from '../errors.js'
import { checkProcessIds, systemDirectory, type IdDirectory } from '../privileges.js'
import { keyInEnvironment } from '../key-file.js'
import { readTlsFiles } from '../tls.js'
import { parseOptions, stringOptions, type Command, type Io } from './command.js'

export type { Io } from './command.js'

/** Days before its end from which a certificate draws a warning. */
const EXPIRY_WARNING_DAYS = 14

/** A warning about the served certificate's dates, or null. */
function certificateWarning(cert: Buffer, file: string, nowMs: number): string | null {
  const x509 = new X509Certificate(cert)
  const end = Date.parse(x509.validTo)
  if (end <= nowMs) return `full_path_ssl_cert: ${file} expired on ${x509.validTo}`
  const days = Math.floor((end - nowMs) / 86_400_000)
  if (days < EXPIRY_WARNING_DAYS) {
    return `full_path_ssl_cert: ${file} expires in ${days} days (${x509.validTo})`
  }
  return null
}

/**
 * `tuleap-realtime check-config --config=PATH`: the startup validation without listening:
 * every key, the JSON itself (syntax errors with line and column, no quoted numbers),
 * process_uid/process_gid naming a user and group of this host, the certificate and key
 * readable and matching. Like `nginx -t`: exit 0 and "ok", or exit 1 and one line per
 * problem, each as the relay would print it at start.
 */
export function checkConfig(
  file: string | undefined,
  io: Io,
  directory: IdDirectory = systemDirectory(),
): number {
  // Without --config, the environment alone (a container) when it carries the key.
  const fromEnv = file === undefined && keyInEnvironment(io.env)
  if (file === undefined && !fromEnv) {
    io.err('check-config: --config=PATH is required (or PRIVATE_KEY / PRIVATE_KEY_FILE)')
    return 2
  }
  const name = file ?? 'environment'
  try {
    const config = loadConfig({ file, env: io.env })
    checkProcessIds(config, directory)
    const tls = readTlsFiles(config)
    const warnings = configWarnings(config)
    const dates = tls ? certificateWarning(tls.cert, config.full_path_ssl_cert, Date.now()) : null
    if (dates !== null) warnings.push(dates)
    for (const warning of warnings) io.err(`check-config: ${name}: warning: ${warning}`)
    io.out(
      `check-config: ${name}: ok (${config.tls ? 'wss' : 'ws, behind a proxy'} on ${config.address} port ${config.port})`,
    )
    return 0
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err
    for (const line of err.message.split('\n')) io.err(`check-config: ${name}: ${line}`)
    return 1
  }
}

/** `check-config` as an operator command. */
export const checkConfigCommand: Command = {
  name: 'check-config',
  summary: 'validate the configuration and TLS files, like nginx -t',
  usage: `Usage: tuleap-realtime check-config --config=PATH
       tuleap-realtime check-config            (PRIVATE_KEY or PRIVATE_KEY_FILE set: the environment alone)

Runs the startup validation without listening: every key and its JSON type (a port is a
number, not "8443"), JSON syntax errors with their line and column, the key length,
process_uid/process_gid (the user and group exist on this host), the TLS certificate and
key (readable, and the key is the certificate's). Exit 0 and "ok", or 1 and one line per
problem. Run it before "systemctl restart tuleap-realtime".`,
  run(args, io) {
    const values = parseOptions(args, stringOptions('config'))
    return Promise.resolve(checkConfig(values.config, io))
  },
}

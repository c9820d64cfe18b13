import { ConfigError, loadConfig } from '../config.js'
import { readTlsFiles } from '../tls.js'

/** Output streams of a command, for tests. */
export interface Io {
  readonly out: (line: string) => void
  readonly err: (line: string) => void
  readonly env: NodeJS.ProcessEnv
}

/**
 * `tuleap-realtime check-config --config=PATH`: the startup validation, including that
 * the certificate and key load as a TLS pair, without listening. Like `nginx -t`:
 * exit 0 and "ok", or exit 1 and the reason.
 */
export function checkConfig(file: string | undefined, io: Io): number {
  if (file === undefined) {
    io.err('check-config: --config=PATH is required')
    return 2
  }
  try {
    const config = loadConfig({ file, env: io.env })
    readTlsFiles(config)
    io.out(
      `check-config: ${file}: ok (${config.tls ? 'wss' : 'ws, behind a proxy'} on ${config.address} port ${config.port})`,
    )
    return 0
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err
    io.err(`check-config: ${file}: ${err.message}`)
    return 1
  }
}

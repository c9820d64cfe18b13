import { parseArgs } from 'node:util'
import { ConfigError, configWarnings, loadConfig } from '../config.js'
import { keyInEnvironment } from '../key-file.js'
import { readTlsFiles } from '../tls.js'
import { parseOptions, type Command, type Io } from './command.js'

export type { Io } from './command.js'

/**
 * `tuleap-realtime check-config --config=PATH`: the startup validation, including that
 * the certificate and key load as a TLS pair, without listening. Like `nginx -t`:
 * exit 0 and "ok", or exit 1 and the reason.
 */
export function checkConfig(file: string | undefined, io: Io): number {
  // Without --config, the environment alone (a container) when it carries the key.
  const fromEnv = file === undefined && keyInEnvironment(io.env)
  if (file === undefined && !fromEnv) {
    io.err('check-config: --config=PATH is required (or PRIVATE_KEY / PRIVATE_KEY_FILE)')
    return 2
  }
  const name = file ?? 'environment'
  try {
    const config = loadConfig({ file, env: io.env })
    readTlsFiles(config)
    for (const warning of configWarnings(config))
      io.err(`check-config: ${name}: warning: ${warning}`)
    io.out(
      `check-config: ${name}: ok (${config.tls ? 'wss' : 'ws, behind a proxy'} on ${config.address} port ${config.port})`,
    )
    return 0
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err
    io.err(`check-config: ${name}: ${err.message}`)
    return 1
  }
}

/** `check-config` as an operator command. */
export const checkConfigCommand: Command = {
  name: 'check-config',
  summary: 'validate the configuration and TLS files, like nginx -t',
  usage: `Usage: tuleap-realtime check-config --config=PATH
       tuleap-realtime check-config            (PRIVATE_KEY or PRIVATE_KEY_FILE set: the environment alone)

Runs the startup validation (every key, the key length, the TLS certificate and key as
a pair) without listening. Exit 0 and "ok", or 1 and the reason.`,
  run(args, io) {
    const { values } = parseOptions(() =>
      parseArgs({ args, strict: true, options: { config: { type: 'string' } } }),
    )
    return Promise.resolve(checkConfig(values.config, io))
  },
}

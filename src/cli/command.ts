import { existsSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { ConfigError, loadConfig, type Config } from '../config.js'
import { projectRoot } from '../dev-defaults.js'
import { keyInEnvironment } from '../key-file.js'

/** Output streams and environment of a command, injectable for tests. */
export interface Io {
  readonly out: (line: string) => void
  readonly err: (line: string) => void
  readonly env: NodeJS.ProcessEnv
}

/** An operator command: `tuleap-realtime <name> [options]`. */
export interface Command {
  readonly name: string
  readonly summary: string
  readonly usage: string
  /** Resolves to the process exit code. */
  run(args: string[], io: Io): Promise<number>
}

/** Exit codes shared by every command. */
export const EXIT = { OK: 0, FAILURE: 1, USAGE: 2 } as const

/** A usage error: the command prints it with its usage and exits 2. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'UsageError'
  }
}

/** Run a parseArgs call, turning its errors into usage errors. */
export function parseOptions<R>(parse: () => R): R {
  try {
    return parse()
  } catch (err) {
    throw new UsageError((err as Error).message)
  }
}

/** Where the operator commands look for a config when --config is not given. */
export const SYSTEM_CONFIG = '/etc/tuleap-realtime/config.json'

/**
 * The config a command uses: --config; else the environment alone when it carries the key
 * (PRIVATE_KEY or PRIVATE_KEY_FILE: a container); else the installed one, else development
 * mode's. Only the key and the listening address and port matter to the commands.
 */
export function commandConfig(
  file: string | undefined,
  io: Io,
): { config: Config; file: string | null } {
  if (file === undefined && keyInEnvironment(io.env)) {
    return { config: loadConfig({ env: io.env }), file: null }
  }
  const dev = devConfigFile()
  const candidates = file !== undefined ? [file] : [SYSTEM_CONFIG, dev]
  const found = candidates.find((f) => f !== null && existsSync(f)) ?? null
  if (found === null) {
    throw new ConfigError(
      file !== undefined
        ? `${file}: no such file`
        : `no config found (${SYSTEM_CONFIG}); pass --config=PATH`,
    )
  }
  // Development mode's config names its certificate only at run time: add it here too.
  const values =
    dev !== null && resolve(found) === dev
      ? {
          full_path_ssl_cert: join(dirname(found), 'dev-cert.pem'),
          full_path_ssl_key: join(dirname(found), 'dev-key.pem'),
        }
      : {}
  return { config: loadConfig({ file: found, env: io.env, values }), file: found }
}

function devConfigFile(): string | null {
  try {
    return join(projectRoot(), 'ssl', 'dev-config.json')
  } catch {
    return null
  }
}

/** The relay's base URL from its config: loopback, its port, https unless tls is false. */
export function defaultUrl(config: Config): string {
  const host =
    config.address === '::' || config.address === '0.0.0.0' ? 'localhost' : config.address
  const bracketed = host.includes(':') ? `[${host}]` : host
  return `${config.tls ? 'https' : 'http'}://${bracketed}:${config.port}`
}

/** Parse a duration like 30m, 90s, 2h or 1800 (seconds) into seconds. */
export function parseDuration(text: string): number {
  const match = /^(\d+)([smh]?)$/.exec(text.trim())
  if (!match) throw new UsageError(`invalid duration "${text}" (examples: 90s, 30m, 2h)`)
  const unit = match[2] === 'h' ? 3600 : match[2] === 'm' ? 60 : 1
  return Number(match[1]) * unit
}

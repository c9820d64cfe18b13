import { lookup as dnsLookup } from 'node:dns'
import { existsSync } from 'node:fs'
import { isIP, type LookupFunction } from 'node:net'
import { dirname, join, resolve } from 'node:path'
import { parseArgs, type ParseArgsConfig } from 'node:util'
import { loadConfig, type Config } from '../config.js'
import { ConfigError } from '../errors.js'
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

/** The spec of options that take a value, `--name=VALUE`, one per name. */
export function stringOptions<K extends string>(...names: K[]): Record<K, { type: 'string' }> {
  return Object.fromEntries(names.map((name) => [name, { type: 'string' }])) as Record<
    K,
    { type: 'string' }
  >
}

/** The options of the commands that reach a relay: where, and how to trust its certificate. */
export const CONNECTION_OPTIONS = {
  ...stringOptions('url', 'config', 'ca', 'resolve'),
  insecure: { type: 'boolean' },
} as const

/** An option spec, as parseArgs takes it. */
type OptionSpecs = NonNullable<ParseArgsConfig['options']>

/** The values parseArgs gives for `options` in strict mode. */
type OptionValues<O extends OptionSpecs> = ReturnType<
  typeof parseArgs<{ args: string[]; strict: true; options: O }>
>['values']

/**
 * The values of `options` in `args`, strictly: an unknown option, a missing value or a
 * positional argument is a usage error.
 */
export function parseOptions<const O extends OptionSpecs>(
  args: string[],
  options: O,
): OptionValues<O> {
  try {
    return parseArgs({ args, strict: true, options }).values
  } catch (err) {
    throw new UsageError((err as Error).message)
  }
}

/** Where the operator commands look for a config when --config is not given. */
export const SYSTEM_CONFIG = '/etc/tuleap-realtime/config.json'

/** A stand-in key for commands that sign nothing (`listen --token`): never used to sign. */
const UNUSED_KEY = 'unused-by-this-command-'.repeat(4)

/** Where a key error sends the admin, beside `tuleap-realtime genkey`. */
const KEY_HINT =
  'the commands read the key from the config or from PRIVATE_KEY, as the relay does; with the key in /etc/tuleap-realtime/env: set -a; . /etc/tuleap-realtime/env; set +a'

/**
 * The config a command uses: --config; else the environment alone when it carries the key
 * (PRIVATE_KEY or PRIVATE_KEY_FILE: a container); else the installed one, else development
 * mode's. Only the key, the listening address and port and the certificate matter to the
 * commands. The key comes from the file or from PRIVATE_KEY (io.env), as for the relay; a
 * command that signs nothing (`needsKey: false`) works without one.
 */
export function commandConfig(
  file: string | undefined,
  io: Io,
  options: { needsKey?: boolean } = {},
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
  const values: Record<string, unknown> =
    dev !== null && resolve(found) === dev
      ? {
          full_path_ssl_cert: join(dirname(found), 'dev-cert.pem'),
          full_path_ssl_key: join(dirname(found), 'dev-key.pem'),
        }
      : {}
  if (options.needsKey === false) values.nodejs_server_jwt_private_key = UNUSED_KEY
  try {
    return { config: loadConfig({ file: found, env: io.env, values }), file: found }
  } catch (err) {
    if (err instanceof ConfigError && err.message.startsWith('nodejs_server_jwt_private_key:')) {
      throw new ConfigError(`${found}: ${err.message} (${KEY_HINT})`)
    }
    throw err
  }
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

/**
 * `--resolve=HOST:ADDRESS` (as curl's, without the port): connect to ADDRESS whenever the
 * URL names HOST, still checking the certificate against HOST. For a relay whose name is
 * not (yet) in DNS, or to reach this host's relay by the name its certificate carries.
 */
export function parseResolve(text: string | undefined): LookupFunction | undefined {
  if (text === undefined) return undefined
  const colon = text.indexOf(':')
  const host = text.slice(0, colon).toLowerCase()
  const address = text.slice(colon + 1).replace(/^\[(.*)\]$/, '$1')
  const family = isIP(address)
  if (colon <= 0 || family === 0) {
    throw new UsageError(`--resolve must be HOST:ADDRESS, e.g. relay.example.com:127.0.0.1`)
  }
  return (hostname, options, callback) => {
    if (hostname.toLowerCase() !== host) {
      dnsLookup(hostname, options, callback)
      return
    }
    if ((options as { all?: boolean }).all === true) {
      ;(callback as unknown as (e: null, a: { address: string; family: number }[]) => void)(null, [
        { address, family },
      ])
    } else callback(null, address, family)
  }
}

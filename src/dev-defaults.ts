import { randomBytes } from 'node:crypto'
import { accessSync, constants, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { ConfigError } from './errors.js'
import { makeSelfSigned } from './self-signed.js'

/** Development mode: where its generated files live, under the project's `ssl/`. */
export interface DevSetup {
  readonly configFile: string
  readonly certFile: string
  readonly keyFile: string
  /** Config values that point at the generated certificate. */
  readonly values: Record<string, unknown>
}

/** Where development mode keeps its files instead of the project's `ssl/`, when set. */
export const DEV_DIR_ENV = 'TULEAP_REALTIME_DEV_DIR'

function writable(dir: string): boolean {
  try {
    accessSync(dir, constants.W_OK)
    return true
  } catch {
    return false
  }
}

/** Started as root in development mode, the relay drops to this user and group (nobody). */
export const DEV_UNPRIVILEGED_ID = 65534

/** Port and address of development mode (non-privileged, loopback only). */
export const DEV_PORT = 4443
export const DEV_ADDRESS = '127.0.0.1'

/** The project root: the nearest folder above this module holding our package.json. */
export function projectRoot(from = dirname(fileURLToPath(import.meta.url))): string {
  let dir = from
  for (;;) {
    const pkg = join(dir, 'package.json')
    if (
      existsSync(pkg) &&
      (JSON.parse(readFileSync(pkg, 'utf8')) as { name?: string }).name === 'tuleap-realtime'
    ) {
      return dir
    }
    const parent = dirname(dir)
    if (parent === dir)
      throw new ConfigError('cannot find the project root for development mode; pass --config=PATH')
    dir = parent
  }
}

/**
 * Make what development mode needs, once: a self-signed certificate (SAN localhost,
 * 127.0.0.1, ::1) made with openssl (src/self-signed.ts), and a config file holding a random
 * 64-byte key (mode 0600), in `ssl` (default: the project's `ssl/`). Existing files are
 * kept. Never used when --config is given.
 */
export function ensureDevSetup(root = projectRoot(), ssl = join(root, 'ssl')): DevSetup {
  // An installed copy (the RPM's /usr/lib/tuleap-realtime) is not a place to write keys.
  if (/^\/usr\/(lib|lib64|share)\//.test(ssl) || !writable(existsSync(ssl) ? ssl : dirname(ssl))) {
    throw new ConfigError(
      `development mode writes its key and certificate in ${ssl}, which is not writable (an installed copy?): run the relay with --config=/etc/tuleap-realtime/config.json, or set ${DEV_DIR_ENV} to a writable directory`,
    )
  }
  mkdirSync(ssl, { recursive: true })
  const certFile = join(ssl, 'dev-cert.pem')
  const keyFile = join(ssl, 'dev-key.pem')
  const configFile = join(ssl, 'dev-config.json')
  if (!existsSync(certFile) || !existsSync(keyFile)) {
    try {
      makeSelfSigned(certFile, keyFile)
    } catch (err) {
      throw new ConfigError(
        `development mode: cannot make a self-signed certificate: ${(err as Error).message}`,
      )
    }
  }
  if (!existsSync(configFile)) {
    const dev = {
      nodejs_server_jwt_private_key: randomBytes(64).toString('base64'),
      address: DEV_ADDRESS,
      port: DEV_PORT,
      log_level: 'info',
    }
    writeFileSync(configFile, `${JSON.stringify(dev, null, 2)}\n`, { mode: 0o600, flag: 'wx' })
  }
  const values: Record<string, unknown> = {
    full_path_ssl_cert: certFile,
    full_path_ssl_key: keyFile,
  }
  // Never run as root, even for development: as root, drop to nobody after reading the files.
  if (process.getuid?.() === 0) {
    values.process_uid = DEV_UNPRIVILEGED_ID
    values.process_gid = DEV_UNPRIVILEGED_ID
  }
  return { configFile, certFile, keyFile, values }
}

import { readFileSync } from 'node:fs'
import { isIP } from 'node:net'
import convict from 'convict'
import { proxyEntryProblem } from './http/client-address.js'

/** The relay's configuration: validated once at startup, then frozen and passed around. */
export interface Config {
  readonly nodejs_server_jwt_private_key: string
  readonly full_path_ssl_cert: string
  readonly full_path_ssl_key: string
  readonly tls: boolean
  readonly address: string
  readonly port: number
  readonly process_uid: string | number
  readonly process_gid: string | number
  readonly log_level: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent'
  readonly publish_token_max_lifetime_s: number
  readonly max_publish_bytes: number
  readonly max_client_frame_bytes: number
  readonly auth_timeout_ms: number
  readonly max_rooms_per_connection: number
  readonly history_size: number
  readonly history_ttl_s: number
  readonly expired_grace_s: number
  readonly slow_consumer_bytes: number
  readonly max_connections: number
  readonly presence_max_members: number
  readonly heartbeat_interval_ms: number
  readonly max_frames_per_second: number
  readonly max_malformed_frames: number
  readonly publish_rate_per_minute: number
  readonly allowed_origins: readonly string[]
  readonly trusted_proxies: readonly string[]
  readonly allow_unsigned_loopback_publish: boolean
  readonly shutdown_timeout_ms: number
  readonly metrics: boolean
  readonly metrics_bearer_token: string
  readonly broker: BrokerConfig
}

/** Where messages, history and presence live: this process, or Redis shared by several nodes. */
export interface BrokerConfig {
  readonly type: 'memory' | 'redis'
  /** redis:// or rediss:// URL; may carry a password (sensitive). */
  readonly url: string
  /** Prefix of every Redis key and channel, so that deployments can share one Redis. */
  readonly key_prefix: string
  readonly connect_timeout_ms: number
  /** Start while Redis is unreachable (not ready until it is) instead of exiting. */
  readonly wait_for_redis: boolean
}

/** The placeholder shipped in example configs; the relay refuses to start with it. */
export const PLACEHOLDER_KEY = 'private_key_to_change'
/** Minimum key length in bytes (the key is used as raw UTF-8 bytes). */
export const MIN_KEY_BYTES = 64
/** How an admin makes a key; quoted in every key error. */
export const KEYGEN_HINT = 'generate one with: head -c 64 /dev/urandom | base64'

convict.addFormat({
  name: 'id-or-name',
  validate(value: unknown) {
    if (value === '') return
    if (typeof value === 'number' && Number.isSafeInteger(value) && value >= 0) return
    if (typeof value === 'string' && /^(?:\d+|[a-z_][a-z0-9_.-]*\$?)$/i.test(value)) return
    throw new Error('must be a numeric id or a user/group name, or "" for none')
  },
})

convict.addFormat({
  name: 'string-list',
  validate(value: unknown) {
    if (!Array.isArray(value) || !value.every((v) => typeof v === 'string' && v !== '')) {
      throw new Error('must be an array of non-empty strings')
    }
  },
  // convict coerces every string it sees (file values too): a JSON array text becomes the
  // array (how an environment variable spells a list); any other string stays and is refused.
  coerce(value: string): unknown {
    if (!value.trimStart().startsWith('[')) return value
    try {
      return JSON.parse(value) as unknown
    } catch {
      return value
    }
  },
})

convict.addFormat({
  name: 'proxy-list',
  validate(value: unknown) {
    if (!Array.isArray(value)) throw new Error('must be an array of addresses and CIDRs')
    for (const entry of value) {
      const problem = proxyEntryProblem(entry)
      if (problem !== null) throw new Error(problem)
    }
  },
  coerce(value: string): unknown {
    if (!value.trimStart().startsWith('[')) return value
    try {
      return JSON.parse(value) as unknown
    } catch {
      return value
    }
  },
})

convict.addFormat({
  name: 'strict-boolean',
  validate(value: unknown) {
    if (typeof value !== 'boolean') throw new Error('must be true or false')
  },
  // Only "true"/"false" become booleans: convict's own Boolean coercion turns any other
  // string ("0", "no") into true, which would silently switch options on.
  coerce(value: string): unknown {
    const lower = value.trim().toLowerCase()
    return lower === 'true' ? true : lower === 'false' ? false : value
  },
})

convict.addFormat({
  name: 'listen-address',
  validate(value: unknown) {
    if (typeof value !== 'string' || (value !== 'localhost' && isIP(value) === 0)) {
      throw new Error('must be an IP address ("::" or "0.0.0.0" for all interfaces) or localhost')
    }
  },
})

const positive = (name: string) => ({
  name,
  validate(value: unknown) {
    if (typeof value !== 'number' || !Number.isSafeInteger(value) || value <= 0) {
      throw new Error('must be a positive integer')
    }
  },
  // Environment variables are strings: decimal digits become the number, anything else
  // stays a string and is refused by validate.
  coerce(value: string): unknown {
    return /^\d+$/.test(value.trim()) ? Number(value) : value
  },
})
convict.addFormat(positive('positive-int'))

convict.addFormat({
  name: 'redis-url',
  validate(value: unknown) {
    let url: URL
    try {
      url = new URL(String(value))
    } catch {
      throw new Error(
        'must be a URL such as redis://127.0.0.1:6379 or rediss://:password@host:6380/0',
      )
    }
    if (url.protocol !== 'redis:' && url.protocol !== 'rediss:') {
      throw new Error('must be a redis:// or rediss:// URL')
    }
    if (url.hostname === '') throw new Error('must name a host, e.g. redis://127.0.0.1:6379')
  },
})

convict.addFormat({
  name: 'key-prefix',
  validate(value: unknown) {
    if (typeof value !== 'string' || !/^[\x21-\x7e]{1,64}$/.test(value)) {
      throw new Error('must be 1 to 64 printable ASCII characters without spaces')
    }
  },
})

/** One schema: every key with its doc, format, default and environment variable. */
export const SCHEMA = {
  nodejs_server_jwt_private_key: {
    doc: `Shared HMAC key (raw UTF-8 bytes, at least ${MIN_KEY_BYTES}) that signs subscriber and publish tokens; same value as $nodejs_server_jwt_private_key in Tuleap's local.inc. ${KEYGEN_HINT}`,
    format: String,
    default: PLACEHOLDER_KEY,
    env: 'PRIVATE_KEY',
    sensitive: true,
  },
  full_path_ssl_cert: {
    doc: 'PEM certificate (chain) served over TLS; read as root before privileges are dropped',
    format: String,
    default: '/etc/pki/tls/certs/localhost.cert.pem',
    env: 'TULEAP_REALTIME_SSL_CERT',
  },
  full_path_ssl_key: {
    doc: 'PEM private key of the certificate; read as root before privileges are dropped',
    format: String,
    default: '/etc/pki/tls/private/localhost.key.pem',
    env: 'TULEAP_REALTIME_SSL_KEY',
  },
  tls: {
    doc: 'Serve HTTPS/wss. false (plain HTTP behind a TLS-terminating reverse proxy) is accepted only on a loopback address',
    format: 'strict-boolean',
    default: true,
    env: 'TULEAP_REALTIME_TLS',
  },
  address: {
    doc: 'Address to listen on; "::" is every interface, IPv6 and IPv4',
    format: 'listen-address',
    default: '::',
    env: 'TULEAP_REALTIME_ADDRESS',
  },
  port: {
    doc: 'TCP port to listen on (bound before privileges are dropped)',
    format: 'port',
    default: 443,
    env: 'TULEAP_REALTIME_PORT',
  },
  process_uid: {
    doc: 'User (name or id) to switch to after binding the port; required when started as root',
    format: 'id-or-name',
    default: '',
    env: 'TULEAP_REALTIME_UID',
  },
  process_gid: {
    doc: 'Group (name or id) to switch to after binding the port; required when started as root',
    format: 'id-or-name',
    default: '',
    env: 'TULEAP_REALTIME_GID',
  },
  log_level: {
    doc: 'pino log level',
    format: ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'],
    default: 'info',
    env: 'TULEAP_REALTIME_LOG_LEVEL',
  },
  publish_token_max_lifetime_s: {
    doc: 'A publish token whose exp is further than this in the future is refused (401)',
    format: 'positive-int',
    default: 300,
    env: 'TULEAP_REALTIME_PUBLISH_TOKEN_MAX_LIFETIME_S',
  },
  max_publish_bytes: {
    doc: 'Largest POST /message body; larger ones get 413 before being read whole',
    format: 'positive-int',
    default: 262144,
    env: 'TULEAP_REALTIME_MAX_PUBLISH_BYTES',
  },
  max_client_frame_bytes: {
    doc: 'Largest WebSocket frame a client may send; larger ones close the socket with 1009',
    format: 'positive-int',
    default: 16384,
    env: 'TULEAP_REALTIME_MAX_CLIENT_FRAME_BYTES',
  },
  auth_timeout_ms: {
    doc: 'A connection without a successful subscribe after this long is closed with 4001',
    format: 'positive-int',
    default: 10000,
    env: 'TULEAP_REALTIME_AUTH_TIMEOUT_MS',
  },
  max_rooms_per_connection: {
    doc: 'Rooms one connection may be subscribed to at once',
    format: 'positive-int',
    default: 16,
    env: 'TULEAP_REALTIME_MAX_ROOMS_PER_CONNECTION',
  },
  history_size: {
    doc: 'Messages kept per room for recovery',
    format: 'positive-int',
    default: 100,
    env: 'TULEAP_REALTIME_HISTORY_SIZE',
  },
  history_ttl_s: {
    doc: 'Seconds a message stays in its room history',
    format: 'positive-int',
    default: 300,
    env: 'TULEAP_REALTIME_HISTORY_TTL_S',
  },
  expired_grace_s: {
    doc: 'Seconds a connection may stay with an expired token before it is closed with 4001',
    format: 'positive-int',
    default: 300,
    env: 'TULEAP_REALTIME_EXPIRED_GRACE_S',
  },
  slow_consumer_bytes: {
    doc: 'A connection with more than this many bytes queued is closed with 4009',
    format: 'positive-int',
    default: 1048576,
    env: 'TULEAP_REALTIME_SLOW_CONSUMER_BYTES',
  },
  max_connections: {
    doc: 'Open WebSocket connections; the next one is closed with 4010',
    format: 'positive-int',
    default: 100000,
    env: 'TULEAP_REALTIME_MAX_CONNECTIONS',
  },
  presence_max_members: {
    doc: 'Largest room that still gets presence lists and join/leave frames',
    format: 'positive-int',
    default: 200,
    env: 'TULEAP_REALTIME_PRESENCE_MAX_MEMBERS',
  },
  heartbeat_interval_ms: {
    doc: 'Interval of the WebSocket ping sweep; a peer that missed the previous ping is dropped',
    format: 'positive-int',
    default: 25000,
    env: 'TULEAP_REALTIME_HEARTBEAT_INTERVAL_MS',
  },
  max_frames_per_second: {
    doc: 'Frames one connection may send per second (averaged over 10 s); beyond it, 4008',
    format: 'positive-int',
    default: 20,
    env: 'TULEAP_REALTIME_MAX_FRAMES_PER_SECOND',
  },
  max_malformed_frames: {
    doc: 'Malformed frames one connection may send before it is closed with 4000',
    format: 'positive-int',
    default: 10,
    env: 'TULEAP_REALTIME_MAX_MALFORMED_FRAMES',
  },
  publish_rate_per_minute: {
    doc: 'POST /message requests one peer address may make per minute; beyond it, 429',
    format: 'positive-int',
    default: 6000,
    env: 'TULEAP_REALTIME_PUBLISH_RATE_PER_MINUTE',
  },
  allowed_origins: {
    doc: 'Origins (e.g. "https://tuleap.example.com") allowed to open a WebSocket; empty allows any. In the environment variable: a JSON array',
    format: 'string-list',
    default: [] as string[],
    env: 'TULEAP_REALTIME_ALLOWED_ORIGINS',
  },
  trusted_proxies: {
    doc: 'Reverse proxies (addresses and CIDRs, e.g. ["127.0.0.1", "::1"]) whose X-Forwarded-For (or Forwarded) names the client: rate limits and logs then use the nearest untrusted hop. Empty: the peer address. In the environment variable: a JSON array',
    format: 'proxy-list',
    default: [] as string[],
    env: 'TULEAP_REALTIME_TRUSTED_PROXIES',
  },
  allow_unsigned_loopback_publish: {
    doc: 'Migration aid: accept the historic unsigned application/json publish, from loopback peers only',
    format: 'strict-boolean',
    default: false,
    env: 'TULEAP_REALTIME_ALLOW_UNSIGNED_LOOPBACK_PUBLISH',
  },
  shutdown_timeout_ms: {
    doc: 'On SIGTERM/SIGINT, how long to wait for connections to close before exiting anyway',
    format: 'positive-int',
    default: 5000,
    env: 'TULEAP_REALTIME_SHUTDOWN_TIMEOUT_MS',
  },
  metrics: {
    doc: 'Serve Prometheus metrics on GET /metrics (to loopback peers, or with metrics_bearer_token)',
    format: 'strict-boolean',
    default: false,
    env: 'TULEAP_REALTIME_METRICS',
  },
  metrics_bearer_token: {
    doc: 'When set, GET /metrics also answers requests with "Authorization: Bearer <this token>"',
    format: String,
    default: '',
    env: 'TULEAP_REALTIME_METRICS_BEARER_TOKEN',
    sensitive: true,
  },
  broker: {
    type: {
      doc: 'Where rooms live: "memory" (one process, the default) or "redis" (several nodes sharing history, presence and publish ids through Redis)',
      format: ['memory', 'redis'],
      default: 'memory',
      env: 'TULEAP_REALTIME_BROKER_TYPE',
    },
    url: {
      doc: 'Redis server for broker.type "redis": redis://[:password@]host[:port][/db], or rediss:// for TLS',
      format: 'redis-url',
      default: 'redis://127.0.0.1:6379',
      env: 'TULEAP_REALTIME_BROKER_URL',
      sensitive: true,
    },
    key_prefix: {
      doc: 'Prefix of every Redis key and channel; relays that must not see each other use different prefixes',
      format: 'key-prefix',
      default: 'tuleap-realtime:',
      env: 'TULEAP_REALTIME_BROKER_KEY_PREFIX',
    },
    connect_timeout_ms: {
      doc: 'How long to wait for Redis when connecting; at start (without wait_for_redis), how long before giving up with an error',
      format: 'positive-int',
      default: 5000,
      env: 'TULEAP_REALTIME_BROKER_CONNECT_TIMEOUT_MS',
    },
    wait_for_redis: {
      doc: 'Start even when Redis is unreachable (not ready, publish answers 503, until it is reached) instead of exiting with an error',
      format: 'strict-boolean',
      default: false,
      env: 'TULEAP_REALTIME_BROKER_WAIT_FOR_REDIS',
    },
  },
}

/** A configuration that cannot be used; the message names the key and says how to fix it. */
export class ConfigError extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'ConfigError'
  }
}

/** Where the configuration comes from. */
export interface ConfigSource {
  /** A JSON file in the historic Tuleap format. */
  file?: string
  /** Values given directly (tests, development mode); applied after the file. */
  values?: Record<string, unknown>
  /** Environment to read `env` variables from; default: none. */
  env?: NodeJS.ProcessEnv
}

/** True for 127.0.0.0/8, ::1 and their IPv4-mapped forms. */
export function isLoopbackAddress(address: string): boolean {
  const a = address.startsWith('::ffff:') ? address.slice(7) : address
  return a === '::1' || a === 'localhost' || (isIP(a) === 4 && a.startsWith('127.'))
}

/** Validate every key strictly and return a frozen Config, or throw a ConfigError. */
export function loadConfig(source: ConfigSource = {}): Config {
  const config = convict(SCHEMA, { env: source.env ?? {}, args: [] })
  try {
    if (source.file !== undefined) {
      let text: string
      try {
        text = readFileSync(source.file, 'utf8')
      } catch (err) {
        throw new ConfigError(`cannot read ${source.file}: ${(err as Error).message}`)
      }
      let parsed: unknown
      try {
        parsed = JSON.parse(text)
      } catch (err) {
        throw new ConfigError(`${source.file} is not valid JSON: ${(err as Error).message}`)
      }
      if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
        throw new ConfigError(`${source.file} must hold a JSON object`)
      }
      config.load(parsed)
    }
    if (source.values) config.load(source.values)
    config.validate({ allowed: 'strict' })
  } catch (err) {
    if (err instanceof ConfigError) throw err
    throw new ConfigError(cleanConvictMessage((err as Error).message))
  }
  const values = config.getProperties() as Config
  checkSemantics(values)
  return Object.freeze({
    ...values,
    allowed_origins: Object.freeze([...values.allowed_origins]),
    trusted_proxies: Object.freeze([...values.trusted_proxies]),
    broker: Object.freeze({ ...values.broker }),
  })
}

function checkSemantics(c: Config): void {
  const key = c.nodejs_server_jwt_private_key
  if (key === PLACEHOLDER_KEY) {
    throw new ConfigError(
      `nodejs_server_jwt_private_key: still the placeholder "${PLACEHOLDER_KEY}"; ${KEYGEN_HINT}, and put the same value in Tuleap's local.inc`,
    )
  }
  const bytes = Buffer.byteLength(key, 'utf8')
  if (bytes < MIN_KEY_BYTES) {
    throw new ConfigError(
      `nodejs_server_jwt_private_key: ${bytes} bytes, at least ${MIN_KEY_BYTES} are required; ${KEYGEN_HINT}`,
    )
  }
  if (!c.tls && !isLoopbackAddress(c.address)) {
    throw new ConfigError(
      `tls: false is only accepted when address is a loopback address (127.0.0.1 or ::1) behind a TLS-terminating reverse proxy; address is "${c.address}"`,
    )
  }
  if ((c.process_uid === '') !== (c.process_gid === '')) {
    throw new ConfigError('process_uid and process_gid: set both, or neither')
  }
}

/** convict joins errors with newlines and quotes values; keep its text, which names the key. */
function cleanConvictMessage(message: string): string {
  return message
    .split('\n')
    .map((line) =>
      line.replace(
        /^configuration param '([^']+)' not declared in the schema$/,
        '$1: unknown key (see config.json.example for the valid keys)',
      ),
    )
    .join('\n')
}

import { readFileSync } from 'node:fs'
import { isIP } from 'node:net'
import convict from 'convict'
import { parseJsonText, quotedValueProblems } from './config-file.js'
import { registerFormats, type FormatTypes } from './config-formats.js'
import { ConfigError } from './errors.js'
import { resolveKeyFile } from './key-file.js'

/** The placeholder shipped in example configs; the relay refuses to start with it. */
export const PLACEHOLDER_KEY = 'private_key_to_change'
/**
 * Minimum key length in bytes (the key is used as raw UTF-8 bytes). Historic Tuleap sites
 * generated 44-character keys, which must keep working (docs/protocol.md §1).
 */
export const MIN_KEY_BYTES = 32
/** The key size RFC 7518 asks for with HS512; a shorter key starts with a warning. */
export const FULL_KEY_BYTES = 64
/** How an admin makes a key; quoted in every key error and warning. */
export const KEYGEN_HINT =
  'generate one with: tuleap-realtime genkey (or head -c 64 /dev/urandom | base64)'

registerFormats()

/**
 * One schema: every key with its doc, format, default and environment variable. `Config`
 * is derived from it, so adding a key here (and to the docs table and config.json.example,
 * which tests compare with it) is all a new key takes.
 */
export const SCHEMA = {
  nodejs_server_jwt_private_key: {
    doc: `Shared HMAC key (raw UTF-8 bytes, at least ${MIN_KEY_BYTES}) that signs subscriber and publish tokens; same value as $nodejs_server_jwt_private_key in Tuleap's local.inc. ${KEYGEN_HINT}`,
    format: String,
    default: PLACEHOLDER_KEY,
    env: 'PRIVATE_KEY',
    sensitive: true,
  },
  full_path_ssl_cert: {
    doc: 'PEM certificate (chain) served over TLS; read at start and on reload, so readable by the service user',
    format: String,
    default: '/etc/pki/tls/certs/localhost.cert.pem',
    env: 'TULEAP_REALTIME_SSL_CERT',
  },
  full_path_ssl_key: {
    doc: 'PEM private key of the certificate; read at start and on reload, so readable by the service user',
    format: String,
    default: '/etc/pki/tls/private/localhost.key.pem',
    env: 'TULEAP_REALTIME_SSL_KEY',
  },
  tls: {
    doc: 'Serve HTTPS/wss. false (plain HTTP behind a TLS-terminating reverse proxy) is accepted only on a loopback address, or with plain_http_on_any_address',
    format: 'strict-boolean',
    default: true,
    env: 'TULEAP_REALTIME_TLS',
  },
  plain_http_on_any_address: {
    doc: 'With tls false, accept an address that is not loopback: for a container, whose network only its TLS-terminating proxy reaches. The container image sets it',
    format: 'strict-boolean',
    default: false,
    env: 'TULEAP_REALTIME_PLAIN_HTTP_ON_ANY_ADDRESS',
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
  max_subscriber_token_bytes: {
    doc: 'Largest subscriber token; larger ones are refused before any cryptography. subscribe and token frames may be this size plus 1 KiB',
    format: 'positive-int',
    default: 65536,
    env: 'TULEAP_REALTIME_MAX_SUBSCRIBER_TOKEN_BYTES',
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
  max_rooms: {
    doc: 'Rooms the memory broker keeps history for; beyond it, the room published to least recently loses its history (a later since gets recovered: false)',
    format: 'positive-int',
    default: 50000,
    env: 'TULEAP_REALTIME_MAX_ROOMS',
  },
  history_max_bytes: {
    doc: "Total size of the memory broker's histories (messages as JSON); beyond it, the oldest messages of the room published to least recently are dropped first",
    format: 'positive-int',
    default: 67108864,
    env: 'TULEAP_REALTIME_HISTORY_MAX_BYTES',
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
    doc: 'Open connections, /ws and socket.io pages together; the next /ws one is closed with 4010, the next page handshake refused',
    format: 'positive-int',
    default: 100000,
    env: 'TULEAP_REALTIME_MAX_CONNECTIONS',
  },
  max_unauthenticated_per_address: {
    doc: 'WebSocket (and socket.io) connections one client address may hold before their first successful subscribe; the next one is closed with 4008 (socket.io: refused)',
    format: 'positive-int',
    default: 50,
    env: 'TULEAP_REALTIME_MAX_UNAUTHENTICATED_PER_ADDRESS',
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
  socketio_paths: {
    doc: "Paths where Tuleap's own pages connect with socket.io 4 (docs/protocol.md §8); [] turns socket.io off. In the environment variable: a JSON array",
    format: 'socketio-paths',
    default: ['/socket.io', '/local-socket.io'] as string[],
    env: 'TULEAP_REALTIME_SOCKETIO_PATHS',
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
    sentinels: {
      doc: 'Redis Sentinels as host:port; when set, the master named broker.sentinel_name is found through them and followed across failovers (broker.url then gives only the credentials, TLS and db). In the environment variable: comma-separated',
      format: 'host-port-list',
      default: [] as string[],
      env: 'TULEAP_REALTIME_BROKER_SENTINELS',
    },
    sentinel_name: {
      doc: 'The master name the sentinels monitor (their "sentinel monitor <name> …")',
      format: String,
      default: 'mymaster',
      env: 'TULEAP_REALTIME_BROKER_SENTINEL_NAME',
    },
    min_replicas_ack: {
      doc: 'Answer a publish 200 only once this many replicas confirmed it (Redis WAIT), else 503 (the backend retries with the same jti); 0: once the master stored it',
      format: 'nonneg-int',
      default: 0,
      env: 'TULEAP_REALTIME_BROKER_MIN_REPLICAS_ACK',
    },
    tls_ca_file: {
      doc: 'For rediss://: PEM file of the CA(s) to trust for Redis and the sentinels; empty: the system CAs',
      format: String,
      default: '',
      env: 'TULEAP_REALTIME_BROKER_TLS_CA_FILE',
    },
    tls_cert_file: {
      doc: 'For rediss:// with client certificates: PEM certificate of the relay; with tls_key_file',
      format: String,
      default: '',
      env: 'TULEAP_REALTIME_BROKER_TLS_CERT_FILE',
    },
    tls_key_file: {
      doc: 'For rediss:// with client certificates: PEM private key of the relay; with tls_cert_file',
      format: String,
      default: '',
      env: 'TULEAP_REALTIME_BROKER_TLS_KEY_FILE',
    },
  },
} as const

/** The type a schema leaf's format validates: a custom format, a convict one, or an enum. */
type FormatValue<F> = F extends keyof FormatTypes
  ? FormatTypes[F]
  : F extends StringConstructor
    ? string
    : F extends 'port'
      ? number
      : F extends readonly (infer L)[]
        ? L
        : never

/** The value type of a schema: leaves (with a format) become their format's type. */
type SchemaValue<S> = {
  readonly [K in keyof S]: S[K] extends { readonly format: infer F }
    ? FormatValue<F>
    : SchemaValue<S[K]>
}

/** The relay's configuration: validated once at startup, then frozen and passed around. */
export type Config = SchemaValue<typeof SCHEMA>

/** Where messages, history and presence live: this process, or Redis shared by several nodes. */
export type BrokerConfig = Config['broker']

/** Where the configuration comes from. */
export interface ConfigSource {
  /** A JSON file in the historic Tuleap format. */
  file?: string
  /** Values given directly (tests, development mode); applied after the file. */
  values?: Record<string, unknown>
  /**
   * Environment to read `env` variables from; default: none. PRIVATE_KEY_FILE names a file
   * holding the key (see resolveKeyFile).
   */
  env?: NodeJS.ProcessEnv
}

/** True for 127.0.0.0/8, ::1 and their IPv4-mapped forms. */
export function isLoopbackAddress(address: string): boolean {
  const a = address.startsWith('::ffff:') ? address.slice(7) : address
  return a === '::1' || a === 'localhost' || (isIP(a) === 4 && a.startsWith('127.'))
}

/** Validate every key strictly and return a frozen Config, or throw a ConfigError. */
export function loadConfig(source: ConfigSource = {}): Config {
  const config = convict(SCHEMA as unknown as convict.Schema<Config>, {
    env: resolveKeyFile(source.env ?? {}),
    args: [],
  })
  try {
    if (source.file !== undefined) {
      let text: string
      try {
        text = readFileSync(source.file, 'utf8')
      } catch (err) {
        throw new ConfigError(`cannot read ${source.file}: ${(err as Error).message}`)
      }
      const json = parseJsonText(text)
      if ('problem' in json) {
        throw new ConfigError(`${source.file} is not valid JSON: ${json.problem}`)
      }
      const parsed = json.value
      if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
        throw new ConfigError(`${source.file} must hold a JSON object`)
      }
      const quoted = quotedValueProblems(parsed as Record<string, unknown>, SCHEMA)
      if (quoted.length > 0) throw new ConfigError(quoted.join('\n'))
      config.load(parsed)
    }
    if (source.values) config.load(source.values)
    config.validate({ allowed: 'strict' })
  } catch (err) {
    if (err instanceof ConfigError) throw err
    throw new ConfigError(cleanConvictMessage((err as Error).message))
  }
  const values = config.getProperties()
  checkSemantics(values)
  return Object.freeze({
    ...values,
    allowed_origins: Object.freeze([...values.allowed_origins]),
    trusted_proxies: Object.freeze([...values.trusted_proxies]),
    broker: Object.freeze({
      ...values.broker,
      sentinels: Object.freeze([...values.broker.sentinels]),
    }),
  })
}

function checkSemantics(c: Config): void {
  const key = c.nodejs_server_jwt_private_key
  if (key === PLACEHOLDER_KEY) {
    throw new ConfigError(
      `nodejs_server_jwt_private_key: still the placeholder "${PLACEHOLDER_KEY}" (set it in the config file, or PRIVATE_KEY or PRIVATE_KEY_FILE in the environment); ${KEYGEN_HINT}, and put the same value in Tuleap's local.inc`,
    )
  }
  const bytes = Buffer.byteLength(key, 'utf8')
  if (bytes < MIN_KEY_BYTES) {
    throw new ConfigError(
      `nodejs_server_jwt_private_key: ${bytes} bytes, at least ${MIN_KEY_BYTES} are required; ${KEYGEN_HINT}`,
    )
  }
  if (!c.tls && !c.plain_http_on_any_address && !isLoopbackAddress(c.address)) {
    throw new ConfigError(
      `tls: false is only accepted when address is a loopback address (127.0.0.1 or ::1) behind a TLS-terminating reverse proxy, or with plain_http_on_any_address true (a container behind its proxy); address is "${c.address}"`,
    )
  }
  if ((c.process_uid === '') !== (c.process_gid === '')) {
    throw new ConfigError('process_uid and process_gid: set both, or neither')
  }
}

/**
 * What a valid configuration should still change, one sentence each: logged at startup
 * and printed by check-config. Never quotes the key itself.
 */
export function configWarnings(c: Config): string[] {
  const warnings: string[] = []
  const bytes = Buffer.byteLength(c.nodejs_server_jwt_private_key, 'utf8')
  if (bytes < FULL_KEY_BYTES) {
    warnings.push(
      `nodejs_server_jwt_private_key: ${bytes} bytes, shorter than the ${FULL_KEY_BYTES} bytes RFC 7518 asks for with HS512; ${KEYGEN_HINT}, and put the same value in Tuleap's configuration`,
    )
  }
  return warnings
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

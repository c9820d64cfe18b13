import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import t, { type Test } from 'tap'
import {
  KEYGEN_HINT,
  configWarnings,
  loadConfig,
  PLACEHOLDER_KEY,
  SCHEMA,
  type Config,
  type ConfigSource,
} from '../src/config.js'
import { ConfigError } from '../src/errors.js'
import { FORMATS } from '../src/config-formats.js'
import { TEST_KEY } from './helpers/config.js'

const KEY_HINT = 'head -c 64 /dev/urandom | base64'

/** A directory removed when the test ends. */
function tempDir(t: Test): string {
  const dir = mkdtempSync(join(tmpdir(), 'tuleap-realtime-config-'))
  t.teardown(() => {
    rmSync(dir, { recursive: true, force: true })
  })
  return dir
}

/** Write `content` (an object is JSON-encoded) to a file in `dir`. */
function writeConfig(dir: string, content: unknown, name = 'config.json'): string {
  const file = join(dir, name)
  writeFileSync(file, typeof content === 'string' ? content : JSON.stringify(content))
  return file
}

/** loadConfig with the test key and `values`. */
const withKey = (values: Record<string, unknown>): Config =>
  loadConfig({ values: { nodejs_server_jwt_private_key: TEST_KEY, ...values } })

/** The ConfigError loadConfig throws for `source`; fails the test if it does not throw one. */
function configError(t: Test, source: ConfigSource): string {
  try {
    loadConfig(source)
  } catch (err) {
    t.type(err, ConfigError)
    return (err as Error).message
  }
  t.fail(`expected a ConfigError for ${JSON.stringify(source)}`)
  return ''
}

const refused = (t: Test, values: Record<string, unknown>): string =>
  configError(t, { values: { nodejs_server_jwt_private_key: TEST_KEY, ...values } })

/** loadConfig from an environment of PRIVATE_KEY (the test key) and `env`. */
const fromEnv = (env: Record<string, string>): Config =>
  loadConfig({ env: { PRIVATE_KEY: TEST_KEY, ...env } })

/** The ConfigError for an environment of PRIVATE_KEY (the test key) and `env`. */
const envRefused = (t: Test, env: Record<string, string>): string =>
  configError(t, { env: { PRIVATE_KEY: TEST_KEY, ...env } })

/** The broker's defaults beyond its type, URL and key prefix. */
const BROKER_DEFAULTS = {
  connect_timeout_ms: 5000,
  wait_for_redis: false,
  sentinels: [],
  sentinel_name: 'mymaster',
  min_replicas_ack: 0,
  tls_ca_file: '',
  tls_cert_file: '',
  tls_key_file: '',
}

t.test('defaults: every key but the key has its SCHEMA default', async (t) => {
  const config = withKey({})
  t.same(config, {
    nodejs_server_jwt_private_key: TEST_KEY,
    full_path_ssl_cert: '/etc/pki/tls/certs/localhost.cert.pem',
    full_path_ssl_key: '/etc/pki/tls/private/localhost.key.pem',
    tls: true,
    plain_http_on_any_address: false,
    address: '::',
    port: 443,
    process_uid: '',
    process_gid: '',
    log_level: 'info',
    publish_token_max_lifetime_s: 300,
    max_publish_bytes: 262144,
    max_client_frame_bytes: 16384,
    max_subscriber_token_bytes: 65536,
    auth_timeout_ms: 10000,
    max_rooms_per_connection: 16,
    history_size: 100,
    history_ttl_s: 300,
    max_rooms: 50000,
    history_max_bytes: 67108864,
    expired_grace_s: 300,
    slow_consumer_bytes: 1048576,
    max_connections: 100000,
    max_unauthenticated_per_address: 50,
    presence_max_members: 200,
    heartbeat_interval_ms: 25000,
    max_frames_per_second: 20,
    max_malformed_frames: 10,
    publish_rate_per_minute: 6000,
    allowed_origins: [],
    socketio_paths: ['/socket.io', '/local-socket.io'],
    trusted_proxies: [],
    allow_unsigned_loopback_publish: false,
    shutdown_timeout_ms: 5000,
    metrics: false,
    metrics_bearer_token: '',
    broker: {
      type: 'memory',
      url: 'redis://127.0.0.1:6379',
      key_prefix: 'tuleap-realtime:',
      ...BROKER_DEFAULTS,
    },
  })
})

t.test('a file with the historic Tuleap key names loads', async (t) => {
  const dir = tempDir(t)
  const historic = {
    nodejs_server_jwt_private_key: TEST_KEY,
    full_path_ssl_cert: '/etc/pki/tls/certs/tuleap.crt',
    full_path_ssl_key: '/etc/pki/tls/private/tuleap.key',
    port: 443,
    process_uid: 'tuleaprt',
    process_gid: 'tuleaprt',
  }
  const file = writeConfig(dir, historic)
  t.match(loadConfig({ file }), { ...historic, tls: true })
})

t.test('values override the file', async (t) => {
  const dir = tempDir(t)
  const file = writeConfig(dir, { nodejs_server_jwt_private_key: TEST_KEY, port: 443 })
  t.equal(loadConfig({ file, values: { port: 8443 } }).port, 8443)
})

t.test('environment variables', async (t) => {
  t.test('PRIVATE_KEY supplies the key', async (t) => {
    t.equal(fromEnv({}).nodejs_server_jwt_private_key, TEST_KEY)
  })
  t.test('PRIVATE_KEY overrides the placeholder of a file', async (t) => {
    const dir = tempDir(t)
    const file = writeConfig(dir, { nodejs_server_jwt_private_key: PLACEHOLDER_KEY })
    t.equal(
      loadConfig({ file, env: { PRIVATE_KEY: TEST_KEY } }).nodejs_server_jwt_private_key,
      TEST_KEY,
    )
  })
  t.test('only the given env is read, never process.env implicitly', async (t) => {
    const saved = process.env.PRIVATE_KEY
    process.env.PRIVATE_KEY = TEST_KEY
    t.teardown(() => {
      if (saved === undefined) delete process.env.PRIVATE_KEY
      else process.env.PRIVATE_KEY = saved
    })
    t.match(configError(t, {}), /nodejs_server_jwt_private_key/)
  })
  t.test('numbers, booleans and lists are parsed from their text', async (t) => {
    const config = fromEnv({
      TULEAP_REALTIME_PORT: '8443',
      TULEAP_REALTIME_HISTORY_SIZE: '50',
      TULEAP_REALTIME_SHUTDOWN_TIMEOUT_MS: '1000',
      TULEAP_REALTIME_TLS: 'false',
      TULEAP_REALTIME_ADDRESS: '127.0.0.1',
      TULEAP_REALTIME_ALLOW_UNSIGNED_LOOPBACK_PUBLISH: 'true',
      TULEAP_REALTIME_ALLOWED_ORIGINS: '["https://tuleap.example.com","https://b.example"]',
    })
    t.match(config, {
      port: 8443,
      history_size: 50,
      shutdown_timeout_ms: 1000,
      tls: false,
      address: '127.0.0.1',
      allow_unsigned_loopback_publish: true,
    })
    t.same(config.allowed_origins, ['https://tuleap.example.com', 'https://b.example'])
  })
  t.test('a boolean that is not "true" or "false" is refused, not read as true', async (t) => {
    for (const value of ['0', 'no', '']) {
      t.match(
        envRefused(t, { TULEAP_REALTIME_ALLOW_UNSIGNED_LOOPBACK_PUBLISH: value }),
        /^allow_unsigned_loopback_publish: must be true or false/,
        `"${value}"`,
      )
    }
  })
  t.test('a number that is not a positive integer is refused', async (t) => {
    for (const value of ['abc', '1.5', '-3', '0']) {
      t.match(
        envRefused(t, { TULEAP_REALTIME_HISTORY_SIZE: value }),
        /^history_size: must be a positive integer/,
        `"${value}"`,
      )
    }
  })
})

t.test('an unknown key is refused, naming it', async (t) => {
  t.match(refused(t, { nodejs_server_port: 443 }), /^nodejs_server_port: unknown key/)
  const dir = tempDir(t)
  const file = writeConfig(dir, { nodejs_server_jwt_private_key: TEST_KEY, prot: 443 })
  t.match(configError(t, { file }), /prot: unknown key/)
})

t.test('a value of the wrong type is refused, naming the key', async (t) => {
  const cases: [Record<string, unknown>, RegExp][] = [
    [{ port: 'abc' }, /^port: /],
    [{ port: 70000 }, /^port: /],
    [{ port: 1.5 }, /^port: /],
    [{ history_size: -1 }, /^history_size: must be a positive integer/],
    [{ history_size: 0 }, /^history_size: must be a positive integer/],
    [{ max_connections: 2.5 }, /^max_connections: must be a positive integer/],
    [{ allowed_origins: 'https://tuleap.example.com' }, /^allowed_origins: must be an array/],
    [{ allowed_origins: 42 }, /^allowed_origins: must be an array/],
    [{ allowed_origins: [''] }, /^allowed_origins: must be an array of non-empty strings/],
    [{ allowed_origins: [1] }, /^allowed_origins: must be an array of non-empty strings/],
    [{ tls: 'nope' }, /^tls: must be true or false/],
    [{ tls: 0 }, /^tls: must be true or false/],
    [{ allow_unsigned_loopback_publish: 'no' }, /^allow_unsigned_loopback_publish: /],
    [{ address: 'example.com' }, /^address: must be an IP address/],
    [{ log_level: 'verbose' }, /^log_level: /],
    [{ process_uid: -1, process_gid: 1 }, /^process_uid: /],
    [{ process_uid: 'bad name!', process_gid: 1 }, /^process_uid: /],
    [{ nodejs_server_jwt_private_key: 12345 }, /^nodejs_server_jwt_private_key: /],
  ]
  for (const [values, message] of cases) {
    t.match(refused(t, values), message, JSON.stringify(values))
  }
})

t.test('every wrong key is reported at once', async (t) => {
  const message = refused(t, { port: 'abc', history_size: 0, unknown_one: 1 })
  t.match(message, /^port: /m)
  t.match(message, /^history_size: /m)
  t.match(message, /^unknown_one: unknown key/m)
})

t.test('the key', async (t) => {
  t.test('shorter than 32 bytes is refused, saying how to make one', async (t) => {
    const message = refused(t, { nodejs_server_jwt_private_key: 'k'.repeat(31) })
    t.match(message, /^nodejs_server_jwt_private_key: 31 bytes, at least 32/)
    t.ok(message.includes(KEY_HINT), message)
  })
  t.test('bytes are counted, not characters', async (t) => {
    // 16 two-byte characters: 32 bytes.
    t.ok(withKey({ nodejs_server_jwt_private_key: 'é'.repeat(16) }))
    t.match(refused(t, { nodejs_server_jwt_private_key: 'é'.repeat(15) }), /30 bytes/)
  })
  t.test('a historic 44-character key starts, with a warning naming genkey', async (t) => {
    const config = withKey({ nodejs_server_jwt_private_key: 'k'.repeat(44) })
    const warnings = configWarnings(config)
    t.equal(warnings.length, 1)
    t.match(warnings[0], /44 bytes, shorter than the 64 bytes/)
    t.match(warnings[0], /tuleap-realtime genkey/)
    t.notOk(warnings[0]?.includes('k'.repeat(44)), 'the key is not quoted')
  })
  t.test('64 bytes is enough, without a warning', async (t) => {
    t.same(configWarnings(withKey({ nodejs_server_jwt_private_key: 'k'.repeat(64) })), [])
  })
  t.test('socketio_paths: paths, [] for none, never /ws', async (t) => {
    t.same(withKey({ socketio_paths: [] }).socketio_paths, [])
    t.same(
      loadConfig({
        values: { nodejs_server_jwt_private_key: TEST_KEY },
        env: { TULEAP_REALTIME_SOCKETIO_PATHS: '["/rt"]' },
      }).socketio_paths,
      ['/rt'],
    )
    for (const bad of [['socket.io'], ['/socket.io/'], ['/ws'], 'x']) {
      t.match(refused(t, { socketio_paths: bad }), /socketio_paths/)
    }
  })
  t.test('the placeholder is refused, saying how to make one', async (t) => {
    const message = configError(t, {})
    t.match(
      message,
      /^nodejs_server_jwt_private_key: still the placeholder "private_key_to_change"/,
    )
    t.ok(message.includes(KEY_HINT), message)
    t.ok(KEYGEN_HINT.includes(KEY_HINT))
  })
  t.test('the key never appears in an error message', async (t) => {
    const secret = 's'.repeat(70)
    t.notMatch(refused(t, { nodejs_server_jwt_private_key: secret, port: 'abc' }), secret)
    t.notMatch(refused(t, { nodejs_server_jwt_private_key: { secret } }), secret)
  })
})

t.test('process_uid and process_gid', async (t) => {
  t.test('one without the other is refused', async (t) => {
    t.match(refused(t, { process_uid: 65534 }), /process_uid and process_gid/)
    t.match(refused(t, { process_gid: 65534 }), /process_uid and process_gid/)
  })
  t.test('a number, a name and a numeric string are accepted', async (t) => {
    t.match(withKey({ process_uid: 65534, process_gid: 65534 }), {
      process_uid: 65534,
      process_gid: 65534,
    })
    t.match(withKey({ process_uid: 'tuleaprt', process_gid: 'tuleaprt' }), {
      process_uid: 'tuleaprt',
      process_gid: 'tuleaprt',
    })
    t.match(withKey({ process_uid: '65534', process_gid: '65534' }), {
      process_uid: '65534',
      process_gid: '65534',
    })
  })
})

t.test('tls: false only on a loopback address', async (t) => {
  for (const address of ['127.0.0.1', '::1', '127.0.0.2', '::ffff:127.0.0.1', 'localhost']) {
    t.match(withKey({ tls: false, address }), { tls: false, address }, address)
  }
  for (const address of ['0.0.0.0', '::', '192.168.1.10', '::ffff:0.0.0.0']) {
    t.match(
      refused(t, { tls: false, address }),
      /^tls: false is only accepted when address is a loopback address/,
      address,
    )
  }
  t.match(withKey({ tls: true, address: '0.0.0.0' }), { tls: true, address: '0.0.0.0' })
  t.match(
    withKey({ tls: false, address: '::', plain_http_on_any_address: true }),
    { tls: false, address: '::' },
    'plain_http_on_any_address: a container behind its proxy',
  )
})

t.test('PRIVATE_KEY_FILE: the key from a file, its trailing newline ignored', async (t) => {
  const dir = tempDir(t)
  const file = writeConfig(dir, `${TEST_KEY}\n`, 'relay_key')
  t.equal(loadConfig({ env: { PRIVATE_KEY_FILE: file } }).nodejs_server_jwt_private_key, TEST_KEY)
  const crlf = writeConfig(dir, `${TEST_KEY}\r\n`, 'relay_key_crlf')
  t.equal(loadConfig({ env: { PRIVATE_KEY_FILE: crlf } }).nodejs_server_jwt_private_key, TEST_KEY)
  t.equal(
    configError(t, { env: { PRIVATE_KEY_FILE: file, PRIVATE_KEY: TEST_KEY } }),
    'PRIVATE_KEY and PRIVATE_KEY_FILE are both set; set only one of them',
  )
  t.match(
    configError(t, { env: { PRIVATE_KEY_FILE: join(dir, 'missing') } }),
    /^PRIVATE_KEY_FILE: cannot read .*missing: ENOENT/,
  )
  const short = writeConfig(dir, 'short\n', 'short_key')
  t.match(
    configError(t, { env: { PRIVATE_KEY_FILE: short } }),
    /^nodejs_server_jwt_private_key: 5 bytes, at least 32 are required/,
  )
  t.match(
    configError(t, { env: {} }),
    /still the placeholder .*PRIVATE_KEY or PRIVATE_KEY_FILE in the environment/,
    'a missing key says what to set',
  )
})

t.test('file errors name the file', async (t) => {
  const dir = tempDir(t)
  t.test('invalid JSON', async (t) => {
    const file = writeConfig(dir, '{"port": 443,', 'broken.json')
    const message = configError(t, { file })
    t.ok(message.startsWith(`${file} is not valid JSON: `), message)
  })
  t.test('JSON that is not an object', async (t) => {
    const file = writeConfig(dir, '[1, 2]', 'array.json')
    t.equal(configError(t, { file }), `${file} must hold a JSON object`)
  })
  t.test('a file that does not exist', async (t) => {
    const file = join(dir, 'missing.json')
    const message = configError(t, { file })
    t.ok(message.startsWith(`cannot read ${file}: `), message)
    t.match(message, /ENOENT/)
  })
  t.test('a file that cannot be read (a directory)', async (t) => {
    const message = configError(t, { file: dir })
    t.ok(message.startsWith(`cannot read ${dir}: `), message)
    t.match(message, /EISDIR/)
  })
})

t.test('the returned config is frozen', async (t) => {
  const config = withKey({ allowed_origins: ['https://tuleap.example.com'] })
  t.ok(Object.isFrozen(config))
  t.ok(Object.isFrozen(config.allowed_origins))
  t.throws(() => {
    ;(config as { port: number }).port = 1
  }, TypeError)
  t.throws(() => {
    ;(config.allowed_origins as string[]).push('https://evil.example')
  }, TypeError)
  t.same(config.allowed_origins, ['https://tuleap.example.com'])
})

t.test('two loads do not share state', async (t) => {
  t.equal(withKey({ port: 8443 }).port, 8443)
  t.equal(withKey({}).port, 443)
})

/** Every leaf of a convict schema (an entry with a default), with its dotted path. */
function schemaLeaves(
  node: Record<string, unknown>,
  prefix = '',
): [string, Record<string, unknown>][] {
  return Object.entries(node).flatMap(([key, value]) => {
    const entry = value as Record<string, unknown>
    return Object.hasOwn(entry, 'default')
      ? [[`${prefix}${key}`, entry] as [string, Record<string, unknown>]]
      : schemaLeaves(entry, `${prefix}${key}.`)
  })
}

/** The value at a dotted path of a parsed JSON object. */
const at = (value: unknown, path: string): unknown =>
  path.split('.').reduce<unknown>((v, k) => (v as Record<string, unknown> | undefined)?.[k], value)

t.test('config.json.example and SCHEMA do not drift', async (t) => {
  const examplePath = fileURLToPath(new URL('../config.json.example', import.meta.url))
  const example = JSON.parse(readFileSync(examplePath, 'utf8')) as Record<string, unknown>
  const leaves = schemaLeaves(SCHEMA)
  const exampleLeaves = (value: Record<string, unknown>, prefix = ''): string[] =>
    Object.entries(value).flatMap(([k, v]) =>
      typeof v === 'object' && v !== null && !Array.isArray(v)
        ? exampleLeaves(v as Record<string, unknown>, `${prefix}${k}.`)
        : [`${prefix}${k}`],
    )
  t.same(exampleLeaves(example).sort(), leaves.map(([key]) => key).sort(), 'same keys')
  for (const [key, entry] of leaves) {
    t.same(at(example, key), entry.default, `${key}: the example holds the SCHEMA default`)
    for (const field of ['doc', 'format', 'default', 'env']) {
      t.ok(Object.hasOwn(entry, field) && entry[field] !== undefined, `${key} has ${field}`)
    }
    t.type(entry.doc, 'string', `${key}: doc is text`)
    t.not(entry.doc, '', `${key}: doc is not empty`)
  }
  const envs = leaves.map(([, entry]) => entry.env)
  t.equal(new Set(envs).size, envs.length, 'no two keys share an environment variable')
})

t.test('Config is derived from SCHEMA: every leaf has a format the derivation knows', async (t) => {
  // FormatValue in config.ts maps these to types; any other format would type the key `never`.
  for (const [key, entry] of schemaLeaves(SCHEMA)) {
    const format = entry.format
    const known =
      format === String ||
      format === 'port' ||
      (Array.isArray(format) && format.every((v) => typeof v === 'string')) ||
      (typeof format === 'string' && Object.hasOwn(FORMATS, format))
    t.ok(known, `${key}: format ${String(format)} is typed`)
  }
})

t.test('the derived Config types the keys modules rely on', async (t) => {
  type Eq<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false
  // Compile time: a wrong derivation makes one of these `false` and typecheck fails.
  const checks: [
    Eq<Config['log_level'], 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent'>,
    Eq<Config['process_uid'], string | number>,
    Eq<Config['port'], number>,
    Eq<Config['tls'], boolean>,
    Eq<Config['allowed_origins'], readonly string[]>,
    Eq<Config['metrics_bearer_token'], string>,
    Eq<Config['broker']['type'], 'memory' | 'redis'>,
    Eq<Config['broker']['connect_timeout_ms'], number>,
  ] = [true, true, true, true, true, true, true, true]
  t.same(checks, Array(checks.length).fill(true))
  const config = loadConfig({ values: { nodejs_server_jwt_private_key: TEST_KEY } })
  t.type(config.port, 'number', 'runtime values match: port')
  t.type(config.broker.type, 'string', 'runtime values match: broker.type')
})

t.test('broker', async (t) => {
  t.test('redis with a URL, a prefix and the wait flag', async (t) => {
    const config = withKey({
      broker: { type: 'redis', url: 'rediss://:secret@redis.example:6380/2', key_prefix: 'rt:' },
    })
    t.same(config.broker, {
      type: 'redis',
      url: 'rediss://:secret@redis.example:6380/2',
      key_prefix: 'rt:',
      ...BROKER_DEFAULTS,
    })
    t.ok(Object.isFrozen(config.broker), 'frozen like the rest')
  })
  t.test('sentinels and durability from the environment', async (t) => {
    const config = fromEnv({
      TULEAP_REALTIME_BROKER_TYPE: 'redis',
      TULEAP_REALTIME_BROKER_SENTINELS: '10.0.0.1:26379, 10.0.0.2:26379,[::1]:26380',
      TULEAP_REALTIME_BROKER_SENTINEL_NAME: 'relay',
      TULEAP_REALTIME_BROKER_MIN_REPLICAS_ACK: '1',
    })
    t.same(config.broker.sentinels, ['10.0.0.1:26379', '10.0.0.2:26379', '[::1]:26380'])
    t.equal(config.broker.sentinel_name, 'relay')
    t.equal(config.broker.min_replicas_ack, 1)
    t.ok(Object.isFrozen(config.broker.sentinels))
    t.throws(
      () => fromEnv({ TULEAP_REALTIME_BROKER_SENTINELS: '10.0.0.1' }),
      /broker\.sentinels/,
      'a sentinel without a port is refused',
    )
  })
  t.test('from the environment', async (t) => {
    const config = fromEnv({
      TULEAP_REALTIME_BROKER_TYPE: 'redis',
      TULEAP_REALTIME_BROKER_URL: 'redis://10.0.0.5:6379',
      TULEAP_REALTIME_BROKER_WAIT_FOR_REDIS: 'true',
      TULEAP_REALTIME_BROKER_CONNECT_TIMEOUT_MS: '2000',
    })
    t.match(config.broker, {
      type: 'redis',
      url: 'redis://10.0.0.5:6379',
      wait_for_redis: true,
      connect_timeout_ms: 2000,
    })
  })
  t.test('wrong values are refused, naming the key', async (t) => {
    const cases: [Record<string, unknown>, RegExp][] = [
      [{ type: 'kafka' }, /^broker\.type: /],
      [{ url: 'http://127.0.0.1:6379' }, /^broker\.url: must be a redis:\/\/ or rediss:\/\/ URL/],
      [{ url: 'not a url' }, /^broker\.url: must be a URL/],
      [{ key_prefix: '' }, /^broker\.key_prefix: /],
      [{ key_prefix: 'with space' }, /^broker\.key_prefix: /],
      [{ connect_timeout_ms: 0 }, /^broker\.connect_timeout_ms: must be a positive integer/],
      [{ wait_for_redis: 'yes' }, /^broker\.wait_for_redis: must be true or false/],
      [{ typo: 1 }, /^broker\.typo: unknown key/],
    ]
    for (const [broker, message] of cases) {
      t.match(refused(t, { broker }), message, JSON.stringify(broker))
    }
  })
  t.test('the URL, which may hold a password, never appears in an error message', async (t) => {
    t.notMatch(
      refused(t, { broker: { url: 'redis://:hunter2@127.0.0.1:6379' }, port: 'abc' }),
      /hunter2/,
    )
    t.notMatch(refused(t, { broker: { url: 'http://:hunter2@127.0.0.1' } }), /hunter2/)
  })
})

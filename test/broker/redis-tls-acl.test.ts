/**
 * TLS and ACL: a redis-server on a TLS port only, its certificate from a private
 * CA made here with openssl, the `default` user off and the relay's user holding exactly
 * the minimal ACL of docs (RELAY_ACL). Two nodes publish, read history, claim jtis and
 * share presence through it; a wrong password or CA is one clear error naming the URL
 * with the password masked: from the broker, and from the relay process at start-up (one
 * line, exit 1; with broker.wait_for_redis, not ready and a log line saying why).
 */
import { execFileSync } from 'node:child_process'
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import type { StoredMessage } from '../../src/broker/broker.js'
import { RedisBroker, type RedisBrokerOptions } from '../../src/broker/redis-broker.js'
import { freePort } from '../helpers/ports.js'
import { requireBuild, spawnRelay } from '../helpers/process.js'
import { redisNodeConfig, startRelayNode } from '../helpers/relay-node.js'
import { requireRedis, spawnRedis, testDir } from '../helpers/redis.js'

const WAIT_MS = 10_000
const PREFIX = 'rt:'
const PASSWORD = 'relay-Pw-7f3a'

/** The minimal ACL of the relay's user, as docs/scaling.md gives it (key_prefix "rt:"). */
export const RELAY_ACL =
  `on >${PASSWORD} ~${PREFIX}* &${PREFIX}* resetchannels &${PREFIX}* -@all ` +
  '+evalsha +eval +info +ping +wait +select +client|setname +quit ' +
  '+subscribe +unsubscribe +publish +time ' +
  '+type +get +set +del +pexpire +hset +hmget +hdel +hgetall +rpush +lpop +lindex +llen +lrange +ltrim'

function openssl(dir: string, ...args: string[]): void {
  execFileSync('openssl', args, { cwd: dir, stdio: 'ignore' })
}

/** A CA, and a certificate for 127.0.0.1 signed by it, in `dir` (EC keys: fast). */
function makeCa(dir: string, name: string): void {
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes']
  openssl(
    dir,
    'req',
    '-x509',
    ...ec,
    '-keyout',
    `${name}-ca.key`,
    '-out',
    `${name}-ca.crt`,
    '-days',
    '1',
    '-subj',
    `/CN=${name} test CA`,
  )
  openssl(
    dir,
    'req',
    ...ec,
    '-keyout',
    `${name}.key`,
    '-out',
    `${name}.csr`,
    '-subj',
    '/CN=127.0.0.1',
  )
  writeFileSync(join(dir, 'san.cnf'), 'subjectAltName=IP:127.0.0.1\n')
  openssl(
    dir,
    'x509',
    '-req',
    '-in',
    `${name}.csr`,
    '-CA',
    `${name}-ca.crt`,
    '-CAkey',
    `${name}-ca.key`,
    '-CAcreateserial',
    '-out',
    `${name}.crt`,
    '-days',
    '1',
    '-extfile',
    'san.cnf',
  )
}

const binary = requireRedis(t)
/** Whether this redis-server was built with TLS (Debian's is): its binary knows tls-port. */
const tlsBuilt = binary !== null && readFileSync(binary).includes('tls-port')
if (binary !== null) {
  t.test('rediss:// with a private CA and the minimal ACL user, across two nodes', async (t) => {
    if (!tlsBuilt) {
      const message = 'this redis-server has no TLS support: TLS tests skipped'
      if (process.env.CI === 'true') t.fail(message)
      else t.pass(message, { skip: message })
      return
    }
    const dir = testDir(t)
    makeCa(dir, 'server')
    makeCa(dir, 'other')
    writeFileSync(join(dir, 'users.acl'), `user default off\nuser relay ${RELAY_ACL}\n`)
    const port = await freePort()
    await spawnRedis(
      t,
      binary,
      dir,
      port,
      [
        '--port',
        '0',
        '--bind',
        '127.0.0.1',
        '--save',
        '',
        '--appendonly',
        'no',
        '--tls-port',
        String(port),
        '--tls-cert-file',
        'server.crt',
        '--tls-key-file',
        'server.key',
        '--tls-ca-cert-file',
        'server-ca.crt',
        '--tls-auth-clients',
        'no',
        '--aclfile',
        join(dir, 'users.acl'),
      ],
      false,
    )
    const ca = readFileSync(join(dir, 'server-ca.crt'))
    const url = `rediss://relay:${PASSWORD}@127.0.0.1:${port}`
    const make = (more: Partial<RedisBrokerOptions> = {}): RedisBroker => {
      const broker = new RedisBroker({
        url,
        tls: { ca },
        keyPrefix: PREFIX,
        historySize: 100,
        historyTtlMs: 300_000,
        connectTimeoutMs: 1000,
        ...more,
      })
      t.teardown(() => broker.close())
      return broker
    }
    const a = make()
    const b = make()
    await a.whenReady(WAIT_MS)
    await b.whenReady(WAIT_MS)
    const got: StoredMessage[] = []
    await b.subscribe('42', (m) => got.push(m))
    const first = await a.publish(
      [
        {
          room_id: '42',
          cmd: 'm1',
          data: null,
          rights: null,
          sender_user_id: null,
          sender_uuid: null,
        },
      ],
      { jti: 'jti-1', ttlMs: 60_000 },
    )
    const stored = first.stored
    t.same(
      await b.publish([], { jti: 'jti-1', ttlMs: 60_000 }),
      {
        stored: [],
        accepted: [{ room_id: '42', epoch: stored[0]!.epoch, offset: 1 }],
        duplicate: true,
      },
      'the jti is shared across nodes under the ACL',
    )
    const deadline = Date.now() + WAIT_MS
    while (got.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20))
    t.match(got, [{ cmd: 'm1', offset: 1 }], 'the other node gets it over TLS')
    t.match(await b.history('42', { epoch: stored[0]!.epoch, offset: 0 }), {
      messages: [{ cmd: 'm1' }],
    })
    a.presence.share('42', { count: 1, members: [{ user_id: 1, uuid: 'u' }] }, null)
    const deadline2 = Date.now() + WAIT_MS
    let others = await b.presence.others('42')
    while (others.count === 0 && Date.now() < deadline2) {
      await new Promise((r) => setTimeout(r, 50))
      others = await b.presence.others('42')
    }
    t.equal(others.count, 1, 'presence crosses nodes with the minimal ACL')

    const wrongPassword = make({ url: `rediss://relay:hunter2-bad@127.0.0.1:${port}` })
    const refused = await wrongPassword.whenReady(1500).then(
      () => null,
      (err: unknown) => err as Error,
    )
    t.match(
      refused?.message,
      new RegExp(`rediss://relay:\\*\\*\\*@127\\.0\\.0\\.1:${port}`),
      'names the URL, password masked',
    )
    t.notMatch(refused?.message, /hunter2-bad/, 'never the password')
    t.match(refused?.message, /WRONGPASS|invalid username-password/)
    const wrongCa = make({ tls: { ca: readFileSync(join(dir, 'other-ca.crt')) } })
    const untrusted = await wrongCa.whenReady(1500).then(
      () => null,
      (err: unknown) => err as Error,
    )
    t.match(untrusted?.message, /certificate/, 'a wrong CA says so')
    t.notMatch(untrusted?.message, new RegExp(PASSWORD))

    if (!requireBuild(t)) return
    const relayConfig = (broker: Record<string, unknown>): string =>
      redisNodeConfig(t, {
        url,
        key_prefix: PREFIX,
        tls_ca_file: join(dir, 'server-ca.crt'),
        connect_timeout_ms: 1000,
        ...broker,
      })
    const masked = `rediss://relay:\\*\\*\\*@127\\.0\\.0\\.1:${port}/?`
    for (const [what, broker, why] of [
      ['a wrong password', { url: `rediss://relay:hunter2-bad@127.0.0.1:${port}` }, 'WRONGPASS'],
      ['a wrong CA', { tls_ca_file: join(dir, 'other-ca.crt') }, 'certificate'],
    ] as const) {
      const relay = spawnRelay(t, [`--config=${relayConfig(broker)}`])
      const { code } = await relay.exited()
      t.equal(code, 1, `${what}: exit status 1`)
      t.match(
        relay.stderr(),
        new RegExp(
          `^tuleap-realtime: broker error: broker\\.url: Redis at ${masked} is unreachable after 1000 ms: [^\\n]*${why}[^\\n]*\\n$`,
        ),
        `${what}: one line naming the URL, password masked, and why`,
      )
      t.notMatch(relay.output(), /hunter2-bad/, 'never the password')
    }
    const waiting = await startRelayNode(t, {
      url: `rediss://relay:hunter2-bad@127.0.0.1:${port}`,
      key_prefix: PREFIX,
      tls_ca_file: join(dir, 'server-ca.crt'),
      connect_timeout_ms: 1000,
      wait_for_redis: true,
    })
    t.match(await waiting.health(), { status: 503, body: { ready: false, live: true } })
    const said = await waiting.waitForLine(
      (line) => line.msg === 'Redis refuses or drops the connection; retrying',
      'the reason it is not ready',
    )
    t.match(said, { level: 'warn', url: new RegExp(`^${masked}$`), err: /WRONGPASS/ })
    t.notMatch(waiting.output(), /hunter2-bad/, 'never the password')
  })
}

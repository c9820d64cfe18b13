/**
 * The operator commands, run as the built binary against a real relay: exit codes,
 * messages, and a publish → listen round trip.
 */
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { RELAY_VERSION } from '../../src/version.js'
import { createTokenVerifier } from '../../src/auth/token.js'
import { TEST_KEY, testConfigFile } from '../helpers/config.js'
import {
  mainJs,
  projectRoot,
  runMain,
  spawnProcess,
  WAIT_MS,
  type Spawned,
} from '../helpers/process.js'
import { startRelay, type Teardown, type TestRelay } from '../helpers/relay.js'
import { subscriberToken } from '../helpers/tokens.js'
import { sleep, until } from '../helpers/wait.js'

const run = runMain

/** The binary's `listen ARGS`, with only PATH in its environment; killed at teardown. */
const listen = (t: Teardown, args: string[]): Spawned =>
  spawnProcess(t, process.execPath, [mainJs, 'listen', ...args], {
    env: { PATH: process.env.PATH },
  })

/** Resolves once the listener is in a room of `relay`. */
const subscribed = (relay: TestRelay): Promise<void> =>
  until('listen subscribes', () => relay.app.relay.hub.stats().rooms > 0, {
    timeoutMs: WAIT_MS,
    intervalMs: 50,
  })

const verifier = createTokenVerifier(TEST_KEY, {
  publishMaxLifetimeS: 300,
  publishMaxBytes: 262144,
})

t.test('help lists every command; each command has --help', async (t) => {
  const help = await run(['help'])
  t.equal(help.status, 0)
  for (const name of ['check-config', 'genkey', 'cert', 'token', 'publish', 'listen']) {
    t.match(help.stdout, new RegExp(`^  ${name} `, 'm'), `help lists ${name}`)
    const own = await run([name, '--help'])
    t.equal(own.status, 0, `${name} --help exits 0`)
    t.match(own.stdout, `Usage: tuleap-realtime ${name}`)
  }
})

t.test('genkey: 64 random bytes in base64, a usable key', async (t) => {
  const a = await run(['genkey'])
  const b = await run(['genkey'])
  t.equal(a.status, 0)
  const key = a.stdout.trim()
  t.match(key, /^[A-Za-z0-9+/]{86}==$/, 'one line of base64')
  t.equal(Buffer.from(key, 'base64').length, 64)
  t.not(key, b.stdout.trim(), 'a new key each time')
  t.equal((await run(['genkey', '--extra'])).status, 2, 'unknown option: usage error')
})

t.test('token: a subscriber token the relay accepts', async (t) => {
  const file = testConfigFile(t, { port: 4443 })
  const res = await run([
    'token',
    `--config=${file}`,
    '--user=101',
    '--rights=@site_active,@ug_101',
    '--ttl=90s',
  ])
  t.equal(res.status, 0, res.stderr)
  const claims = verifier.verifySubscriber(res.stdout.trim())
  t.equal(claims.userId, 101)
  t.same([...claims.groups], ['@site_active', '@ug_101'])
  t.ok(Math.abs(claims.exp - (Date.now() / 1000 + 90)) < 5, 'exp honours --ttl')
  t.equal((await run(['token', `--config=${file}`])).status, 2, '--user is required')
  t.equal(
    (await run(['token', `--config=${file}`, '--user=1', '--ttl=soon'])).status,
    2,
    'bad duration',
  )
  const missing = await run(['token', '--config=/nonexistent/config.json', '--user=1'])
  t.equal(missing.status, 1)
  t.match(missing.stderr, '/nonexistent/config.json')
})

t.test('publish and listen against a running relay', async (t) => {
  const relay = await startRelay(t)
  const file = testConfigFile(t, { port: relay.port })
  const url = `https://127.0.0.1:${relay.port}`
  const listener = listen(t, [`--config=${file}`, `--url=${url}`, '--room=42', '--count=2'])
  await subscribed(relay)
  /** The binary's `publish` to room 42 of this relay. */
  const publish = (...args: string[]) =>
    run(['publish', `--config=${file}`, `--url=${url}`, '--room=42', ...args])
  const first = await publish('--cmd=kanban_item:move', '--data={"artifact_id":7}')
  t.equal(first.status, 0, first.stderr)
  t.match(JSON.parse(first.stdout) as unknown, { accepted: [{ room_id: '42', offset: 1 }] })
  const second = await publish(
    '--cmd=kanban_item:update',
    '--rights={"submitter_id":null,"submitter_can_view":false,"submitter_only":[],"tracker":["@site_active"],"artifact":[]}',
    '--jti=cli-1',
  )
  t.equal(second.status, 0, second.stderr)
  t.equal((await listener.exited()).code, 0, 'listen exits 0 after --count messages')
  const lines = listener
    .stdout()
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Record<string, unknown>)
  t.match(lines, [
    {
      type: 'message',
      room_id: '42',
      offset: 1,
      cmd: 'kanban_item:move',
      data: { artifact_id: 7 },
    },
    { type: 'message', offset: 2, cmd: 'kanban_item:update' },
  ])

  const refused = await publish('--cmd=bad cmd')
  t.equal(refused.status, 1, 'a refused publish exits 1')
  t.match(refused.stderr, /400.*RELAY_ERR_PUBLISH_BAD_MESSAGE/)
  t.equal((await run(['publish', `--config=${file}`, '--room=42'])).status, 2, '--cmd is required')
  t.equal(
    (await run(['publish', `--config=${file}`, '--room=42', '--cmd=x', '--data={'])).status,
    2,
    '--data must be JSON',
  )
  const down = await run([
    'publish',
    `--config=${file}`,
    '--url=https://127.0.0.1:1',
    '--room=42',
    '--cmd=x',
  ])
  t.equal(down.status, 1, 'no relay: exit 1')
  t.match(down.stderr, /ECONNREFUSED/)
})

t.test('listen with a given token; a refused token is reported', async (t) => {
  const relay = await startRelay(t)
  const file = testConfigFile(t, { port: relay.port })
  const url = `https://127.0.0.1:${relay.port}`
  const given = subscriberToken(5, ['@site_active'])
  const listener = listen(t, [
    `--config=${file}`,
    `--url=${url}`,
    '--room=7',
    '--count=1',
    `--token=${given}`,
  ])
  await subscribed(relay)
  await relay.publish({ message: { room_id: '7', cmd: 'x', data: 1 } })
  t.equal((await listener.exited()).code, 0)
  t.match(JSON.parse(listener.stdout().trim()) as unknown, {
    type: 'message',
    room_id: '7',
    data: 1,
  })

  const bad = listen(t, [`--config=${file}`, `--url=${url}`, '--room=7', '--token=not-a-token'])
  await bad.waitFor('Unauthorized')
  t.match(bad.stderr(), /listen: Unauthorized \(room 7\)/, 'the refusal is printed on stderr')
})

t.test('listen reports a relay it cannot reach, and keeps trying', async (t) => {
  const file = testConfigFile(t, { port: 1 })
  const listener = listen(t, [`--config=${file}`, '--url=https://127.0.0.1:1', '--room=7'])
  await listener.waitFor('ECONNREFUSED')
  t.match(listener.stderr(), /listen: .*ECONNREFUSED/, 'the error is printed')
  await sleep(300)
  t.equal(listener.child.exitCode ?? listener.child.signalCode, null, 'no crash: it retries')
})

t.test('--version prints the package version', async (t) => {
  const res = await run(['--version'])
  t.equal(res.status, 0)
  t.equal(res.stdout, `tuleap-realtime ${RELAY_VERSION} (Node.js ${process.versions.node})\n`)
  t.equal(
    RELAY_VERSION,
    (JSON.parse(readFileSync(join(projectRoot, 'package.json'), 'utf8')) as { version: string })
      .version,
  )
})

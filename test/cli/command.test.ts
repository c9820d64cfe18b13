/**
 * commandConfig and --resolve (src/cli/command.ts) through the built binary: the key from
 * PRIVATE_KEY as for the relay, no key for listen --token, and a relay reached by the host
 * name its certificate carries.
 */
import type { AddressInfo } from 'node:net'
import t from 'tap'
import { buildApp } from '../../src/app.js'
import { createTokenVerifier } from '../../src/auth/token.js'
import { makeCert } from '../helpers/certs.js'
import { TEST_KEY, testConfig, testConfigFile } from '../helpers/config.js'
import { mainJs, runMain, spawnProcess, WAIT_MS, type Spawned } from '../helpers/process.js'
import { startRelay, type Teardown } from '../helpers/relay.js'
import { requireOpenssl } from '../helpers/tools.js'
import { subscriberToken } from '../helpers/tokens.js'
import { until } from '../helpers/wait.js'

const run = runMain

/** The binary's `listen ARGS`, with only PATH in its environment; killed at teardown. */
const listen = (t: Teardown, args: string[]): Spawned =>
  spawnProcess(t, process.execPath, [mainJs, 'listen', ...args], {
    env: { PATH: process.env.PATH },
  })

const verifier = createTokenVerifier(TEST_KEY, {
  publishMaxLifetimeS: 300,
  publishMaxBytes: 262144,
})

t.test('the key from PRIVATE_KEY, as the relay; listen --token needs none', async (t) => {
  const relay = await startRelay(t)
  const file = testConfigFile(t, {
    port: relay.port,
    nodejs_server_jwt_private_key: 'private_key_to_change',
  })
  const url = `https://127.0.0.1:${relay.port}`
  const noKey = await run(['token', `--config=${file}`, '--user=1'])
  t.equal(noKey.status, 1)
  t.match(noKey.stderr, /still the placeholder.*tuleap-realtime genkey.*PRIVATE_KEY/)
  const token = await run(['token', `--config=${file}`, '--user=1'], { PRIVATE_KEY: TEST_KEY })
  t.equal(token.status, 0, token.stderr)
  t.equal(verifier.verifySubscriber(token.stdout.trim()).userId, 1)
  const published = await run(
    ['publish', `--config=${file}`, `--url=${url}`, '--room=3', '--cmd=x'],
    { PRIVATE_KEY: TEST_KEY },
  )
  t.equal(published.status, 0, published.stderr)
  const listener = listen(t, [
    `--config=${file}`,
    `--url=${url}`,
    '--room=3',
    '--count=1',
    `--token=${subscriberToken(5, ['@site_active'])}`,
  ])
  await until('listen subscribes', () => relay.app.relay.hub.stats().rooms > 0, {
    timeoutMs: WAIT_MS,
    intervalMs: 50,
  })
  await relay.publish({ message: { room_id: '3', cmd: 'y', data: 2 } })
  t.equal((await listener.exited()).code, 0, 'listen --token runs with the placeholder key')
})

t.test(
  '--url by host name with --ca and --resolve, for a certificate without 127.0.0.1',
  async (t) => {
    if (!requireOpenssl(t)) return
    const dir = t.testdir({})
    const named = makeCert(dir, 'relay', 'relay.test', 'DNS:relay.test')
    const app = await buildApp(testConfig(), { tls: { cert: named.cert, key: named.key } })
    await app.listen({ port: 0, host: '127.0.0.1' })
    t.teardown(() => app.close())
    const port = (app.server.address() as AddressInfo).port
    // The config names another certificate: only --ca makes relay.test's trusted.
    const file = testConfigFile(t, { port })
    const common = [
      `--config=${file}`,
      `--url=https://relay.test:${port}`,
      '--resolve=relay.test:127.0.0.1',
    ]
    const trusted = await run([
      'publish',
      ...common,
      `--ca=${named.certFile}`,
      '--room=1',
      '--cmd=x',
    ])
    t.equal(trusted.status, 0, trusted.stderr)
    t.match(JSON.parse(trusted.stdout) as unknown, { accepted: [{ room_id: '1' }] })
    const untrusted = await run(['publish', ...common, '--room=1', '--cmd=x'])
    t.equal(untrusted.status, 1, 'without --ca the certificate is not trusted')
    t.match(untrusted.stderr, /self[- ]signed|unable to verify/i)
    const byAddress = await run([
      'publish',
      `--config=${file}`,
      `--url=https://127.0.0.1:${port}`,
      `--ca=${named.certFile}`,
      '--room=1',
      '--cmd=x',
    ])
    t.equal(byAddress.status, 1, 'by address, the name does not match: refused')
    t.match(byAddress.stderr, /IP: 127\.0\.0\.1 is not in the cert's list|altnames/i)
    const listener = listen(t, [...common, `--ca=${named.certFile}`, '--room=1', '--count=1'])
    await until('listen subscribes', () => app.relay.hub.stats().rooms > 0, {
      timeoutMs: WAIT_MS,
      intervalMs: 50,
    })
    const again = await run(['publish', ...common, `--ca=${named.certFile}`, '--room=1', '--cmd=y'])
    t.equal(again.status, 0, again.stderr)
    t.equal((await listener.exited()).code, 0, 'listen over wss to relay.test')
    t.equal(
      (await run(['publish', ...common.slice(0, 2), '--resolve=nonsense', '--room=1', '--cmd=x']))
        .status,
      2,
      'a bad --resolve is a usage error',
    )
  },
)

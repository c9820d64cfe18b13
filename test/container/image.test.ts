/**
 * The container image (packaging/container/Containerfile), built with podman on a stand-in
 * for the official Node 22 image and run as a runtime runs it (test/helpers/container.ts):
 * what it holds and declares, configuration from the environment with the key from a
 * secret file, /health, a signed publish reaching a /ws subscriber, its own HEALTHCHECK,
 * SIGTERM as PID 1, the one-line error without a key, and the Compose topology (two relays
 * of the image on the machine's redis-server). The first run builds the base image (a few
 * minutes, cached in /var/cache/tuleap-realtime-test); needs root, podman, debootstrap.
 */
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import { WebSocket } from 'ws'
import { parse } from 'yaml'
import {
  BASE_IMAGE,
  buildImage,
  exportedRootfs,
  imageEnv,
  inspect,
  missingContainerTools,
  pid1,
  runContainer,
  type ImageConfig,
} from '../helpers/container.js'
import { freePort } from '../helpers/ports.js'
import { isListening, projectRoot, WAIT_MS, type Spawned } from '../helpers/process.js'
import { startRedis } from '../helpers/redis.js'
import { testCert } from '../helpers/certs.js'
import { httpsGet } from '../helpers/https.js'
import { helloOf, TestClient } from '../helpers/relay.js'
import { publishToken, subscriberToken } from '../helpers/tokens.js'
import { until, within } from '../helpers/wait.js'

const KEY = 'container-test-key-0123456789abcdef0123456789abcdef0123456789abcdef0123'
const pkg = JSON.parse(readFileSync(join(projectRoot, 'package.json'), 'utf8')) as {
  version: string
}
/** The relay adds at most this much to its base image. */
const MAX_ADDED_BYTES = 40 * 1000 * 1000
/** A runtime's default grace between SIGTERM and SIGKILL. */
const GRACE_MS = 10_000
/** Start to ready line, bounded. */
const READY_MS = 60_000

// Building the base image the first time takes minutes; later runs reuse the caches.
t.setTimeout(40 * 60_000)

const missing = missingContainerTools()
if (missing.length > 0) {
  const message = `${missing.join(', ')} missing (apt-get install podman buildah debootstrap, as root): container image tests skipped`
  if (process.env.CI === 'true') t.fail(message)
  else t.plan(0, message)
} else {
  const image = await buildImage()
  const rootfs = await exportedRootfs(image)
  await scenarios(image, rootfs)
}

/** A secrets folder holding the key with a trailing newline, as `echo KEY >file` makes it. */
function secretsDir(t: Test, files: Record<string, string> = { relay_key: `${KEY}\n` }): string {
  const dir = mkdtempSync(join(tmpdir(), 'tuleap-realtime-secrets-'))
  chmodSync(dir, 0o755) // the container's user (uid 1000) reads it, as from a runtime's secret
  for (const [name, content] of Object.entries(files)) {
    writeFileSync(join(dir, name), content, { mode: 0o644 })
  }
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  return dir
}

/** Start a relay container on `port` and wait for its ready line. */
async function startRelay(
  t: Test,
  image: ImageConfig,
  rootfs: string,
  env: Record<string, string>,
  secrets: Record<string, string> = {},
): Promise<Spawned> {
  const relay = runContainer(t, rootfs, image, {
    secrets: secretsDir(t, { relay_key: `${KEY}\n`, ...secrets }),
    env: { PRIVATE_KEY_FILE: '/run/secrets/relay_key', ...env },
  })
  return ready(relay)
}

/** `relay` once it has logged its ready line; fails as soon as it exits instead. */
async function ready(relay: Spawned): Promise<Spawned> {
  // Bounded more loosely than WAIT_MS: a cold page cache and a loaded CI machine.
  await until(
    'the ready line',
    () => {
      if (relay.child.exitCode !== null) throw new Error(`exited: ${relay.output()}`)
      return relay.lines.some(isListening)
    },
    { timeoutMs: READY_MS, intervalMs: 50 },
  )
  return relay
}

async function subscriber(port: number, room: string): Promise<TestClient> {
  const client = await helloOf(new TestClient(new WebSocket(`ws://127.0.0.1:${port}/ws`)))
  const answer = await client.subscribe({
    room_id: room,
    token: subscriberToken(1, ['@site_active'], {}, KEY),
    uuid: `tab-${port}`,
  })
  if (answer.type !== 'subscribed') throw new Error(`subscribe: ${JSON.stringify(answer)}`)
  return client
}

const publish = (port: number, room: string, cmd: string) =>
  fetch(`http://127.0.0.1:${port}/message`, {
    method: 'POST',
    headers: { 'content-type': 'application/jwt' },
    body: publishToken({ message: { room_id: room, cmd, data: { n: 1 } } }, KEY),
  })

async function scenarios(image: ImageConfig, rootfs: string): Promise<void> {
  t.test('the image holds the relay only and declares what docs/container.md says', (t) => {
    const c = image.Config
    t.equal(c.User, 'node', 'the base image’s unprivileged user')
    t.match(c.Labels, {
      'org.opencontainers.image.title': 'tuleap-realtime',
      'org.opencontainers.image.description': /relay/,
      'org.opencontainers.image.source': /^https:\/\//,
      'org.opencontainers.image.version': pkg.version,
      'org.opencontainers.image.licenses': 'GPL-2.0-or-later',
    })
    t.same(Object.keys(c.ExposedPorts ?? {}), ['8080/tcp'])
    t.equal(c.StopSignal, 'SIGTERM')
    t.same(c.Healthcheck?.Test, ['CMD', 'node', '/app/dist/src/main.js', 'health'])
    t.same(c.Entrypoint, ['node', '/app/dist/src/main.js'])
    t.equal(c.WorkingDir, '/app')
    t.match(imageEnv(image), {
      TULEAP_REALTIME_DEV: '0',
      TULEAP_REALTIME_TLS: 'false',
      TULEAP_REALTIME_PORT: '8080',
    })
    for (const absent of [
      'app/src',
      'app/test',
      'app/tsconfig.json',
      'app/node_modules/typescript',
      'app/node_modules/tap',
      'app/node_modules/@tapjs',
      'app/node_modules/playwright-core',
      'app/node_modules/eslint',
    ]) {
      t.notOk(existsSync(join(rootfs, absent)), `no /${absent}`)
    }
    t.ok(existsSync(join(rootfs, 'app/dist/src/main.js')), 'dist/')
    t.ok(existsSync(join(rootfs, 'app/node_modules/fastify')), 'production node_modules')
    const added = image.Size - inspect(BASE_IMAGE).Size
    t.comment(`the relay adds ${(added / 1e6).toFixed(1)} MB to its base image`)
    t.ok(added <= MAX_ADDED_BYTES, `adds at most 40 MB (${(added / 1e6).toFixed(1)} MB)`)
    t.end()
  })

  t.test('from the environment, key from a secret file, read-only root, PID 1', async (t) => {
    const port = await freePort()
    const relay = await startRelay(t, image, rootfs, { TULEAP_REALTIME_PORT: String(port) })
    t.match(relay.lines.find(isListening), { tls: false, dev: false, uid: 1000 })
    const health = await fetch(`http://127.0.0.1:${port}/health`)
    t.equal(health.status, 200, '/health 200')

    const client = await subscriber(port, '7')
    const answer = await publish(port, '7', 'container:hello')
    t.equal(answer.status, 200, 'the signed publish is accepted')
    t.match(await client.next(WAIT_MS), { type: 'message', room_id: '7', cmd: 'container:hello' })

    // The image's own HEALTHCHECK command, as the runtime execs it beside the relay.
    const probe = runContainer(t, rootfs, image, {
      secrets: secretsDir(t),
      env: { PRIVATE_KEY_FILE: '/run/secrets/relay_key', TULEAP_REALTIME_PORT: String(port) },
      command: image.Config.Healthcheck!.Test.slice(1),
    })
    t.match(await probe.exited(READY_MS), { code: 0 }, 'HEALTHCHECK exits 0')
    const check = runContainer(t, rootfs, image, {
      secrets: secretsDir(t),
      env: { PRIVATE_KEY_FILE: '/run/secrets/relay_key' },
      command: ['tuleap-realtime', 'check-config'],
    })
    t.match(await check.exited(READY_MS), { code: 0 }, 'check-config from the environment')
    t.match(check.stdout(), /check-config: environment: ok/)

    const started = Date.now()
    process.kill(pid1(relay), 'SIGTERM')
    const closed = await within(client.closed, GRACE_MS, 'the subscriber’s close')
    t.equal(closed.code, 1001, 'subscribers are closed with 1001 (going away)')
    t.match(await relay.exited(GRACE_MS), { code: 0 }, 'PID 1 exits 0 on SIGTERM')
    t.ok(Date.now() - started < GRACE_MS, 'within the runtime’s 10 s grace')
  })

  t.test('TULEAP_REALTIME_TLS=true with a mounted certificate: wss served directly', async (t) => {
    const port = await freePort()
    const cert = testCert()
    const relay = await startRelay(
      t,
      image,
      rootfs,
      {
        TULEAP_REALTIME_PORT: String(port),
        TULEAP_REALTIME_TLS: 'true',
        TULEAP_REALTIME_SSL_CERT: '/run/secrets/cert.pem',
        TULEAP_REALTIME_SSL_KEY: '/run/secrets/key.pem',
      },
      { 'cert.pem': cert.cert.toString(), 'key.pem': cert.key.toString() },
    )
    t.match(relay.lines.find(isListening), { tls: true, dev: false })
    t.equal((await httpsGet(port, '/health', cert.cert)).status, 200, 'https /health 200')
    const client = await helloOf(
      new TestClient(new WebSocket(`wss://127.0.0.1:${port}/ws`, { ca: cert.cert })),
    )
    const answer = await client.subscribe({
      room_id: '8',
      token: subscriberToken(1, ['@site_active'], {}, KEY),
      uuid: 'tab-wss',
    })
    t.equal(answer.type, 'subscribed', 'a wss subscriber')
    // The CLI inside the image, key from the secret file, trusting the mounted certificate.
    const cli = runContainer(t, rootfs, image, {
      secrets: secretsDir(t, { relay_key: `${KEY}\n`, 'cert.pem': cert.cert.toString() }),
      env: { PRIVATE_KEY_FILE: '/run/secrets/relay_key', TULEAP_REALTIME_TLS: 'true' },
      command: [
        'tuleap-realtime',
        'publish',
        '--room=8',
        '--cmd=container:tls',
        `--url=https://127.0.0.1:${port}`,
        '--ca=/run/secrets/cert.pem',
      ],
    })
    t.match(await cli.exited(READY_MS), { code: 0 }, `publish from the image: ${cli.output()}`)
    t.match(await client.next(WAIT_MS), { type: 'message', room_id: '8', cmd: 'container:tls' })
    client.close()
  })

  t.test('a mounted config.json through --config, the image’s ENV over it', async (t) => {
    const port = await freePort()
    const config = {
      nodejs_server_jwt_private_key: KEY,
      port: 1, // the image's TULEAP_REALTIME_PORT wins over the file (docs/container.md)
      allowed_origins: ['https://tuleap.example.com'],
    }
    const relay = await ready(
      runContainer(t, rootfs, image, {
        secrets: secretsDir(t, { 'config.json': JSON.stringify(config) }),
        env: { TULEAP_REALTIME_PORT: String(port) },
        command: [...(image.Config.Entrypoint ?? []), '--config', '/run/secrets/config.json'],
      }),
    )
    t.match(relay.lines.find(isListening), { port, tls: false, dev: false })
    const client = await subscriber(port, '6')
    t.equal((await publish(port, '6', 'container:config')).status, 200, 'the file’s key signs')
    t.match(await client.next(WAIT_MS), { type: 'message', cmd: 'container:config' })
    client.close()
    const foreign = new WebSocket(`ws://127.0.0.1:${port}/ws`, {
      origin: 'https://evil.example.net',
    })
    const code = await new Promise<number>((resolve) => foreign.once('close', resolve))
    t.equal(code, 1008, 'the file’s allowed_origins apply')
  })

  t.test('no key, or both PRIVATE_KEY and PRIVATE_KEY_FILE: one line, exit 1', async (t) => {
    const none = runContainer(t, rootfs, image, { secrets: secretsDir(t) })
    t.match(await none.exited(READY_MS), { code: 1 })
    const lines = none.stderr().trim().split('\n')
    t.equal(lines.length, 1, `one line: ${none.stderr()}`)
    t.match(lines[0], /PRIVATE_KEY or PRIVATE_KEY_FILE/, 'it says what to set')
    t.notMatch(none.output(), /\n\s+at /, 'no stack trace')

    const both = runContainer(t, rootfs, image, {
      secrets: secretsDir(t),
      env: { PRIVATE_KEY: KEY, PRIVATE_KEY_FILE: '/run/secrets/relay_key' },
    })
    t.match(await both.exited(READY_MS), { code: 1 })
    t.match(both.stderr().trim().split('\n'), [/PRIVATE_KEY and PRIVATE_KEY_FILE are both set/])

    const short = runContainer(t, rootfs, image, {
      secrets: secretsDir(t, { relay_key: 'short\n' }),
      env: { PRIVATE_KEY_FILE: '/run/secrets/relay_key' },
    })
    t.match(await short.exited(READY_MS), { code: 1 })
    t.match(short.stderr().trim().split('\n'), [/at least 32 are required/])
  })

  t.test(
    'the Compose topology: a publish on one relay reaches the other’s subscriber',
    async (t) => {
      const redis = await startRedis(t)
      if (!redis) return
      const compose = parse(
        readFileSync(join(projectRoot, 'packaging/container/compose.yaml'), 'utf8'),
      ) as { services: Record<string, { environment: Record<string, string> }> }
      const ports = [await freePort(), await freePort()]
      const relays = await Promise.all(
        (['relay1', 'relay2'] as const).map((name, i) =>
          startRelay(t, image, rootfs, {
            // The Compose file's environment; Redis and the port are the machine's.
            ...compose.services[name]!.environment,
            TULEAP_REALTIME_BROKER_URL: redis.url,
            TULEAP_REALTIME_PORT: String(ports[i]),
          }),
        ),
      )
      t.match(relays[0]!.lines.find(isListening), { dev: false })
      const onSecond = await subscriber(ports[1]!, '9')
      t.equal((await publish(ports[0]!, '9', 'compose:across')).status, 200)
      t.match(await onSecond.next(WAIT_MS), { type: 'message', cmd: 'compose:across' })
      onSecond.close()
    },
  )
}

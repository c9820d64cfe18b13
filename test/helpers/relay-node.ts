/**
 * A relay process (`node dist/src/main.js`, TLS on loopback) with a Redis broker, seen as
 * a test drives it: WebSocket clients, publishes, /health. Killed at teardown.
 */
import type { ChildProcess } from 'node:child_process'
import { dirname } from 'node:path'
import { WebSocket } from 'ws'
import { testCert } from './certs.js'
import { dropToNobody, testConfigFile } from './config.js'
import { httpsRequest, type HttpAnswer } from './https.js'
import { startRelayProcess, WAIT_MS, type Spawned } from './process.js'
import { helloOf, TestClient } from './relay.js'
import type { Teardown } from './relay.js'
import { publishToken } from './tokens.js'
import { until } from './wait.js'

/** A running relay node. */
export interface RelayNode {
  readonly port: number
  readonly child: ChildProcess
  /** Open a WebSocket and wait for its hello; terminated at teardown. */
  connect(): Promise<TestClient>
  /** POST a publish token made of `claims`. */
  publish(claims: Record<string, unknown>): Promise<HttpAnswer>
  health(): Promise<HttpAnswer>
  /** SIGKILL, and wait for the exit. */
  kill(): Promise<void>
  /** Everything it wrote so far (JSON log lines, stderr). */
  output(): string
  /** The first log line matching `match`, within WAIT_MS. */
  waitForLine: Spawned['waitForLine']
}

/** One HTTPS request to a node, trusting only the test certificate. */
export const nodeRequest = (
  port: number,
  method: string,
  path: string,
  body?: string,
): Promise<HttpAnswer> =>
  httpsRequest(port, method, path, {
    ca: testCert().cert,
    body,
    headers: body === undefined ? {} : { 'content-type': 'application/jwt' },
  })

/**
 * The relay's config for `broker` (merged over `type: redis`), on port 0 with TLS and
 * info logs, as nobody when the tests run as root.
 */
export function redisNodeConfig(
  t: Teardown,
  broker: Record<string, unknown>,
  more: Record<string, unknown> = {},
): string {
  return testConfigFile(t, {
    tls: true,
    port: 0,
    log_level: 'info',
    ...dropToNobody,
    broker: { type: 'redis', ...broker },
    ...more,
  })
}

/** Start a relay process with `broker` and wait until it listens. */
export async function startRelayNode(
  t: Teardown,
  broker: Record<string, unknown>,
): Promise<RelayNode> {
  const file = redisNodeConfig(t, broker)
  const node = await startRelayProcess(t, [`--config=${file}`], { cwd: dirname(file) })
  const clients: TestClient[] = []
  t.teardown(() => {
    for (const c of clients) c.ws.terminate()
  })
  return {
    port: node.port,
    child: node.child,
    async connect() {
      const client = new TestClient(
        new WebSocket(`wss://127.0.0.1:${node.port}/ws`, { ca: testCert().cert }),
      )
      clients.push(client)
      return helloOf(client)
    },
    publish: (claims) => nodeRequest(node.port, 'POST', '/message', publishToken(claims)),
    health: () => nodeRequest(node.port, 'GET', '/health'),
    async kill() {
      await node.kill()
    },
    output: () => node.output(),
    waitForLine: (match, what) => node.waitForLine(match, what),
  }
}

/** Resolves once every one of `nodes` answers /health with 200 (polled, within WAIT_MS). */
export const allReady = (nodes: readonly RelayNode[], what = 'every node ready'): Promise<void> =>
  until(
    what,
    async () => (await Promise.all(nodes.map((n) => n.health()))).every((h) => h.status === 200),
    { timeoutMs: WAIT_MS, intervalMs: 50 },
  )

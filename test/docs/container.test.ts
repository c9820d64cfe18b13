/**
 * docs/container.md against the code: the Kubernetes example probes liveness on a path that
 * stays 200 while Redis is down and readiness on /health; the image's ENV overrides a
 * mounted config.json, and an empty value is an error rather than "use the file".
 */
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { parseAllDocuments } from 'yaml'
import type { Broker } from '../../src/broker/broker.js'
import { MemoryBroker } from '../../src/broker/memory-broker.js'
import { loadConfig } from '../../src/config.js'
import { testConfigFile } from '../helpers/config.js'
import { projectRoot } from '../helpers/process.js'
import { startRelay } from '../helpers/relay.js'
import { readDoc } from './markdown.js'

const DOC = 'docs/container.md'
const markdown = readDoc(DOC)

interface Probe {
  httpGet?: { path?: string }
}
interface Container {
  readinessProbe?: Probe
  livenessProbe?: Probe
}

/** The containers of the Deployment in the doc's Kubernetes example. */
function documentedContainers(): Container[] {
  for (const block of markdown.matchAll(/```yaml\n([\s\S]*?)```/g)) {
    for (const doc of parseAllDocuments(block[1]!)) {
      const value = doc.toJS() as {
        kind?: string
        spec?: { template?: { spec?: { containers?: Container[] } } }
      } | null
      if (value?.kind === 'Deployment') return value.spec?.template?.spec?.containers ?? []
    }
  }
  return []
}

/** The environment the Containerfile's ENV instruction sets. */
function imageEnv(): Record<string, string> {
  const file = readFileSync(join(projectRoot, 'packaging/container/Containerfile'), 'utf8')
  const instruction = /^ENV ((?:.*\\\n)*.*)$/m.exec(file)?.[1] ?? ''
  const env: Record<string, string> = {}
  for (const m of instruction.matchAll(/([A-Z_]+)=(\S+)/g)) env[m[1]!] = m[2]!
  return env
}

t.test(
  'the Kubernetes example: liveness survives a Redis outage, readiness does not',
  async (t) => {
    const [relay] = documentedContainers()
    const liveness = relay?.livenessProbe?.httpGet?.path
    const readiness = relay?.readinessProbe?.httpGet?.path
    t.equal(readiness, '/health', 'readiness on /health')
    if (liveness === undefined || readiness === undefined) {
      t.fail(`${DOC}: the Deployment has no liveness or readiness httpGet probe`)
      return
    }
    const memory = new MemoryBroker({ historySize: 10, historyTtlMs: 60_000 })
    // The memory broker, reporting itself down as it would with Redis unreachable.
    const down: Broker = {
      ready: false,
      publish: (m, i) => memory.publish(m, i),
      subscribe: (r, l) => memory.subscribe(r, l),
      unsubscribe: (r, l) => memory.unsubscribe(r, l),
      history: (r, s) => memory.history(r, s),
      close: () => memory.close(),
    }
    const running = await startRelay(t, {}, { broker: down })
    t.equal((await running.request('GET', liveness)).status, 200, `liveness ${liveness}: 200`)
    t.equal((await running.request('GET', readiness)).status, 503, `readiness ${readiness}: 503`)
  },
)

t.test("the image's ENV overrides a mounted config.json, key by key", async (t) => {
  const env = imageEnv()
  t.match(env, {
    TULEAP_REALTIME_TLS: 'false',
    TULEAP_REALTIME_ADDRESS: '::',
    TULEAP_REALTIME_PORT: '8080',
    TULEAP_REALTIME_PLAIN_HTTP_ON_ANY_ADDRESS: 'true',
  })
  for (const name of Object.keys(env).filter((n) => n.startsWith('TULEAP_REALTIME_'))) {
    t.match(markdown, `\`${name}`, `${DOC} names ${name}`)
  }
  const file = testConfigFile(t, {
    tls: true,
    address: '127.0.0.1',
    port: 4443,
    plain_http_on_any_address: false,
    log_level: 'warn',
  })
  const config = loadConfig({ file, env })
  t.match(
    config,
    { tls: false, address: '::', port: 8080, plain_http_on_any_address: true, log_level: 'warn' },
    'the image wins where it sets a variable, the file elsewhere',
  )
  t.match(
    loadConfig({ file, env: { ...env, TULEAP_REALTIME_TLS: 'true' } }),
    { tls: true },
    'a variable given another value',
  )
  t.throws(
    () => loadConfig({ file, env: { ...env, TULEAP_REALTIME_TLS: '' } }),
    /tls: must be true or false/,
    'an empty value is an error, not "use the file"',
  )
  t.match(
    loadConfig({ file, env: { TULEAP_REALTIME_DEV: '0' } }),
    { tls: true, address: '127.0.0.1', port: 4443 },
    'with the variables really unset (env -u), the file decides',
  )
})

/**
 * docs/operations.md lists the relay's own Prometheus metrics; this test fails when the
 * list and the metrics registered in src/http/metrics-route.ts drift apart.
 */
import t from 'tap'
import { createPrometheusMetrics } from '../../src/http/metrics-route.js'
import { codeListItems, readDoc } from './markdown.js'

const DOC = 'docs/operations.md'

t.test('docs/operations.md lists every relay metric with its type', async (t) => {
  const { registry } = createPrometheusMetrics({
    connections: () => 0,
    rooms: () => 0,
    brokerReady: () => true,
  })
  // Node's process metrics (tuleap_realtime_process_…, tuleap_realtime_nodejs_…) are
  // documented as a family, not one by one.
  const own = registry
    .getMetricsAsArray()
    .filter((m) => !/^tuleap_realtime_(process|nodejs)_/.test(m.name))
  t.ok(own.length > 0, 'the relay registers metrics of its own')

  const documented = new Map<string, string>()
  for (const [span, rest] of codeListItems(readDoc(DOC))) {
    if (!span.startsWith('tuleap_realtime_')) continue
    documented.set(span.replace(/\{[^}]*\}$/, ''), rest)
  }
  for (const metric of own) {
    const text = documented.get(metric.name)
    if (text === undefined) {
      t.fail(`${metric.name} is missing from ${DOC}`)
      continue
    }
    t.match(text, new RegExp(`^\\(${metric.type}\\): \\S`), `${metric.name}: type ${metric.type}`)
  }
  const names = new Set(own.map((m) => m.name))
  for (const name of documented.keys()) t.ok(names.has(name), `documented ${name} exists`)
})

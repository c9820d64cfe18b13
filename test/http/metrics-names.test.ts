/**
 * The Prometheus naming rules `promtool check metrics` applies, checked on a real scrape:
 * counters end in _total, nothing else does; units are base units as suffixes.
 */
import { spawnSync } from 'node:child_process'
import t from 'tap'
import { RELAY_VERSION } from '../../src/http/metrics-route.js'
import { startRelay } from '../helpers/relay.js'
import { hasTool, skipWithout } from '../helpers/tools.js'

t.test('a scrape follows the naming rules, with build info and broker readiness', async (t) => {
  const relay = await startRelay(t, { metrics: true })
  const { status, text } = await relay.request('GET', '/metrics')
  t.equal(status, 200)
  const types = new Map<string, string>()
  for (const m of text.matchAll(/^# TYPE (\S+) (\S+)$/gm)) types.set(m[1]!, m[2]!)
  t.ok(types.size > 10, `${types.size} metrics`)
  for (const [name, type] of types) {
    t.ok(name.startsWith('tuleap_realtime_'), `${name}: prefixed`)
    if (type === 'counter') t.match(name, /_total$/, `${name}: a counter ends in _total`)
    else t.notMatch(name, /_total$/, `${name}: a ${type} does not end in _total`)
    t.notMatch(name, /_(milliseconds|ms|kilobytes|megabytes)(_|$)/, `${name}: base units`)
  }
  t.match(
    text,
    new RegExp(
      `^tuleap_realtime_build_info\\{version="${RELAY_VERSION}",node="${process.versions.node}"\\} 1$`,
      'm',
    ),
  )
  t.match(text, /^tuleap_realtime_broker_ready 1$/m)
  t.match(text, /^tuleap_realtime_nodejs_active_handles\{type="[^"]+"\} \d+$/m)
  t.match(text, /^tuleap_realtime_history_recoveries_total\{result="miss"\} 0$/m)
  t.match(text, /^tuleap_realtime_refusals_total\{reason="RELAY_ERR_RATE_LIMITED"\} 0$/m)
  t.match(text, /^tuleap_realtime_refusals_total\{reason="close_1008"\} 0$/m, 'from zero')
})

t.test(
  'promtool check metrics finds nothing to say of a scrape',
  { skip: skipWithout(hasTool('promtool') ? [] : ['promtool'], 'apt-get install prometheus') },
  async (t) => {
    const relay = await startRelay(t, { metrics: true })
    // Traffic first, so that the histograms and labelled series have samples too.
    await relay.request('GET', '/health')
    await relay.request('POST', '/message', 'not a token')
    const { status, text } = await relay.request('GET', '/metrics')
    t.equal(status, 200)
    const check = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' })
    t.equal(check.error, undefined, 'promtool runs')
    t.equal(check.status, 0, 'promtool exits 0')
    t.equal(`${check.stdout}${check.stderr}`.trim(), '', 'and reports no problem')
  },
)

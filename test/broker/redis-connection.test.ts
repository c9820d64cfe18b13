/**
 * How a Redis target becomes ioredis options: with sentinels, the URL's credentials and
 * TLS go to the sentinels as well as to Redis (docs/scaling.md, "Topologies"); without,
 * only TLS. And the reconnect backoff's bounds.
 */
import t from 'tap'
import { reconnectDelay, targetOptions } from '../../src/broker/redis-connection.js'

const ca = Buffer.from('CA')
const cert = Buffer.from('CERT')
const key = Buffer.from('KEY')

t.test('one Redis: TLS options for rediss:// only, no sentinel options', async (t) => {
  t.same(targetOptions({ url: 'redis://:pw@127.0.0.1:6379' }), {})
  t.same(targetOptions({ url: 'rediss://relay:pw@redis:6380/0', tls: { ca, cert, key } }), {
    tls: { ca, cert, key },
  })
  t.same(targetOptions({ url: 'rediss://redis:6380', tls: {} }), { tls: {} }, 'system CAs')
  t.same(
    targetOptions({ url: 'redis://redis:6379', tls: { ca } }),
    {},
    'no TLS for redis:// even with a CA file',
  )
})

t.test('Sentinel: the URL’s user, password and TLS go to the sentinels too', async (t) => {
  const options = targetOptions({
    url: 'rediss://relay:p%40ss@ignored:1/0',
    sentinels: ['10.0.0.21:26379', '[::1]:26380'],
    sentinelName: 'mymaster',
    tls: { ca },
  })
  t.match(options, {
    sentinels: [
      { host: '10.0.0.21', port: 26379 },
      { host: '::1', port: 26380 },
    ],
    name: 'mymaster',
    sentinelUsername: 'relay',
    sentinelPassword: 'p@ss',
    tls: { ca },
    sentinelTLS: { ca },
    enableTLSForSentinelMode: true,
  })
  t.type(options.sentinelRetryStrategy, 'function')
})

t.test('Sentinel without credentials or TLS: none sent', async (t) => {
  const options = targetOptions({ url: 'redis://x', sentinels: ['127.0.0.1:26379'] })
  t.equal(options.name, 'mymaster', 'the default master name')
  for (const absent of ['sentinelUsername', 'sentinelPassword', 'tls', 'sentinelTLS'])
    t.notOk(absent in options, `no ${absent}`)
})

t.test(
  'reconnect delay: from 50 ms, doubling, capped at 2 s plus under 100 ms jitter',
  async (t) => {
    for (let attempt = 0; attempt < 12; attempt++) {
      const base = Math.min(50 * 2 ** Math.min(attempt, 6), 2000)
      const delay = reconnectDelay(attempt)
      t.ok(delay >= base && delay < base + 100, `attempt ${attempt}: ${delay} ms`)
    }
  },
)

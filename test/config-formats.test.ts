import convict from 'convict'
import t from 'tap'
import { FORMATS, registerFormats } from '../src/config-formats.js'

/** The error message validate throws for `value`, or undefined when it accepts it. */
function refusal(format: keyof typeof FORMATS, value: unknown): string | undefined {
  try {
    FORMATS[format].validate?.(value, {} as convict.SchemaObj)
    return undefined
  } catch (err) {
    return (err as Error).message
  }
}

t.test('id-or-name: ids, names and "" are accepted; others are refused', async (t) => {
  for (const ok of ['', 0, 1000, '1000', 'tuleap', 'svc_user$', 'a.b-c']) {
    t.equal(refusal('id-or-name', ok), undefined, `${JSON.stringify(ok)} accepted`)
  }
  for (const bad of [-1, 1.5, 'has space', '1abc', true]) {
    t.match(refusal('id-or-name', bad), /numeric id or a user\/group name/, String(bad))
  }
})

t.test('string-list: an array of non-empty strings; JSON text is coerced', async (t) => {
  t.equal(refusal('string-list', ['a', 'b']), undefined)
  t.match(refusal('string-list', ['a', '']), /non-empty strings/)
  t.match(refusal('string-list', 'a'), /non-empty strings/)
  t.same(FORMATS['string-list'].coerce?.(' ["a","b"]'), ['a', 'b'])
  t.equal(FORMATS['string-list'].coerce?.('[broken'), '[broken', 'invalid JSON stays text')
  t.equal(FORMATS['string-list'].coerce?.('a,b'), 'a,b', 'non-JSON stays text')
})

t.test('strict-boolean: only "true" and "false" become booleans', async (t) => {
  const coerce = FORMATS['strict-boolean'].coerce
  t.equal(coerce?.(' TRUE '), true)
  t.equal(coerce?.('false'), false)
  t.equal(coerce?.('0'), '0')
  t.equal(refusal('strict-boolean', '0'), 'must be true or false')
  t.equal(refusal('strict-boolean', false), undefined)
})

t.test('listen-address: an IP address or localhost', async (t) => {
  for (const ok of ['::', '0.0.0.0', '127.0.0.1', '::1', 'localhost']) {
    t.equal(refusal('listen-address', ok), undefined, ok)
  }
  t.match(refusal('listen-address', 'example.com'), /IP address/)
})

t.test('positive-int: positive safe integers; digits are coerced', async (t) => {
  t.equal(refusal('positive-int', 1), undefined)
  for (const bad of [0, -1, 1.5, '5', 2 ** 53]) {
    t.equal(refusal('positive-int', bad), 'must be a positive integer', String(bad))
  }
  t.equal(FORMATS['positive-int'].coerce?.(' 42 '), 42)
  t.equal(FORMATS['positive-int'].coerce?.('4e2'), '4e2', 'only decimal digits')
})

t.test('redis-url: redis:// or rediss:// with a host', async (t) => {
  t.equal(refusal('redis-url', 'redis://127.0.0.1:6379'), undefined)
  t.equal(refusal('redis-url', 'rediss://:pw@host:6380/0'), undefined)
  t.match(refusal('redis-url', 'not a url'), /must be a URL/)
  t.match(refusal('redis-url', 'http://host'), /redis:\/\/ or rediss:\/\//)
  t.match(refusal('redis-url', 'redis://'), /must name a host/)
})

t.test('key-prefix: 1 to 64 printable ASCII characters without spaces', async (t) => {
  t.equal(refusal('key-prefix', 'tuleap-realtime:'), undefined)
  t.match(refusal('key-prefix', ''), /1 to 64/)
  t.match(refusal('key-prefix', 'a b'), /1 to 64/)
  t.match(refusal('key-prefix', 'x'.repeat(65)), /1 to 64/)
})

t.test(
  'registerFormats makes the formats usable by a schema, and may be called twice',
  async (t) => {
    registerFormats()
    registerFormats()
    const config = convict({ n: { doc: 'n', format: 'positive-int', default: 1 } })
    config.load({ n: 0 })
    t.throws(() => config.validate({ allowed: 'strict' }), /n: must be a positive integer/)
  },
)

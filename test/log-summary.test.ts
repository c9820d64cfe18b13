import t from 'tap'
import { RefusalSummariser } from '../src/log-summary.js'

interface Line {
  fields: Record<string, unknown>
  message: string
}

function sink(): { lines: Line[]; info(fields: object, message: string): void } {
  const lines: Line[] = []
  return {
    lines,
    info(fields, message) {
      lines.push({ fields: fields as Record<string, unknown>, message })
    },
  }
}

t.test('100,000 refusals of one address: two lines, with the count', async (t) => {
  const log = sink()
  const s = new RefusalSummariser(log)
  t.teardown(() => s.close())
  for (let i = 0; i < 100_000; i++) {
    s.refused({ address: '192.0.2.1', reason: 'RELAY_ERR_AUTH_INVALID', detail: 'bad signature' })
  }
  t.equal(log.lines.length, 1, 'the first is written at once')
  t.match(log.lines[0], {
    message: 'refused',
    fields: { address: '192.0.2.1', reason: 'RELAY_ERR_AUTH_INVALID', detail: 'bad signature' },
  })
  s.flush()
  t.equal(log.lines.length, 2)
  t.match(log.lines[1], {
    message: 'refusals summarised',
    fields: { address: '192.0.2.1', reason: 'RELAY_ERR_AUTH_INVALID', count: 100_000 },
  })
  s.flush()
  t.equal(log.lines.length, 2, 'an empty interval writes nothing')
  s.refused({ address: '192.0.2.1', reason: 'RELAY_ERR_AUTH_INVALID' })
  t.equal(log.lines.length, 3, 'a new interval writes its first refusal again')
})

t.test('per address and reason; a lone refusal has no summary', async (t) => {
  const log = sink()
  const s = new RefusalSummariser(log)
  t.teardown(() => s.close())
  s.refused({ address: 'a', reason: 'x' })
  s.refused({ address: 'a', reason: 'y' })
  s.refused({ address: 'b', reason: 'x' })
  s.refused({ address: 'b', reason: 'x' })
  t.equal(log.lines.length, 3)
  s.flush()
  t.same(
    log.lines.slice(3).map((l) => [l.fields.address, l.fields.reason, l.fields.count]),
    [['b', 'x', 2]],
  )
})

t.test('100,000 addresses: lines bounded by maxPairs, the rest counted per reason', async (t) => {
  const log = sink()
  const s = new RefusalSummariser(log, { maxPairs: 100 })
  t.teardown(() => s.close())
  for (let i = 0; i < 100_000; i++) {
    s.refused({ address: `10.0.${i >> 8}.${i & 255}`, reason: 'RELAY_ERR_RATE_LIMITED' })
  }
  s.flush()
  t.equal(log.lines.length, 101, '100 first lines, one overflow summary')
  t.match(log.lines[100]!.fields, { address: '*', count: 99_900 })
  t.ok(
    log.lines.every((l) => typeof l.fields.address === 'string'),
    'every line names an address',
  )
})

t.test('never a token or key, and short fields', async (t) => {
  const log = sink()
  const s = new RefusalSummariser(log)
  t.teardown(() => s.close())
  s.refused({
    address: 'a',
    reason: 'Unauthorized',
    token: 'eyJ.secret.sig',
    private_key: 'k',
    authorization: 'Bearer x',
    detail: 'y'.repeat(10_000),
  })
  const text = JSON.stringify(log.lines)
  t.notMatch(text, /eyJ|Bearer|private_key/)
  t.ok((log.lines[0]!.fields.detail as string).length < 300)
})

t.test('close() writes what is counted', async (t) => {
  const log = sink()
  const s = new RefusalSummariser(log, { intervalMs: 3_600_000 })
  s.refused({ address: 'a', reason: 'x' })
  s.refused({ address: 'a', reason: 'x' })
  s.close()
  t.equal(log.lines.at(-1)?.fields.count, 2)
})

import t from 'tap'
import { ownBytes, ownConcat } from '../../src/protocol/own-bytes.js'

/** Whether `b` is the whole of its memory, not a slice of a larger (shared) chunk. */
const ownsItsMemory = (b: Buffer): boolean => b.byteOffset === 0 && b.buffer.byteLength === b.length

void t.test(
  'a small Buffer.from is a slice of a shared chunk (what own-bytes avoids)',
  async (t) => {
    const pooled = Buffer.from('{"type":"message"}')
    t.notOk(ownsItsMemory(pooled), `a ${pooled.length}-byte slice of ${pooled.buffer.byteLength}`)
  },
)

void t.test('ownBytes: the UTF-8 of the text, in memory of its own', async (t) => {
  for (const text of [
    '',
    'a',
    '{"data":"quote \\" and \u2028"}',
    'é'.repeat(3000),
    '😀 x'.repeat(9),
  ]) {
    const bytes = ownBytes(text)
    t.same(bytes, Buffer.from(text, 'utf8'), `content of a ${text.length}-character text`)
    t.ok(Buffer.isBuffer(bytes), 'a Buffer')
    t.ok(ownsItsMemory(bytes), `owns its memory (${bytes.length} bytes)`)
  }
})

void t.test('ownConcat: the parts in order, in memory of its own', async (t) => {
  const parts = [Buffer.from([0x81, 5]), Buffer.from('hello'), Buffer.alloc(0), Buffer.from('!')]
  const joined = ownConcat(parts)
  t.same(joined, Buffer.concat(parts))
  t.ok(ownsItsMemory(joined))
  t.equal(ownConcat([]).length, 0, 'no parts: an empty Buffer')
})

/**
 * docs/security.md lists each limit with its default: every key it names exists in SCHEMA
 * (src/config.ts) with that default, and every max_* and *_bytes key is listed.
 */
import t from 'tap'
import { SCHEMA } from '../../src/config.js'
import { readDoc, tableStartingWith } from './markdown.js'

const DOC = 'docs/security.md'
const table = tableStartingWith(readDoc(DOC), DOC, 'setting', 'default', 'beyond it')
const schema = SCHEMA as unknown as Record<string, { default?: unknown }>

/** A documented default as the schema holds it: "262144 (256 KiB)" → 262144, "`[]` (any)" → []. */
function documented(text: string): unknown {
  const first = text.trim().split(/\s+/)[0] ?? ''
  return JSON.parse(first.replace(/^`|`$/g, '')) as unknown
}

const listed = new Set<string>()

t.test('every documented limit has its SCHEMA default', async (t) => {
  for (const row of table.rows) {
    const keys = [...(row[0] ?? '').matchAll(/`([a-z_]+)`/g)].map((m) => m[1]!)
    const defaults = (row[1] ?? '').split(' / ')
    t.equal(keys.length, defaults.length, `${row[0]}: one default per key`)
    keys.forEach((key, i) => {
      listed.add(key)
      const spec = schema[key]
      if (spec === undefined || !('default' in spec)) {
        t.fail(`${key} is not a configuration key`)
        return
      }
      t.same(documented(defaults[i] ?? ''), spec.default, `${key}: documented default`)
    })
  }
})

t.test('every max_* and *_bytes key is listed', async (t) => {
  for (const key of Object.keys(schema)) {
    if (key.startsWith('max_') || key.endsWith('_bytes')) {
      t.ok(listed.has(key), `${key} is in the ${DOC} limits table`)
    }
  }
})

/**
 * docs/configuration.md documents every configuration key twice: a table (key, default,
 * environment variable) and a list of meanings. Both must follow SCHEMA in src/config.ts.
 */
import t from 'tap'
import { SCHEMA } from '../../src/config.js'
import { code, codeListItems, readDoc, rowsByCode, tableStartingWith } from './markdown.js'

const DOC = 'docs/configuration.md'
const MARKDOWN = readDoc(DOC)

/** What the tests need of a schema leaf. */
interface Leaf {
  readonly default: unknown
  readonly env: string
}

/** Every leaf of the schema by its dotted path: nested keys (broker.type) are rows of their own. */
function leaves(node: object, prefix = ''): [string, Leaf][] {
  return Object.entries(node).flatMap(([key, value]: [string, object]) =>
    Object.hasOwn(value, 'default')
      ? [[`${prefix}${key}`, value as Leaf] as [string, Leaf]]
      : leaves(value, `${prefix}${key}.`),
  )
}

const SCHEMA_KEYS = new Map(leaves(SCHEMA))

t.test('docs/configuration.md table matches SCHEMA', async (t) => {
  const rows = rowsByCode(
    t,
    tableStartingWith(MARKDOWN, DOC, 'Key', 'Default', 'Environment variable'),
    'configuration table',
  )
  for (const [key, spec] of SCHEMA_KEYS) {
    const row = rows.get(key)
    if (!row) {
      t.fail(`${key} is missing from the ${DOC} table`)
      continue
    }
    t.equal(code(row[1]), JSON.stringify(spec.default), `${key}: documented default`)
    t.equal(code(row[2]), spec.env, `${key}: documented environment variable`)
  }
  for (const key of rows.keys()) t.ok(SCHEMA_KEYS.has(key), `table key ${key} exists in SCHEMA`)
})

t.test('docs/configuration.md explains every key', async (t) => {
  const items = codeListItems(MARKDOWN)
  for (const key of SCHEMA_KEYS.keys()) {
    const text = items.get(key)
    t.ok(text !== undefined && /^:\s*\S/.test(text), `${key} has a "- \`${key}\`: meaning" item`)
  }
})

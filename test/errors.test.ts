/**
 * The README documents the error catalogue, the close codes, the WebSocket error codes and
 * the configuration keys as tables; these tests fail when a table and the code drift apart.
 */
import { readFileSync } from 'node:fs'
import t from 'tap'
import { SCHEMA } from '../src/config.js'
import { CLOSE, ERRORS, WS_ERROR_CODES } from '../src/errors.js'

/** One Markdown table: its header cells and its body rows, cells trimmed. */
interface Table {
  readonly header: readonly string[]
  readonly rows: readonly (readonly string[])[]
}

/** Split a table row on unescaped pipes; `\|` stays inside its cell. */
function cells(line: string): string[] {
  const parts = line.trim().split(/(?<!\\)\|/)
  return parts.slice(1, -1).map((c) => c.trim())
}

/** Every table of a Markdown document, outside fenced code blocks. */
function tables(markdown: string): Table[] {
  const found: Table[] = []
  let fenced = false
  let current: { header: string[]; rows: string[][] } | null = null
  for (const line of markdown.split('\n')) {
    if (/^\s*(```|~~~)/.test(line)) fenced = !fenced
    const isRow = !fenced && /^\s*\|.*\|\s*$/.test(line)
    if (!isRow) {
      current = null
      continue
    }
    if (current === null) {
      current = { header: cells(line), rows: [] }
      found.push(current)
    } else if (!/^\s*\|[\s|:-]+\|\s*$/.test(line)) {
      current.rows.push(cells(line))
    }
  }
  return found
}

/** The text of a cell that is one code span, e.g. "`RELAY_ERR_X`" → "RELAY_ERR_X". */
function code(cell: string | undefined): string | null {
  const m = /^`([^`]*)`$/.exec(cell ?? '')
  return m?.[1] ?? null
}

const README = readFileSync(new URL('../README.md', import.meta.url), 'utf8')
const TABLES = tables(README)

/** The one table whose header starts with these cells. */
function tableStartingWith(...header: string[]): Table {
  const matches = TABLES.filter((tb) => header.every((h, i) => tb.header[i] === h))
  if (matches.length !== 1) {
    throw new Error(
      `README must hold exactly one table whose header starts with | ${header.join(' | ')} |; found ${matches.length}`,
    )
  }
  return matches[0]!
}

/** What rowsByCode needs of a tap test. */
interface Failer {
  fail(message: string): unknown
}

/** Rows keyed by the code span of their first cell; duplicates and stray rows are failures. */
function rowsByCode(t: Failer, table: Table, what: string): Map<string, readonly string[]> {
  const byCode = new Map<string, readonly string[]>()
  for (const row of table.rows) {
    const key = code(row[0])
    if (key === null) {
      t.fail(`${what} row without a code span in its first cell: | ${row.join(' | ')} |`)
      continue
    }
    if (byCode.has(key)) t.fail(`${what} lists ${key} twice`)
    byCode.set(key, row)
  }
  return byCode
}

t.test('the error catalogue follows its own rules', async (t) => {
  for (const [name, error] of Object.entries(ERRORS)) {
    t.match(name, /^RELAY_ERR_[A-Z]+_[A-Z_]+$/, `${name} is named RELAY_ERR_<AREA>_<WHAT>`)
    t.ok(
      Number.isInteger(error.status) && error.status >= 400 && error.status <= 599,
      `${name} has a 4xx or 5xx status (${error.status})`,
    )
    t.ok(error.message.length > 0, `${name} has a message`)
  }
  const closeCodes = Object.values(CLOSE).map((c) => c.code)
  t.equal(new Set(closeCodes).size, closeCodes.length, 'close codes are unique')
})

t.test('README error table matches ERRORS', async (t) => {
  const rows = rowsByCode(t, tableStartingWith('Code', 'HTTP status'), 'error table')
  for (const [name, error] of Object.entries(ERRORS)) {
    const row = rows.get(name)
    if (!row) {
      t.fail(`${name} (${error.status}) is missing from the README error table`)
      continue
    }
    t.equal(row[1], String(error.status), `${name}: README status is ${error.status}`)
    t.ok((row[2] ?? '').length > 0, `${name}: README gives a meaning`)
  }
  for (const name of rows.keys()) {
    t.ok(name in ERRORS, `README error table row ${name} exists in ERRORS`)
  }
})

t.test('every RELAY_ERR_ code the README mentions exists', async (t) => {
  const mentioned = new Set(README.match(/\bRELAY_ERR_[A-Z][A-Z_]*[A-Z]\b/g) ?? [])
  t.ok(mentioned.size > 0, 'the README mentions error codes')
  for (const name of mentioned) t.ok(name in ERRORS, `${name} exists in ERRORS`)
})

t.test('README close-code table matches CLOSE', async (t) => {
  const rows = rowsByCode(
    t,
    tableStartingWith('Close code', 'Meaning', 'Reconnect?'),
    'close table',
  )
  for (const [name, close] of Object.entries(CLOSE)) {
    const row = rows.get(String(close.code))
    if (!row) {
      t.fail(`${close.code} (${name}) is missing from the README close-code table`)
      continue
    }
    t.ok(
      (row[1] ?? '').toLowerCase().includes(close.reason.toLowerCase()),
      `${close.code}: README meaning mentions "${close.reason}"`,
    )
    const answer = /^(yes|no)\b/i.exec(row[2] ?? '')?.[1]?.toLowerCase()
    t.equal(
      answer,
      close.reconnect ? 'yes' : 'no',
      `${close.code}: README says ${close.reconnect ? 'reconnect' : 'do not reconnect'}`,
    )
  }
  const known = new Set(Object.values(CLOSE).map((c) => String(c.code)))
  for (const closeCode of rows.keys()) {
    t.ok(known.has(closeCode), `README close-code row ${closeCode} exists in CLOSE`)
  }
})

t.test('README WebSocket error table matches WS_ERROR_CODES', async (t) => {
  const rows = rowsByCode(t, tableStartingWith('Code', 'Meaning'), 'WebSocket error table')
  const codes: readonly string[] = WS_ERROR_CODES
  for (const c of codes) t.ok(rows.has(c), `${c} is in the README WebSocket error table`)
  for (const c of rows.keys()) t.ok(codes.includes(c), `README row ${c} exists in WS_ERROR_CODES`)
})

t.test('README configuration table matches SCHEMA', async (t) => {
  const rows = rowsByCode(
    t,
    tableStartingWith('Key', 'Default', 'Environment variable'),
    'configuration table',
  )
  // Nested keys (broker.type) are rows of their own, named by their dotted path.
  const leaves = (node: object, prefix = ''): [string, { default: unknown; env: string }][] =>
    Object.entries(node).flatMap(([key, value]: [string, object]) =>
      Object.hasOwn(value, 'default')
        ? [[`${prefix}${key}`, value as { default: unknown; env: string }] as const]
        : leaves(value, `${prefix}${key}.`),
    )
  const schema = Object.fromEntries(leaves(SCHEMA))
  for (const [key, spec] of Object.entries(schema)) {
    const row = rows.get(key)
    if (!row) {
      t.fail(`${key} is missing from the README configuration table`)
      continue
    }
    t.equal(code(row[1]), JSON.stringify(spec.default), `${key}: README default`)
    t.equal(code(row[2]), spec.env, `${key}: README environment variable`)
    t.ok((row[3] ?? '').length > 0, `${key}: README gives a meaning`)
  }
  for (const key of rows.keys()) t.ok(key in schema, `README configuration key ${key} exists`)
})

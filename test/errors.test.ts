/**
 * docs/errors.md documents the error catalogue, the close codes and the WebSocket error
 * codes as tables; these tests fail when a table and src/errors.ts drift apart.
 */
import t from 'tap'
import { CLOSE, ERRORS, WS_ERROR_CODES } from '../src/errors.js'
import { documents, readDoc, rowsByCode, tableStartingWith, type Table } from './docs/markdown.js'

const ERRORS_DOC = 'docs/errors.md'
const MARKDOWN = readDoc(ERRORS_DOC)

/** The one table of docs/errors.md whose header starts with these cells. */
function table(...header: string[]): Table {
  return tableStartingWith(MARKDOWN, ERRORS_DOC, ...header)
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

t.test('docs/errors.md HTTP error table matches ERRORS', async (t) => {
  const rows = rowsByCode(t, table('Code', 'HTTP status'), 'error table')
  for (const [name, error] of Object.entries(ERRORS)) {
    const row = rows.get(name)
    if (!row) {
      t.fail(`${name} (${error.status}) is missing from the error table`)
      continue
    }
    t.equal(row[1], String(error.status), `${name}: documented status is ${error.status}`)
    t.ok((row[2] ?? '').length > 0, `${name}: the table gives a meaning`)
  }
  for (const name of rows.keys()) {
    t.ok(name in ERRORS, `error table row ${name} exists in ERRORS`)
  }
})

t.test('every RELAY_ERR_ code that README.md or docs/ mention exists', async (t) => {
  for (const doc of documents()) {
    const mentioned = new Set(readDoc(doc).match(/\bRELAY_ERR_[A-Z][A-Z_]*[A-Z]\b/g) ?? [])
    for (const name of mentioned) t.ok(name in ERRORS, `${doc}: ${name} exists in ERRORS`)
  }
})

t.test('docs/errors.md close-code table matches CLOSE', async (t) => {
  const rows = rowsByCode(t, table('Close code', 'Meaning', 'Reconnect?'), 'close table')
  for (const [name, close] of Object.entries(CLOSE)) {
    const row = rows.get(String(close.code))
    if (!row) {
      t.fail(`${close.code} (${name}) is missing from the close-code table`)
      continue
    }
    t.ok(
      (row[1] ?? '').toLowerCase().includes(close.reason.toLowerCase()),
      `${close.code}: the meaning mentions "${close.reason}"`,
    )
    const answer = /^(yes|no)\b/i.exec(row[2] ?? '')?.[1]?.toLowerCase()
    t.equal(
      answer,
      close.reconnect ? 'yes' : 'no',
      `${close.code}: the table says ${close.reconnect ? 'reconnect' : 'do not reconnect'}`,
    )
  }
  const known = new Set(Object.values(CLOSE).map((c) => String(c.code)))
  for (const closeCode of rows.keys()) {
    t.ok(known.has(closeCode), `close-code table row ${closeCode} exists in CLOSE`)
  }
})

t.test('docs/errors.md WebSocket error table matches WS_ERROR_CODES', async (t) => {
  const rows = rowsByCode(t, table('Code', 'Meaning'), 'WebSocket error table')
  const codes: readonly string[] = WS_ERROR_CODES
  for (const c of codes) t.ok(rows.has(c), `${c} is in the WebSocket error table`)
  for (const c of rows.keys()) t.ok(codes.includes(c), `table row ${c} exists in WS_ERROR_CODES`)
})

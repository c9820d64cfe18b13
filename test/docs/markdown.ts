/**
 * Just enough Markdown reading for the documentation tests: tables, list items, headings
 * and links, all outside fenced code blocks. Not a Markdown parser: it understands the
 * shapes the project's own documents use, and the tests fail loudly on anything else.
 */
import { readFileSync, readdirSync } from 'node:fs'
import { ROOT } from '../helpers/source-files.js'

export { ROOT }

/** README.md and every docs/*.md, as paths relative to the repository root. */
export function documents(): string[] {
  const docs = readdirSync(new URL('docs/', ROOT))
    .filter((name) => name.endsWith('.md'))
    .sort()
    .map((name) => `docs/${name}`)
  return ['README.md', ...docs]
}

/** The text of a file of the repository, by its path from the root. */
export function readDoc(path: string): string {
  return readFileSync(new URL(path, ROOT), 'utf8')
}

/** One line of a document, with whether it is inside a fenced code block (fences included). */
export interface Line {
  readonly number: number
  readonly text: string
  readonly fenced: boolean
}

/** Every line, marked fenced when it belongs to a ``` or ~~~ block (the fences too). */
export function lines(markdown: string): Line[] {
  let fence: string | null = null
  return markdown.split('\n').map((text, i) => {
    const opener = /^\s*(`{3,}|~{3,})/.exec(text)?.[1]
    if (fence === null && opener !== undefined) {
      fence = opener
      return { number: i + 1, text, fenced: true }
    }
    if (fence !== null) {
      if (opener !== undefined && opener[0] === fence[0] && opener.length >= fence.length) {
        fence = null
      }
      return { number: i + 1, text, fenced: true }
    }
    return { number: i + 1, text, fenced: false }
  })
}

/** The document with fenced blocks blanked out (line numbers kept) and inline code removed. */
export function prose(markdown: string): string {
  return lines(markdown)
    .map((l) => (l.fenced ? '' : l.text))
    .join('\n')
    .replace(/(`+)[\s\S]*?\1/g, (span) => span.replace(/[^\n]/g, ' '))
}

/** One Markdown table: its header cells and its body rows, cells trimmed. */
export interface Table {
  readonly header: readonly string[]
  readonly rows: readonly (readonly string[])[]
}

/** Split a table row on unescaped pipes; `\|` stays inside its cell. */
function cells(line: string): string[] {
  const parts = line.trim().split(/(?<!\\)\|/)
  return parts.slice(1, -1).map((c) => c.trim())
}

/** Every table of a document, outside fenced code blocks. */
export function tables(markdown: string): Table[] {
  const found: Table[] = []
  let current: { header: string[]; rows: string[][] } | null = null
  for (const line of lines(markdown)) {
    const isRow = !line.fenced && /^\s*\|.*\|\s*$/.test(line.text)
    if (!isRow) {
      current = null
      continue
    }
    if (current === null) {
      current = { header: cells(line.text), rows: [] }
      found.push(current)
    } else if (!/^\s*\|[\s|:-]+\|\s*$/.test(line.text)) {
      current.rows.push(cells(line.text))
    }
  }
  return found
}

/** The one table of `markdown` whose header starts with these cells; throws otherwise. */
export function tableStartingWith(markdown: string, where: string, ...header: string[]): Table {
  const matches = tables(markdown).filter((tb) => header.every((h, i) => tb.header[i] === h))
  if (matches.length !== 1) {
    throw new Error(
      `${where} must hold exactly one table whose header starts with | ${header.join(' | ')} |; found ${matches.length}`,
    )
  }
  return matches[0]!
}

/** The text of a cell that is one code span, e.g. "`RELAY_ERR_X`" → "RELAY_ERR_X". */
export function code(cell: string | undefined): string | null {
  const m = /^`([^`]*)`$/.exec(cell ?? '')
  return m?.[1] ?? null
}

/** What rowsByCode needs of a tap test. */
export interface Failer {
  fail(message: string): unknown
}

/** Rows keyed by the code span of their first cell; duplicates and stray rows are failures. */
export function rowsByCode(t: Failer, table: Table, what: string): Map<string, readonly string[]> {
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

/**
 * Top-level list items that start with a code span, e.g. "- `history_size`: messages kept",
 * keyed by that span; the value is the rest of the item, continuation lines joined.
 */
export function codeListItems(markdown: string): Map<string, string> {
  const items = new Map<string, string>()
  let current: { key: string; text: string[] } | null = null
  const flush = (): void => {
    if (current) items.set(current.key, current.text.join(' ').trim())
    current = null
  }
  for (const line of lines(markdown)) {
    const item = line.fenced ? null : /^- `([^`]+)`(.*)$/.exec(line.text)
    if (item) {
      flush()
      current = { key: item[1]!, text: [item[2]!] }
    } else if (current && !line.fenced && /^\s{2,}\S/.test(line.text)) {
      current.text.push(line.text.trim())
    } else {
      flush()
    }
  }
  flush()
  return items
}

/** GitHub's anchor for a heading text: lower case, punctuation dropped, spaces → hyphens. */
export function slug(heading: string): string {
  const text = heading
    .replace(/!?\[([^\]]*)\]\([^)]*\)/g, '$1')
    .trim()
    .toLowerCase()
  return text.replace(/[^\p{L}\p{M}\p{N}\p{Pc} -]/gu, '').replace(/ /g, '-')
}

/** Every heading anchor of a document, numbered like GitHub's for repeated headings. */
export function anchors(markdown: string): Set<string> {
  const seen = new Map<string, number>()
  const found = new Set<string>()
  for (const line of lines(markdown)) {
    const m = line.fenced ? null : /^#{1,6}\s+(.*?)\s*#*\s*$/.exec(line.text)
    if (!m) continue
    const base = slug(m[1]!)
    const n = seen.get(base) ?? 0
    seen.set(base, n + 1)
    found.add(n === 0 ? base : `${base}-${n}`)
  }
  return found
}

/** A link of a document: its target as written and the line it starts on. */
export interface Link {
  readonly target: string
  readonly line: number
}

/** Every inline link and image outside code, e.g. `[text](docs/x.md#part)`. */
export function links(markdown: string): Link[] {
  const text = prose(markdown)
  const found: Link[] = []
  for (const m of text.matchAll(/!?\[(?:[^\]\\]|\\.)*\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g)) {
    const line = text.slice(0, m.index).split('\n').length
    found.push({ target: m[1]!, line })
  }
  return found
}

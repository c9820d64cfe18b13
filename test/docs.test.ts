/**
 * The documentation holds together: README.md stays a front page, every relative link of
 * README.md and docs/*.md reaches a file (and a heading, for #anchors), and lines stay
 * readable in a terminal. The tables' agreement with the code is checked next to the code
 * they describe: test/errors.test.ts, test/docs/configuration.test.ts and
 * test/docs/operations.test.ts.
 */
import { existsSync, statSync } from 'node:fs'
import { posix } from 'node:path'
import t from 'tap'
import { ROOT, anchors, documents, lines, links, readDoc } from './docs/markdown.js'

/** README.md must stay a front page; the manuals live in docs/. */
const README_MAX_BYTES = 16_000
/** Longest line outside fenced code blocks, in characters. */
const MAX_LINE_CHARS = 160

t.test('README.md is a front page of at most 16,000 bytes', async (t) => {
  const bytes = Buffer.byteLength(readDoc('README.md'), 'utf8')
  t.ok(bytes <= README_MAX_BYTES, `README.md is ${bytes} bytes (at most ${README_MAX_BYTES})`)
})

t.test('every relative link reaches a file, and every #anchor a heading', async (t) => {
  for (const doc of documents()) {
    const markdown = readDoc(doc)
    for (const link of links(markdown)) {
      if (/^[a-z][a-z0-9+.-]*:/i.test(link.target)) continue // https:, mailto:
      const where = `${doc}:${link.line}: ${link.target}`
      const [path = '', anchor] = link.target.split('#', 2)
      const file = path === '' ? doc : posix.normalize(posix.join(posix.dirname(doc), path))
      if (file.startsWith('../') || posix.isAbsolute(file)) {
        t.fail(`${where} leaves the repository`)
        continue
      }
      const url = new URL(file, ROOT)
      if (!existsSync(url)) {
        t.fail(`${where}: ${file} does not exist`)
        continue
      }
      if (anchor === undefined) continue
      if (!file.endsWith('.md') || !statSync(url).isFile()) {
        t.fail(`${where}: an anchor into ${file}, which is not a Markdown file`)
        continue
      }
      const found = anchors(file === doc ? markdown : readDoc(file)).has(decodeURIComponent(anchor))
      t.ok(found, `${where}: ${file} has a heading #${anchor}`)
    }
  }
})

t.test(`no line longer than ${MAX_LINE_CHARS} characters outside code blocks`, async (t) => {
  for (const doc of documents()) {
    for (const line of lines(readDoc(doc))) {
      // Code points, as a terminal shows them (§, →, … are one column each).
      const length = Array.from(line.text).length
      if (!line.fenced && length > MAX_LINE_CHARS) {
        t.fail(
          `${doc}:${line.number} is ${length} characters long: wrap it, or make a table a list`,
        )
      }
    }
  }
  t.pass('lines checked')
})

t.test('the link checker itself', async (t) => {
  const markdown = [
    '# Keys and `tokens`: §1',
    '## 5. Subscribing: WebSocket `wss://HOST:PORT/ws`',
    '## Repeated',
    '## Repeated',
    'See [one](a.md#x) and ![two](b.png), `[not](code.md)`, and [three',
    'lines](c.md).',
    '```',
    '[fenced](d.md)',
    '```',
  ].join('\n')
  t.same(
    links(markdown).map((l) => [l.target, l.line]),
    [
      ['a.md#x', 5],
      ['b.png', 5],
      ['c.md', 5],
    ],
  )
  t.same(
    [...anchors(markdown)],
    ['keys-and-tokens-1', '5-subscribing-websocket-wsshostportws', 'repeated', 'repeated-1'],
  )
})

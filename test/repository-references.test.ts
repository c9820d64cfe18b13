/**
 * Everything the sources cite is in the repository: comments cite the wire contract as
 * `docs/protocol.md` and a section that exists there, and nothing points to the issue
 * tracker, to the contract's former home outside the repository, or to a style guide a
 * clone does not carry. Section signs are written as escapes in this file so that it
 * passes its own check.
 */
import t from 'tap'
import { readDoc } from './docs/markdown.js'
import { sourceFiles, type SourceFile } from './helpers/source-files.js'

/** Where the sources, tests, CI script and packaging live; docs/ and README.md for the text rules. */
const ROOTS = ['src/', 'test/', '.ci/', 'packaging/', 'systemd/', 'docs/', 'README.md']

const SECTION_SIGN = '\u00a7'

/** Text that points outside the repository, wherever it appears (comments, strings, prose). */
const OUTSIDE: readonly { readonly what: string; readonly pattern: RegExp }[] = [
  { what: 'an issue number', pattern: /\bissue[ -]#?\d/i },
  { what: 'an item of an issue', pattern: /\bissue\s+item\b/i },
  { what: 'the former protocol file', pattern: /\bPROTOCOL(?:\.md\b|\s\u00a7)/ },
  { what: 'a sibling directory', pattern: /\.\.\/shared\// },
  { what: 'the style guide', pattern: /\bSTYLE(?:\.md\b|\s\u00a7)/ },
]

/** A section sign and its number: the number is group 1. */
const SECTION = /\u00a7\s?(\d+(?:\.\d+)*)/g
/** What a section number may belong to: the wire contract, or an RFC. */
const ANCHOR = /protocol\.md\b|\bRFC\s?\d+/g

/** One comment: a block comment, or a run of line comments; `line` is where it starts. */
export interface Comment {
  readonly line: number
  readonly text: string
}

/**
 * The comments of a source file in any of the repository's languages: `/* … *\/`,
 * `<!-- … -->`, and runs of `//` or `#` lines (a trailing `// …` or ` # …` after code
 * starts a run). Strings are not comments, except where a line comment marker follows
 * whitespace inside one: good enough for citations, which comments hold.
 */
export function comments(source: string): Comment[] {
  const out: Comment[] = []
  let current: { line: number; parts: string[]; kind: 'block' | 'line' } | null = null
  let closer: string | null = null
  const close = (): void => {
    if (current !== null) out.push({ line: current.line, text: current.parts.join('\n') })
    current = null
  }
  const open = (line: number, kind: 'block' | 'line', part: string): void => {
    close()
    current = { line, parts: [part], kind }
  }
  source.split('\n').forEach((text, i) => {
    const line = i + 1
    if (closer !== null && current !== null) {
      const end = text.indexOf(closer)
      current.parts.push(end === -1 ? text : text.slice(0, end))
      if (end !== -1) {
        closer = null
        close()
      }
      return
    }
    const trimmed = text.trimStart()
    const opener = /^(\/\*|<!--)/.exec(trimmed)?.[1]
    if (opener !== undefined) {
      const end = opener === '/*' ? '*/' : '-->'
      const body = trimmed.slice(opener.length)
      const at = body.indexOf(end)
      open(line, 'block', at === -1 ? body : body.slice(0, at))
      if (at === -1) closer = end
      else close()
      return
    }
    const lineComment = /^(?:\/\/|#)(.*)$/.exec(trimmed)?.[1]
    if (lineComment !== undefined) {
      if (current?.kind === 'line') current.parts.push(lineComment)
      else open(line, 'line', lineComment)
      return
    }
    close()
    const trailing = /\s(?:\/\/|#)\s(.*)$/.exec(text)?.[1]
    if (trailing !== undefined) open(line, 'line', trailing)
  })
  close()
  return out
}

/** The section numbers of docs/protocol.md's numbered headings ("## 5. …", "### 5.4 …"). */
export function sections(markdown: string): Set<string> {
  return new Set([...markdown.matchAll(/^#{2,4} (\d+(?:\.\d+)*)\.? /gm)].map((m) => m[1] ?? ''))
}

/** What is wrong with the citations of `file`, one line each, `path:line: …`. */
export function problems(file: SourceFile, known: ReadonlySet<string>): string[] {
  const found = new Set<string>()
  file.text.split('\n').forEach((text, i) => {
    for (const { what, pattern } of OUTSIDE) {
      if (pattern.test(text)) found.add(`${file.path}:${i + 1}: ${what}: ${text.trim()}`)
    }
  })
  if (file.path.endsWith('.md')) return [...found]
  for (const comment of comments(file.text)) {
    for (const m of comment.text.matchAll(SECTION)) {
      const before = comment.text.slice(0, m.index)
      const line = comment.line + before.split('\n').length - 1
      const anchor = [...before.matchAll(ANCHOR)].at(-1)?.[0]
      const cited = `${SECTION_SIGN}${m[1]}`
      if (anchor === undefined) {
        found.add(`${file.path}:${line}: ${cited} of what? Cite it as docs/protocol.md ${cited}`)
      } else if (anchor === 'protocol.md' && !known.has(m[1] ?? '')) {
        found.add(`${file.path}:${line}: docs/protocol.md has no section ${cited}`)
      }
    }
  }
  return [...found]
}

const KNOWN = sections(readDoc('docs/protocol.md'))

t.test('docs/protocol.md has numbered sections to cite', async (t) => {
  for (const section of ['1', '1.2', '5', '5.4', '7', '8']) t.ok(KNOWN.has(section), section)
})

t.test('every citation points inside the repository, to a section that exists', async (t) => {
  const files = sourceFiles(...ROOTS)
  t.ok(
    files.some((f) => f.path === 'test/repository-references.test.ts'),
    'this file included',
  )
  t.same(
    files.flatMap((f) => problems(f, KNOWN)),
    [],
  )
})

t.test('the checker itself', async (t) => {
  const s = SECTION_SIGN
  const known = new Set(['5', '5.4', '7'])
  const check = (text: string, path = 'x.ts'): string[] => problems({ path, text }, known)

  // Cited as the contract, even after other sections of the same comment, or an RFC's.
  t.same(check(`/** Bounded (docs/protocol.md ${s}7). */`), [])
  t.same(check(`// docs/protocol.md ${s}5, and\n// ${s}5.4 for the codes.`), [])
  t.same(check(`/**\n * The frames of docs/protocol.md\n * (${s}5, ${s}7).\n */`), [])
  t.same(check(`// RFC 6455 ${s}4.1: a GET.`), [])
  t.same(check(`x() // RFC 9112 ${s}3.2`), [])
  t.same(check(`const heading = '# Keys: ${s}1'`), [], 'a section sign in code: not a citation')
  t.same(check('# a section sign alone, and the backend issues 2 tokens'), [])

  // Bare, or whose "protocol.md" is in another comment.
  t.match(check(`/** Bounded (${s}7). */`), [/^x\.ts:1: .7 of what\?/])
  t.match(check(`/** docs/protocol.md */\n/** Bounded (${s}7). */`), [/^x\.ts:2: /])
  t.match(check(`// docs/protocol.md\nx()\n// then ${s}7`), [/^x\.ts:3: /])
  t.match(check(`x() // ${s}5`), [/^x\.ts:1: /])
  t.match(check(`# shell\n# ${s}5`, 'run.sh'), [/^run\.sh:2: /])
  t.match(check(`/**\n * Bounded,\n * ${s}7.\n */`), [/^x\.ts:3: /])
  t.match(check(`// docs/protocol.md ${s}9`), [/no section .9$/])

  // Outside the repository, in comments and strings alike; in Markdown too.
  const outside: [string, string][] = [
    ['see issue\x2012', 'an issue number'],
    ['the issue\x2d7 targets', 'an issue number'],
    ['issue\x20item 3', 'an item of an issue'],
    [`PROTOCOL\x20${s}5`, 'the former protocol file'],
    ['PROTOCOL\x2emd', 'the former protocol file'],
    ['..\x2fshared/notes', 'a sibling directory'],
    [`STYLE\x20${s}3`, 'the style guide'],
  ]
  for (const [text, what] of outside) {
    for (const [source, path] of [
      [`const a = '${text}'`, 'x.ts'],
      [`// ${text}`, 'x.ts'],
      [text, 'docs/x.md'],
    ] as const) {
      t.match(check(source, path), [`${path}:1: ${what}: `], `${path}: ${text}`)
    }
  }
})

import t from 'tap'
import { lineAndColumn, parseJsonText, quotedValueProblems } from '../src/config-file.js'
import { SCHEMA } from '../src/config.js'

t.test('lineAndColumn counts from 1', async (t) => {
  t.same(lineAndColumn('abc', 0), { line: 1, column: 1 })
  t.same(lineAndColumn('ab\ncd', 4), { line: 2, column: 2 })
  t.same(lineAndColumn('ab\n', 99), { line: 2, column: 1 }, 'past the end: the end')
})

t.test('parseJsonText: syntax errors as one line with line and column', async (t) => {
  t.same(parseJsonText('{"port": 1}'), { value: { port: 1 } })
  const trailingComma = parseJsonText('{\n  "port": 8443,\n}\n')
  t.ok('problem' in trailingComma)
  if (!('problem' in trailingComma)) return
  t.match(trailingComma.problem, /^line 3, column 1: /)
  t.notMatch(trailingComma.problem, /position/, 'no offset left in the words')
  t.notMatch(trailingComma.problem, /\n/)
  const missingColon = parseJsonText('{\n  "port" 8443\n}')
  t.match(missingColon, { problem: /^line 2, column 10: / })
  // Where the text ends too early, the position is its end (Node's words vary there).
  t.match(parseJsonText('{\n  "port":'), { problem: /^line 2, column 10: / })
  t.match(parseJsonText('{\n  "port": 8443\n'), { problem: /^line 3, column 1: / })
  t.match(parseJsonText(''), { problem: /^line 1, column 1: / })
})

t.test('quotedValueProblems: numbers and booleans must not be strings', async (t) => {
  t.same(quotedValueProblems({ port: 8443, tls: true, address: '::' }, SCHEMA), [])
  t.same(quotedValueProblems({ port: '8443' }, SCHEMA), [
    'port: "8443" is a string; write a number without quotes, e.g. "port": 8443',
  ])
  t.same(quotedValueProblems({ tls: 'false', history_size: 'lots' }, SCHEMA), [
    'tls: "false" is a string; write a boolean without quotes, e.g. "tls": false',
    'history_size: "lots" is a string; write a number without quotes, e.g. "history_size": 8443',
  ])
  t.same(quotedValueProblems({ broker: { min_replicas_ack: '1', url: 'redis://x' } }, SCHEMA), [
    'broker.min_replicas_ack: "1" is a string; write a number without quotes, e.g. "min_replicas_ack": 1',
  ])
  t.same(
    quotedValueProblems({ unknown_key: '1', process_uid: '1000' }, SCHEMA),
    [],
    "ids may be strings; unknown keys are convict's",
  )
})

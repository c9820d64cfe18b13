import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { ConfigError } from '../src/errors.js'
import { keyInEnvironment, resolveKeyFile } from '../src/key-file.js'

t.test('resolveKeyFile', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'tuleap-realtime-key-file-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const file = join(dir, 'key')
  writeFileSync(file, 'the-key\n\n')
  t.same(resolveKeyFile({ OTHER: 'x' }), { OTHER: 'x' }, 'unchanged without the variable')
  t.same(
    resolveKeyFile({ PRIVATE_KEY_FILE: file }),
    { PRIVATE_KEY_FILE: file, PRIVATE_KEY: 'the-key\n' },
    'one trailing newline ignored, not more',
  )
  t.same(resolveKeyFile({ PRIVATE_KEY_FILE: '', PRIVATE_KEY: 'k' }), {
    PRIVATE_KEY_FILE: '',
    PRIVATE_KEY: 'k',
  })
  t.throws(() => resolveKeyFile({ PRIVATE_KEY_FILE: file, PRIVATE_KEY: 'k' }), ConfigError)
})

t.test('keyInEnvironment', async (t) => {
  t.equal(keyInEnvironment({}), false)
  t.equal(keyInEnvironment({ PRIVATE_KEY: '' }), false)
  t.equal(keyInEnvironment({ PRIVATE_KEY: 'k' }), true)
  t.equal(keyInEnvironment({ PRIVATE_KEY_FILE: '/run/secrets/k' }), true)
})

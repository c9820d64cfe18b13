/**
 * Which modules a spawned Node process loads: a `--import` hook (Node 20.6+,
 * `module.register`) that appends every loaded URL to a file.
 */
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'

/** The loader hooks: the file is opened at start, so that a later privilege drop does not matter. */
const HOOKS = `import { openSync, writeSync } from 'node:fs'
let fd = null
export function initialize(data) {
  fd = openSync(data.file, 'a')
}
export async function load(url, context, next) {
  writeSync(fd, url + '\\n')
  return next(url, context)
}
`

const register = (hooks: string, file: string): string => `import { register } from 'node:module'
register(${JSON.stringify(hooks)}, { data: { file: ${JSON.stringify(file)} } })
`

/** A recorder writing to `dir`: the node options to spawn with, and what was loaded. */
export function moduleRecorder(
  dir: string,
  name = 'modules',
): { nodeArgs: string[]; loaded(): string[] } {
  const hooks = join(dir, `${name}-hooks.mjs`)
  const entry = join(dir, `${name}-register.mjs`)
  const file = join(dir, `${name}.txt`)
  writeFileSync(hooks, HOOKS)
  writeFileSync(entry, register(pathToFileURL(hooks).href, file))
  writeFileSync(file, '')
  return {
    nodeArgs: [`--import=${pathToFileURL(entry).href}`],
    loaded: () => readFileSync(file, 'utf8').split('\n').filter(Boolean),
  }
}

import { readFileSync } from 'node:fs'
import { ConfigError } from './errors.js'

/** The variable holding the key itself, and the one naming a file that holds it. */
export const KEY_ENV = 'PRIVATE_KEY'
export const KEY_FILE_ENV = 'PRIVATE_KEY_FILE'

/**
 * The `_FILE` convention of official images (Docker, Podman and Kubernetes secrets): when
 * PRIVATE_KEY_FILE is set, the key is that file's content, one trailing newline ignored,
 * and is returned as PRIVATE_KEY in a copy of `env`. Setting both is a ConfigError, as is
 * an unreadable file. The key is never quoted in an error.
 */
export function resolveKeyFile(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const file = env[KEY_FILE_ENV]
  if (file === undefined || file === '') return env
  if (env[KEY_ENV] !== undefined && env[KEY_ENV] !== '') {
    throw new ConfigError(`${KEY_ENV} and ${KEY_FILE_ENV} are both set; set only one of them`)
  }
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch (err) {
    throw new ConfigError(`${KEY_FILE_ENV}: cannot read ${file}: ${(err as Error).message}`)
  }
  return { ...env, [KEY_ENV]: text.replace(/\r?\n$/, '') }
}

/** True when the environment carries the key (PRIVATE_KEY or PRIVATE_KEY_FILE). */
export function keyInEnvironment(env: NodeJS.ProcessEnv): boolean {
  return [KEY_ENV, KEY_FILE_ENV].some((name) => (env[name] ?? '') !== '')
}

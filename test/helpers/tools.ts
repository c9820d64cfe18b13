/**
 * System tools some tests need (openssl, redis-server, nginx, chromium, rpm…). Without one,
 * its tests are skipped with a message, except under CI=true, where CI installs them and
 * their absence is a failure.
 */
import { spawnSync } from 'node:child_process'

/** Whether `command` can be run (`command args` starts, whatever its status). */
export const hasTool = (command: string, args: readonly string[] = ['--version']): boolean =>
  spawnSync(command, args, { stdio: 'ignore' }).error === undefined

/**
 * The `skip` option of a test that needs `missing` tools: a reason when some are missing
 * outside CI, else false (on CI the test runs and must assert they are installed).
 */
export function skipWithout(missing: readonly string[], hint: string): string | false {
  return missing.length > 0 && process.env.CI !== 'true'
    ? `${missing.join(', ')} not installed (${hint})`
    : false
}

/**
 * For a test that needs openssl (test certificates): true when it runs; otherwise fails
 * `t` under CI=true and ends it as skipped elsewhere.
 */
export function requireOpenssl(
  t: { fail(message: string): unknown; plan(n: number, comment: string): unknown },
  why = 'cannot make test certificates',
): boolean {
  if (spawnSync('openssl', ['version'], { stdio: 'ignore' }).status === 0) return true
  if (process.env.CI === 'true') t.fail('openssl is required on CI')
  else t.plan(0, `openssl is not installed: ${why}`)
  return false
}

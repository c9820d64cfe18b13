import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { loadConfig, type Config } from '../../src/config.js'
import { testCert } from './certs.js'

/** A valid 64-byte-plus key for tests (the relay uses it as raw UTF-8 bytes). */
export const TEST_KEY = 'test-key-0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef'

/** nobody: whom a relay process becomes when the tests run as root. */
export const NOBODY = 65534
export const isRoot = process.getuid?.() === 0
/** Config values that make a relay process drop to nobody when the tests run as root. */
export const dropToNobody: { process_uid?: number; process_gid?: number } = isRoot
  ? { process_uid: NOBODY, process_gid: NOBODY }
  : {}

/** A config for tests: loopback, port 0, silent logs, test key; `values` override. */
export function testConfig(values: Record<string, unknown> = {}): Config {
  return loadConfig({
    values: {
      nodejs_server_jwt_private_key: TEST_KEY,
      address: '127.0.0.1',
      port: 0,
      log_level: 'silent',
      ...values,
    },
  })
}

/**
 * A config file for the relay binary (`--config=FILE`) in a directory of its own, removed
 * at teardown: the test key and certificate on 127.0.0.1; `values` override.
 */
export function testConfigFile(
  t: { teardown(fn: () => void): void },
  values: Record<string, unknown> = {},
): string {
  const cert = testCert()
  const dir = mkdtempSync(join(tmpdir(), 'tuleap-realtime-config-'))
  t.teardown(() => {
    rmSync(dir, { recursive: true, force: true })
  })
  const file = join(dir, 'config.json')
  writeFileSync(
    file,
    JSON.stringify({
      nodejs_server_jwt_private_key: TEST_KEY,
      full_path_ssl_cert: cert.certFile,
      full_path_ssl_key: cert.keyFile,
      address: '127.0.0.1',
      ...values,
    }),
  )
  return file
}

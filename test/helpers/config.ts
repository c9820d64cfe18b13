import { loadConfig, type Config } from '../../src/config.js'

/** A valid 64-byte-plus key for tests (the relay uses it as raw UTF-8 bytes). */
export const TEST_KEY = 'test-key-0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef'

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

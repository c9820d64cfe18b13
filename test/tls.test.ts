import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import t, { type Test } from 'tap'
import { ConfigError } from '../src/errors.js'
import { readTlsFiles } from '../src/tls.js'
import { testConfig } from './helpers/config.js'
import { thrown } from './helpers/errors.js'
import { requireOpenssl } from './helpers/tools.js'

const script = fileURLToPath(new URL('../ssl/make-self-signed.sh', import.meta.url))

/** Skip (fail on CI) when openssl, which make-self-signed.sh needs, is missing. */
const hasOpenssl = (t: Test): boolean => requireOpenssl(t)

/** The ConfigError `fn` throws; fails the test if it throws nothing or something else. */
function configError(t: Test, fn: () => unknown): string {
  const err = thrown(Error, fn)
  t.type(err, ConfigError)
  return err.message
}

t.test('tls: false reads nothing and returns null', async (t) => {
  const config = testConfig({
    tls: false,
    full_path_ssl_cert: '/nonexistent/cert.pem',
    full_path_ssl_key: '/nonexistent/key.pem',
  })
  t.equal(readTlsFiles(config), null)
})

t.test('certificate files', async (t) => {
  if (!hasOpenssl(t)) return
  const dir = mkdtempSync(join(tmpdir(), 'tuleap-realtime-tls-'))
  t.teardown(() => {
    rmSync(dir, { recursive: true, force: true })
  })
  const pair = (name: string) => {
    const cert = join(dir, `${name}-cert.pem`)
    const key = join(dir, `${name}-key.pem`)
    execFileSync('bash', [script, cert, key], { stdio: 'ignore' })
    return { cert, key }
  }
  const a = pair('a')
  const b = pair('b')
  const missing = join(dir, 'missing.pem')
  const garbage = join(dir, 'garbage.pem')
  writeFileSync(garbage, 'not a PEM file\n')
  const config = (cert: string, key: string) =>
    testConfig({ full_path_ssl_cert: cert, full_path_ssl_key: key })

  t.test('a matching pair loads', async (t) => {
    const files = readTlsFiles(config(a.cert, a.key))
    t.ok(files)
    t.same(files?.cert, readFileSync(a.cert))
    t.same(files?.key, readFileSync(a.key))
  })

  t.test('an unreadable certificate names full_path_ssl_cert and the path', async (t) => {
    const message = configError(t, () => readTlsFiles(config(missing, a.key)))
    t.ok(message.startsWith(`full_path_ssl_cert: cannot read ${missing}: `), message)
    t.match(message, /ENOENT/)
    t.match(
      configError(t, () => readTlsFiles(config(dir, a.key))),
      /^full_path_ssl_cert: cannot read .*EISDIR/,
    )
  })

  t.test('an unreadable key names full_path_ssl_key and the path', async (t) => {
    const message = configError(t, () => readTlsFiles(config(a.cert, missing)))
    t.ok(message.startsWith(`full_path_ssl_key: cannot read ${missing}: `), message)
    t.match(message, /ENOENT/)
  })

  t.test('a certificate and a key that do not match are refused as a pair', async (t) => {
    const message = configError(t, () => readTlsFiles(config(a.cert, b.key)))
    t.ok(
      message.startsWith(
        `full_path_ssl_cert/full_path_ssl_key: ${a.cert} and ${b.key} do not load as a TLS pair: `,
      ),
      message,
    )
    t.match(message, /the key is not the certificate's private key \(key values mismatch\)$/)
  })

  t.test('each kind of bad pair says which file is wrong', async (t) => {
    t.match(
      configError(t, () => readTlsFiles(config(garbage, a.key))),
      /: the certificate file holds no PEM certificate/,
    )
    t.match(
      configError(t, () => readTlsFiles(config(a.cert, garbage))),
      /: the key file holds no PEM private key/,
    )
    const encrypted = join(dir, 'encrypted-key.pem')
    execFileSync('openssl', [
      'pkey',
      '-in',
      a.key,
      '-aes256',
      '-passout',
      'pass:secret',
      '-out',
      encrypted,
    ])
    t.match(
      configError(t, () => readTlsFiles(config(a.cert, encrypted))),
      /: the key file is encrypted; the relay needs it without a passphrase/,
    )
  })

  t.test('files that are not PEM are refused as a pair', async (t) => {
    t.match(
      configError(t, () => readTlsFiles(config(garbage, a.key))),
      /^full_path_ssl_cert\/full_path_ssl_key: .* do not load as a TLS pair/,
    )
    t.match(
      configError(t, () => readTlsFiles(config(a.cert, garbage))),
      /^full_path_ssl_cert\/full_path_ssl_key: .* do not load as a TLS pair/,
    )
  })

  t.test('the key file swapped with the certificate is refused', async (t) => {
    t.match(
      configError(t, () => readTlsFiles(config(a.key, a.cert))),
      /do not load as a TLS pair/,
    )
  })
})

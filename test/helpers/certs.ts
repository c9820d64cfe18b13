import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

/** A self-signed pair made by the project's own ssl/make-self-signed.sh. */
export interface TestCert {
  readonly cert: Buffer
  readonly key: Buffer
  readonly certFile: string
  readonly keyFile: string
  readonly dir: string
}

const script = fileURLToPath(new URL('../../ssl/make-self-signed.sh', import.meta.url))
let cached: TestCert | undefined

/** One certificate per test process (SAN localhost, 127.0.0.1, ::1), removed at exit. */
export function testCert(): TestCert {
  if (cached) return cached
  const dir = mkdtempSync(join(tmpdir(), 'tuleap-realtime-test-'))
  const certFile = join(dir, 'cert.pem')
  const keyFile = join(dir, 'key.pem')
  execFileSync('bash', [script, certFile, keyFile], { stdio: 'ignore' })
  process.on('exit', () => {
    rmSync(dir, { recursive: true, force: true })
  })
  cached = { cert: readFileSync(certFile), key: readFileSync(keyFile), certFile, keyFile, dir }
  return cached
}

/** A fresh pair in `dir` (files NAME-cert.pem, NAME-key.pem), with an optional CN and SAN. */
export function makeCert(
  dir: string,
  name: string,
  cn?: string,
  san?: string,
): { certFile: string; keyFile: string; cert: Buffer; key: Buffer } {
  const certFile = join(dir, `${name}-cert.pem`)
  const keyFile = join(dir, `${name}-key.pem`)
  const extra = cn === undefined ? [] : san === undefined ? [cn] : [cn, san]
  execFileSync('bash', [script, certFile, keyFile, ...extra], { stdio: 'ignore' })
  return { certFile, keyFile, cert: readFileSync(certFile), key: readFileSync(keyFile) }
}

import { readFileSync, statSync } from 'node:fs'
import { X509Certificate, createPrivateKey } from 'node:crypto'
import { join } from 'node:path'
import t from 'tap'
import { runMain } from '../helpers/process.js'
import { requireOpenssl } from '../helpers/tools.js'

t.test('cert: a self-signed pair for a name, key 0600, never overwritten', async (t) => {
  if (!requireOpenssl(t)) return
  const dir = t.testdir({})
  const cert = join(dir, 'cert.pem')
  const key = join(dir, 'key.pem')
  const made = await runMain(['cert', `--cert=${cert}`, `--key=${key}`, '--name=relay.example.com'])
  t.equal(made.status, 0, made.stderr)
  t.match(made.stdout, /CN=relay\.example\.com, subjectAltName=DNS:relay\.example\.com/)
  const x509 = new X509Certificate(readFileSync(cert))
  t.equal(x509.checkHost('relay.example.com'), 'relay.example.com')
  t.ok(x509.checkPrivateKey(createPrivateKey(readFileSync(key))))
  t.equal(statSync(key).mode & 0o777, 0o600)
  const again = await runMain(['cert', `--cert=${cert}`, `--key=${key}`])
  t.equal(again.status, 1)
  t.match(again.stderr, /exists; remove it/)
  t.equal((await runMain(['cert', `--cert=${cert}`])).status, 2, '--key is required')
})

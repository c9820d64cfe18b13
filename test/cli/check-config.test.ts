import { spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { checkConfig } from '../../src/cli/check-config.js'
import type { IdDirectory } from '../../src/privileges.js'
import { TEST_KEY, testConfigFile } from '../helpers/config.js'
import { collectIo } from '../helpers/fakes.js'
import { projectRoot, requireBuild, runRelaySync } from '../helpers/process.js'
import { requireOpenssl } from '../helpers/tools.js'

/** A host with the users and groups `tuleaprt` (990) and `root` (0), nothing else. */
const HOST: IdDirectory = {
  user: (name) => ({ tuleaprt: 990, root: 0 })[name] ?? null,
  group: (name) => ({ tuleaprt: 990, root: 0 })[name] ?? null,
}

t.test('check-config', async (t) => {
  if (!requireOpenssl(t)) return
  const dir = mkdtempSync(join(tmpdir(), 'tuleap-realtime-check-config-'))
  t.teardown(() => {
    rmSync(dir, { recursive: true, force: true })
  })
  /** A config file on port 8443 with `values`. */
  const write = (values: Record<string, unknown>): string =>
    testConfigFile(t, { port: 8443, ...values })
  const good = write({})
  const badKey = write({ nodejs_server_jwt_private_key: 'too-short' })
  const placeholder = write({
    nodejs_server_jwt_private_key: 'private_key_to_change',
  })
  const otherKey = join(dir, 'other-key.pem')
  const otherCert = join(dir, 'other-cert.pem')
  const made = spawnSync(
    'bash',
    [join(projectRoot, 'ssl/make-self-signed.sh'), otherCert, otherKey],
    {
      stdio: 'ignore',
    },
  )
  t.equal(made.status, 0, 'a second pair is made')
  const mismatch = write({ full_path_ssl_key: otherKey })
  const plain = write({ tls: false })

  t.test('without --config: usage error, exit 2', async (t) => {
    const io = collectIo()
    t.equal(checkConfig(undefined, io), 2)
    t.same(io.outLines, [])
    t.same(io.errLines, [
      'check-config: --config=PATH is required (or PRIVATE_KEY / PRIVATE_KEY_FILE)',
    ])
  })

  t.test('a good config: exit 0 and "ok"', async (t) => {
    const io = collectIo()
    t.equal(checkConfig(good, io), 0)
    t.same(io.errLines, [])
    t.same(io.outLines, [`check-config: ${good}: ok (wss on 127.0.0.1 port 8443)`])
  })

  t.test('tls: false on loopback is ok and says so', async (t) => {
    const io = collectIo()
    t.equal(checkConfig(plain, io), 0)
    t.match(io.outLines, [/: ok \(ws, behind a proxy on 127\.0\.0\.1 port 8443\)$/])
  })

  t.test('a short key: exit 1 with the reason', async (t) => {
    const io = collectIo()
    t.equal(checkConfig(badKey, io), 1)
    t.same(io.outLines, [])
    t.equal(io.errLines.length, 1)
    t.match(io.errLines[0], `check-config: ${badKey}: nodejs_server_jwt_private_key: 9 bytes`)
    t.match(io.errLines[0], 'head -c 64 /dev/urandom | base64')
  })

  t.test('the placeholder key: exit 1 naming the key', async (t) => {
    const io = collectIo()
    t.equal(checkConfig(placeholder, io), 1)
    t.match(io.errLines, [/nodejs_server_jwt_private_key: still the placeholder/])
  })

  t.test('the env given in io is read', async (t) => {
    const io = collectIo({ PRIVATE_KEY: TEST_KEY })
    t.equal(checkConfig(placeholder, io), 0)
  })

  t.test('a certificate and a key that do not match: exit 1', async (t) => {
    const io = collectIo()
    t.equal(checkConfig(mismatch, io), 1)
    t.same(io.outLines, [])
    t.match(io.errLines, [/full_path_ssl_cert\/full_path_ssl_key: .* do not load as a TLS pair/])
  })

  t.test('a missing file: exit 1 naming it', async (t) => {
    const io = collectIo()
    const missing = join(dir, 'missing.json')
    t.equal(checkConfig(missing, io), 1)
    t.match(io.errLines, [`check-config: ${missing}: cannot read ${missing}`])
  })

  t.test('a JSON syntax error: its line and column, one line', async (t) => {
    const file = join(dir, 'syntax.json')
    writeFileSync(file, '{\n  "port": 8443,\n  "address": "127.0.0.1",\n}\n')
    const io = collectIo({ PRIVATE_KEY: TEST_KEY })
    t.equal(checkConfig(file, io, HOST), 1)
    t.equal(io.errLines.length, 1)
    t.match(io.errLines[0], `check-config: ${file}: ${file} is not valid JSON: line 4, column 1: `)
  })

  t.test('a port given as a string is refused, though convict would coerce it', async (t) => {
    const io = collectIo()
    const file = write({ port: '8443' })
    t.equal(checkConfig(file, io, HOST), 1)
    t.same(io.errLines, [
      `check-config: ${file}: port: "8443" is a string; write a number without quotes, e.g. "port": 8443`,
    ])
  })

  t.test('several quoted values: one line each', async (t) => {
    const io = collectIo()
    const file = write({ port: '8443', tls: 'true' })
    t.equal(checkConfig(file, io, HOST), 1)
    t.equal(io.errLines.length, 2)
    t.match(io.errLines, [/: port: "8443" is a string/, /: tls: "true" is a string/])
  })

  t.test('process_uid/process_gid must name a user and group of this host', async (t) => {
    const ok = collectIo()
    t.equal(checkConfig(write({ process_uid: 'tuleaprt', process_gid: 'tuleaprt' }), ok, HOST), 0)
    t.equal(
      checkConfig(write({ process_uid: 4242, process_gid: '4242' }), ok, HOST),
      0,
      'numbers are taken as they are',
    )
    const noUser = collectIo()
    const file = write({ process_uid: 'tuleaprtx', process_gid: 'tuleaprt' })
    t.equal(checkConfig(file, noUser, HOST), 1)
    t.same(noUser.errLines, [
      `check-config: ${file}: process_uid: no user "tuleaprtx" on this host (getent passwd tuleaprtx finds nothing); create it (the RPM makes "tuleaprt") or name an existing one`,
    ])
    const noGroup = collectIo()
    t.equal(checkConfig(write({ process_uid: 'tuleaprt', process_gid: 'nogrp' }), noGroup, HOST), 1)
    t.match(noGroup.errLines, [/process_gid: no group "nogrp" on this host \(getent group nogrp/])
    const root = collectIo()
    t.equal(checkConfig(write({ process_uid: 'root', process_gid: 'tuleaprt' }), root, HOST), 1)
    t.match(root.errLines, [/process_uid: "root" is root \(id 0\)/])
  })

  t.test("this host's own users, through getent or /etc/passwd", async (t) => {
    const io = collectIo()
    t.equal(checkConfig(write({ process_uid: 'root', process_gid: 'root' }), io), 1)
    t.match(io.errLines, [/process_uid: "root" is root/])
    const missing = collectIo()
    t.equal(
      checkConfig(
        write({ process_uid: 'no-such-user-42', process_gid: 'no-such-group-42' }),
        missing,
      ),
      1,
    )
    t.match(missing.errLines, [/process_uid: no user "no-such-user-42"/])
  })

  t.test('the built binary', async (t) => {
    if (!requireBuild(t)) return
    const run = (...args: string[]) => runRelaySync(args, { cwd: dir, timeoutMs: 30_000 })
    const ok = run('check-config', `--config=${good}`)
    t.equal(ok.status, 0, 'good config: exit 0')
    t.equal(ok.stdout, `check-config: ${good}: ok (wss on 127.0.0.1 port 8443)\n`)
    t.equal(ok.stderr, '')
    const bad = run('check-config', `--config=${mismatch}`)
    t.equal(bad.status, 1, 'mismatched pair: exit 1')
    t.equal(bad.stdout, '')
    t.match(bad.stderr, /do not load as a TLS pair/)
    const unknownUser = run(
      'check-config',
      `--config=${write({ process_uid: 'no-such-user-42', process_gid: 'no-such-group-42' })}`,
    )
    t.equal(unknownUser.status, 1, 'unknown user: exit 1')
    t.match(
      unknownUser.stderr,
      /^check-config: .*: process_uid: no user "no-such-user-42" on this host/,
    )
    const usage = run('check-config')
    t.equal(usage.status, 2, 'no --config: exit 2')
    t.match(usage.stderr, '--config=PATH is required')
  })
})

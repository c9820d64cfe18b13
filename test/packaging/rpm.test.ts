/**
 * The RPM (npm run package:rpm): its contents, attributes, scripts and requirements,
 * rpmlint without errors, and the installed launcher running a publish → listen round
 * trip from a scratch root. Building takes about a minute.
 */
import { spawn, spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { loadConfig } from '../../src/config.js'
import { testCert } from '../helpers/certs.js'
import { dropToNobody, TEST_KEY } from '../helpers/config.js'
import { freePort } from '../helpers/ports.js'
import { run, type Ran } from '../helpers/process.js'
import { hasTool, skipWithout } from '../helpers/tools.js'

const ROOT = fileURLToPath(new URL('../..', import.meta.url))
const tools = ['rpmbuild', 'rpm', 'rpmlint'].filter((tool) => !hasTool(tool))
const skip = skipWithout(tools, 'apt-get install rpm rpmlint')

/** Run `cmd` in the project root with this environment plus `env`, killed after 600 s. */
const sh = (cmd: string, args: string[], options: { env?: NodeJS.ProcessEnv } = {}): Promise<Ran> =>
  run(cmd, args, { cwd: ROOT, env: { ...process.env, ...options.env }, timeoutMs: 600_000 })

const rpmq = (rpmFile: string, ...args: string[]) =>
  spawnSync('rpm', ['-qp', ...args, rpmFile], { encoding: 'utf8' }).stdout

// The file's own bound (tap's default is package.json's 180 s): the build alone may take its
// 600 s on a loaded machine, then the install and the round trip up to 120 s more.
t.setTimeout(900_000)

t.test('the RPM', { skip }, async (t) => {
  t.same(tools, [], 'rpmbuild, rpm and rpmlint are installed (CI installs them)')
  // A build directory of its own: test/systemd/nspawn.test.ts builds one at the same time.
  const buildDir = mkdtempSync(join(tmpdir(), 'tuleap-realtime-rpmbuild-'))
  t.teardown(() => {
    rmSync(buildDir, { recursive: true, force: true })
  })
  const build = await sh('bash', ['packaging/build-rpm.sh'], {
    env: { TULEAP_REALTIME_RPM_SKIP_BUILD: '1', TULEAP_REALTIME_RPM_BUILD_DIR: buildDir },
  })

  t.equal(build.status, 0, `npm run package:rpm builds: ${build.stderr}`)
  const rpmFile = build.stdout.trim().split('\n').pop() ?? ''
  t.match(rpmFile, /tuleap-realtime-[\d.]+-1\.noarch\.rpm$/)

  t.equal(rpmq(rpmFile, '--qf', '%{ARCH}'), 'noarch')
  const files = rpmq(rpmFile, '-l').trim().split('\n')
  for (const path of [
    '/usr/lib/tuleap-realtime/dist/src/main.js',
    '/usr/lib/tuleap-realtime/node_modules/fastify/package.json',
    '/usr/lib/tuleap-realtime/node_modules/ws/package.json',
    '/usr/bin/tuleap-realtime',
    '/usr/lib/systemd/system/tuleap-realtime.service',
    '/etc/tuleap-realtime/config.json',
    '/usr/lib/tuleap-realtime/ssl/make-self-signed.sh',
    '/usr/share/doc/tuleap-realtime/docs/operations.md',
    '/usr/share/licenses/tuleap-realtime/LICENSE',
  ]) {
    t.ok(files.includes(path), `contains ${path}`)
  }
  // What runs, nothing else: dependencies keep their JavaScript, JSON and licence texts.
  const dirs = new Set(files.map((f) => f.slice(0, f.lastIndexOf('/'))))
  const modules = files.filter(
    (f) => f.startsWith('/usr/lib/tuleap-realtime/node_modules/') && !dirs.has(f),
  )
  const extra = modules.filter(
    (f) =>
      /\.[^/]+$/.test(f) && !/\.(?:c|m)?js$|\.json$|\/(?:licen[cs]e|copying|notice)[^/]*$/i.test(f),
  )
  t.same(extra, [], 'no docs, release scripts or other non-code files from dependencies')
  t.same(
    modules.filter((f) =>
      /\/(?:tests?|spec|fixtures|bench(?:mark)?s?|examples?|docs)\/|\/(?:tsconfig[^/]*\.json|eslint\.config\.[cm]?js|(?:test|bench|benchmark|example)\.js)$/.test(
        f,
      ),
    ),
    [],
    'no tests, benchmarks, examples or lint and build configuration from dependencies',
  )
  t.notOk(
    files.includes('/usr/lib/tuleap-realtime/node_modules/pino/inc-version.sh'),
    'no pino release script',
  )
  t.notOk(
    files.includes('/usr/lib/tuleap-realtime/node_modules/pino/bin.js'),
    "no dependency's command-line tool",
  )
  for (const dev of [
    'tap',
    'typescript',
    'eslint',
    'prettier',
    'playwright-core',
    'socket.io-client',
    '@types',
  ]) {
    t.notOk(
      files.some((f) => f.startsWith(`/usr/lib/tuleap-realtime/node_modules/${dev}/`)),
      `no dev dependency ${dev}`,
    )
  }
  t.notOk(
    files.some((f) => f.endsWith('.node')),
    'no native addons',
  )
  t.notOk(
    files.some((f) => f.includes('/dist/test/')),
    'no tests',
  )

  const attrs = rpmq(
    rpmFile,
    '--qf',
    '[%{FILENAMES} %{FILEMODES:perms} %{FILEUSERNAME} %{FILEGROUPNAME} %{FILEFLAGS:fflags}\n]',
  )
  t.match(
    attrs,
    /^\/etc\/tuleap-realtime drwxr-x--- root tuleaprt $/m,
    'config directory 0750, group tuleaprt',
  )
  t.match(
    attrs,
    /^\/etc\/tuleap-realtime\/config\.json -rw-r----- root tuleaprt cn$/m,
    'config 0640, group tuleaprt, %config(noreplace)',
  )

  const requires = rpmq(rpmFile, '--requires')
  t.match(requires, /^nodejs >= 1:22$/m, 'requires Node.js 22 or later (22 and 24 in service)')
  t.notMatch(requires, /bash/, 'no /bin/bash: every shipped script is POSIX sh or Node')
  t.match(requires, /^openssl$/m, 'openssl, which `tuleap-realtime cert` runs')
  t.same(
    requires
      .split('\n')
      .filter((r) => r.startsWith('/'))
      .sort()
      .filter((r, i, all) => all.indexOf(r) === i),
    ['/bin/sh', '/usr/bin/node'],
    'interpreters: /bin/sh (scriptlets, launcher, certificate script) and node',
  )

  const scripts = rpmq(rpmFile, '--scripts')
  t.match(scripts, /groupadd -r tuleaprt/, '%pre creates the group')
  t.match(scripts, /useradd -r -g tuleaprt .*-s \/sbin\/nologin/s, '%pre creates the nologin user')
  t.match(scripts, /private_key_to_change/, '%post replaces the placeholder key')
  t.match(scripts, /local\.inc/, '%post says where to copy the key')
  t.match(scripts, /try-restart tuleap-realtime\.service/, 'upgrades restart a running service')
  t.match(scripts, /disable --now tuleap-realtime\.service/, 'removal stops and disables it')

  const lint = spawnSync('rpmlint', ['-r', 'packaging/tuleap-realtime.rpmlintrc', rpmFile], {
    cwd: ROOT,
    encoding: 'utf8',
  })
  t.match(
    lint.stdout,
    / 0 errors,/,
    `rpmlint reports no errors:\n${lint.stdout
      .split('\n')
      .filter((l) => l.includes(': E: '))
      .join('\n')}`,
  )

  t.notMatch(
    lint.stdout,
    /files-duplicate/,
    'no file is shipped twice: shared licence texts and stubs are symlinks to one copy',
  )

  // Install into a scratch root, without scripts, and use what was installed.
  const root = mkdtempSync(join(tmpdir(), 'tuleap-realtime-rpmroot-'))
  t.teardown(() => {
    rmSync(root, { recursive: true, force: true })
  })
  t.equal(spawnSync('rpm', ['--root', root, '--initdb']).status, 0, 'rpm --initdb')
  const install = spawnSync('rpm', ['-i', '--nodeps', '--noscripts', '--root', root, rpmFile], {
    encoding: 'utf8',
  })
  t.equal(install.status, 0, `rpm -i: ${install.stderr}`)

  // The dependencies that build-rpm.sh pruned or deduplicated still load from the install:
  // ioredis (its type-only stubs are symlinks), socket.io and its parser (browser build
  // pruned; both the require and the import entry points), fastify (ajv's sources pruned).
  const installed = join(root, 'usr/lib/tuleap-realtime/node_modules')
  const load = spawnSync(
    process.execPath,
    [
      '--input-type=module',
      '-e',
      [
        `import { createRequire } from 'node:module'`,
        `const require = createRequire(${JSON.stringify(`${installed}/`)})`,
        `for (const name of ['ioredis', 'socket.io', 'socket.io-parser', 'fastify', 'ajv'])`,
        `  if (!require(name)) throw new Error(name)`,
        `await import(${JSON.stringify(`${installed}/socket.io-parser/build/esm-debug/index.js`)})`,
        `const fastify = require('fastify')()`,
        `fastify.post('/', { schema: { body: { type: 'object', required: ['a'] } } }, () => 'ok')`,
        `await fastify.ready()`,
        `console.log('loaded')`,
      ].join('\n'),
    ],
    { encoding: 'utf8' },
  )
  t.equal(load.stdout.trim(), 'loaded', `the installed dependencies load: ${load.stderr}`)

  const unitText = readFileSync(
    join(root, 'usr/lib/systemd/system/tuleap-realtime.service'),
    'utf8',
  )
  const doc = /^Documentation=file:\/\/(\S+)$/m.exec(unitText)?.[1] ?? ''
  t.ok(files.includes(doc), `the unit's Documentation= names a file of the package: ${doc}`)

  const packaged = JSON.parse(
    readFileSync(join(root, 'etc/tuleap-realtime/config.json'), 'utf8'),
  ) as Record<string, unknown>
  t.equal(packaged.process_uid, 'tuleaprt')
  t.equal(packaged.process_gid, 'tuleaprt')

  // %post on a copy of the installed config: a fresh key replaces the placeholder.
  const post = rpmq(rpmFile, '--qf', '%{POSTIN}').replaceAll(
    '/etc/tuleap-realtime',
    join(root, 'etc/tuleap-realtime'),
  )
  const postRun = spawnSync('sh', ['-c', post, 'post', '1'], { encoding: 'utf8' })
  t.equal(postRun.status, 0, `%post runs: ${postRun.stderr}`)
  t.match(postRun.stdout, /local\.inc/)
  const config = loadConfig({ file: join(root, 'etc/tuleap-realtime/config.json') })
  t.ok(Buffer.byteLength(config.nodejs_server_jwt_private_key) >= 64, 'the generated key is valid')

  const cert = testCert()
  const port = await freePort()
  const testConfig = join(root, 'test-config.json')
  writeFileSync(
    testConfig,
    JSON.stringify({
      nodejs_server_jwt_private_key: TEST_KEY,
      full_path_ssl_cert: cert.certFile,
      full_path_ssl_key: cert.keyFile,
      address: '127.0.0.1',
      port,
      ...dropToNobody,
    }),
  )
  const launcher = join(root, 'usr/bin/tuleap-realtime')
  const relay = spawn(launcher, [`--config=${testConfig}`], { env: { PATH: process.env.PATH } })
  t.teardown(() => relay.kill('SIGKILL'))
  await new Promise<void>((resolve, reject) => {
    let out = ''
    const timer = setTimeout(
      () => reject(new Error(`the installed relay did not start: ${out}`)),
      60_000,
    )
    relay.stdout.on('data', (c: Buffer) => {
      out += c.toString()
      if (out.includes('tuleap-realtime listening')) {
        clearTimeout(timer)
        resolve()
      }
    })
  })
  const url = `https://127.0.0.1:${port}`
  const listener = spawn(
    launcher,
    ['listen', `--config=${testConfig}`, `--url=${url}`, '--room=42', '--count=1'],
    {
      env: { PATH: process.env.PATH },
    },
  )
  t.teardown(() => listener.kill())
  let heard = ''
  listener.stdout.on('data', (c: Buffer) => (heard += c.toString()))
  const listened = new Promise<number | null>((resolve) => listener.on('exit', resolve))
  // Publish until the listener has subscribed and heard it (it may not be in the room yet).
  let published = 0
  const deadline = Date.now() + 60_000
  while (heard === '' && Date.now() < deadline) {
    const res = await sh(launcher, [
      'publish',
      `--config=${testConfig}`,
      `--url=${url}`,
      '--room=42',
      '--cmd=rpm:check',
      '--data={"ok":true}',
    ])
    if (res.status === 0) published += 1
    await new Promise((resolve) => setTimeout(resolve, 300))
  }
  t.ok(published > 0, 'the installed launcher publishes')
  t.equal(await listened, 0, 'the installed launcher listens and exits after one message')
  t.match(JSON.parse(heard.trim().split('\n')[0] ?? '{}') as unknown, {
    type: 'message',
    room_id: '42',
    cmd: 'rpm:check',
    data: { ok: true },
  })
})

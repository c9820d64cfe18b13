/**
 * The nginx configuration of docs/operations.md, run by Debian's real nginx in front of the relay
 * (`tls: false` on loopback): a publish → subscribe round trip over TLS through it.
 */
import { spawn, spawnSync } from 'node:child_process'
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import type { AddressInfo } from 'node:net'
import { request } from 'node:https'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { WebSocket } from 'ws'
import { buildApp } from '../../src/app.js'
import { testCert } from '../helpers/certs.js'
import { testConfig } from '../helpers/config.js'
import { freePort, waitForPort } from '../helpers/ports.js'
import { TestClient } from '../helpers/relay.js'
import { publishToken, subscriberToken } from '../helpers/tokens.js'

const OPERATIONS = new URL('../../docs/operations.md', import.meta.url)

/** The first ```nginx block of docs/operations.md. */
function documentedNginxConfig(): string {
  const match = /```nginx\n([\s\S]*?)```/.exec(readFileSync(OPERATIONS, 'utf8'))
  if (!match?.[1]) throw new Error('docs/operations.md has no ```nginx block')
  return match[1]
}

const hasNginx = spawnSync('nginx', ['-v']).error === undefined

t.test(
  'through nginx: publish → subscribe over TLS',
  {
    skip:
      !hasNginx && process.env.CI !== 'true'
        ? 'nginx is not installed (apt-get install nginx)'
        : false,
  },
  async (t) => {
    t.ok(hasNginx, 'nginx is installed (CI installs it)')
    const cert = testCert()
    const app = await buildApp(testConfig({ tls: false }), { tls: null })
    await app.listen({ port: 0, host: '127.0.0.1' })
    t.teardown(() => app.close())
    const relayPort = (app.server.address() as AddressInfo).port
    const proxyPort = await freePort()

    const dir = mkdtempSync(join(tmpdir(), 'tuleap-realtime-nginx-'))
    t.teardown(() => {
      rmSync(dir, { recursive: true, force: true })
    })
    for (const sub of ['body', 'proxy', 'fastcgi', 'uwsgi', 'scgi']) mkdirSync(join(dir, sub))
    const site = documentedNginxConfig()
      .replace('server 127.0.0.1:4443;', `server 127.0.0.1:${relayPort};`)
      .replace('listen 443 ssl;', `listen 127.0.0.1:${proxyPort} ssl;`)
      .replace(/ssl_certificate\s+\S+;/, `ssl_certificate ${cert.certFile};`)
      .replace(/ssl_certificate_key\s+\S+;/, `ssl_certificate_key ${cert.keyFile};`)
    t.match(site, `127.0.0.1:${relayPort}`, 'the documented block names the relay upstream')
    writeFileSync(
      join(dir, 'nginx.conf'),
      `worker_processes 1;
daemon off;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 256; }
http {
  access_log off;
  client_body_temp_path ${dir}/body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
${site}
}
`,
    )
    const check = spawnSync('nginx', [
      '-t',
      '-p',
      dir,
      '-c',
      join(dir, 'nginx.conf'),
      '-e',
      join(dir, 'error.log'),
    ])
    t.equal(
      check.status,
      0,
      `nginx -t accepts the documented configuration: ${check.stderr.toString()}`,
    )
    const nginx = spawn(
      'nginx',
      ['-p', dir, '-c', join(dir, 'nginx.conf'), '-e', join(dir, 'error.log')],
      {
        stdio: 'ignore',
      },
    )
    t.teardown(() => {
      nginx.kill('SIGQUIT')
    })
    await waitForPort(proxyPort, 10_000)

    const client = new TestClient(
      new WebSocket(`wss://127.0.0.1:${proxyPort}/ws`, { ca: cert.cert }),
    )
    t.teardown(() => {
      client.ws.terminate()
    })
    await client.opened
    t.match(await client.next(), { type: 'hello' })
    t.match(
      await client.subscribe({
        room_id: '42',
        token: subscriberToken(101, ['@site_active']),
        uuid: 'u',
      }),
      {
        type: 'subscribed',
      },
    )
    const body = publishToken({
      message: { room_id: '42', cmd: 'kanban_item:move', data: { artifact_id: 3 } },
    })
    const status = await new Promise<number>((resolve, reject) => {
      const req = request(
        {
          host: '127.0.0.1',
          port: proxyPort,
          path: '/message',
          method: 'POST',
          ca: cert.cert,
          servername: 'localhost',
          headers: { 'content-type': 'application/jwt' },
        },
        (res) => {
          res.resume()
          resolve(res.statusCode ?? 0)
        },
      )
      req.on('error', reject)
      req.end(body)
    })
    t.equal(status, 200)
    t.match(await client.next(), {
      type: 'message',
      room_id: '42',
      cmd: 'kanban_item:move',
      data: { artifact_id: 3 },
    })
  },
)

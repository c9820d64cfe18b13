/**
 * packaging/container/compose.yaml and its nginx.conf: the file parses, names what
 * docs/container.md says (Redis, two relays on the Redis broker, nginx in front), keeps the
 * key a secret, orders the start by health, trusts nginx's fixed address, and nginx accepts
 * its configuration (`nginx -t`, with the relays' names as loopback ports).
 */
import { spawnSync } from 'node:child_process'
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { parse } from 'yaml'
import { projectRoot } from '../helpers/process.js'

interface Service {
  image?: string
  build?: { context: string; dockerfile: string }
  environment?: Record<string, string>
  secrets?: string[]
  healthcheck?: { test: string[] }
  depends_on?: Record<string, { condition: string }>
  read_only?: boolean
  tmpfs?: string[]
  ports?: string[]
  volumes?: string[]
  networks?: string[] | Record<string, { ipv4_address?: string }>
}
interface Compose {
  services: Record<string, Service>
  secrets: Record<string, { file?: string }>
  networks: Record<string, { ipam: { config: { subnet: string }[] } }>
}

const dir = join(projectRoot, 'packaging/container')
const text = readFileSync(join(dir, 'compose.yaml'), 'utf8')
const compose = parse(text) as Compose
const docs = readFileSync(join(projectRoot, 'docs/container.md'), 'utf8')
const nginxConf = readFileSync(join(dir, 'nginx.conf'), 'utf8')

t.test('the services docs/container.md names', (t) => {
  t.same(Object.keys(compose.services).sort(), ['nginx', 'redis', 'relay1', 'relay2'])
  for (const name of Object.keys(compose.services)) {
    t.match(docs, `\`${name}\``, `docs/container.md names ${name}`)
  }
  t.end()
})

t.test('two relays of the image on the Redis broker, started once Redis is healthy', (t) => {
  for (const name of ['relay1', 'relay2']) {
    const relay = compose.services[name]!
    t.equal(relay.build?.dockerfile, 'packaging/container/Containerfile', `${name}: our image`)
    t.match(relay.environment, {
      PRIVATE_KEY_FILE: '/run/secrets/relay_key',
      TULEAP_REALTIME_BROKER_TYPE: 'redis',
      TULEAP_REALTIME_BROKER_URL: 'redis://redis:6379',
    })
    t.notOk('PRIVATE_KEY' in (relay.environment ?? {}), `${name}: the key is not in the file`)
    t.same(relay.secrets, ['relay_key'])
    t.equal(relay.read_only, true, `${name}: read-only root`)
    t.same(relay.tmpfs, ['/tmp'])
    t.match(relay.healthcheck?.test, ['CMD', 'node', '/app/dist/src/main.js', 'health'])
    t.same(relay.depends_on, { redis: { condition: 'service_healthy' } })
  }
  t.ok(compose.services.redis?.healthcheck, 'Redis has a healthcheck')
  t.same(compose.secrets, { relay_key: { file: './relay_key' } }, 'the key is a file secret')
  t.end()
})

t.test('nginx in front, trusted by the relays, started once both are healthy', (t) => {
  const nginx = compose.services.nginx!
  t.same(nginx.depends_on, {
    relay1: { condition: 'service_healthy' },
    relay2: { condition: 'service_healthy' },
  })
  t.same(nginx.volumes, ['./nginx.conf:/etc/nginx/conf.d/default.conf:ro'])
  const address = (nginx.networks as Record<string, { ipv4_address?: string }>).relay?.ipv4_address
  t.ok(address, 'nginx has a fixed address')
  const subnet = compose.networks.relay?.ipam.config[0]?.subnet ?? ''
  t.ok(address?.startsWith(subnet.split('.').slice(0, 3).join('.')), 'in the network’s subnet')
  for (const name of ['relay1', 'relay2']) {
    t.same(
      JSON.parse(compose.services[name]!.environment!.TULEAP_REALTIME_TRUSTED_PROXIES!),
      [address],
      `${name} trusts nginx's X-Forwarded-For`,
    )
  }
  t.match(nginxConf, /upstream tuleap_realtime_socketio \{\s*ip_hash;/, 'sticky for socket.io')
  t.match(nginxConf, 'proxy_set_header Upgrade $http_upgrade;', 'WebSocket upgrade')
  t.end()
})

const hasNginx = spawnSync('nginx', ['-v']).error === undefined
t.test(
  'nginx -t accepts nginx.conf',
  {
    skip:
      !hasNginx && process.env.CI !== 'true'
        ? 'nginx is not installed (apt-get install nginx)'
        : false,
  },
  (t) => {
    const tmp = mkdtempSync(join(tmpdir(), 'tuleap-realtime-compose-nginx-'))
    t.teardown(() => rmSync(tmp, { recursive: true, force: true }))
    for (const sub of ['body', 'proxy', 'fastcgi', 'uwsgi', 'scgi']) mkdirSync(join(tmp, sub))
    const site = nginxConf
      .replaceAll('relay1:8080', '127.0.0.1:18081')
      .replaceAll('relay2:8080', '127.0.0.1:18082')
      .replace('listen 80;', 'listen 127.0.0.1:18080;')
    writeFileSync(
      join(tmp, 'nginx.conf'),
      `worker_processes 1;
pid ${tmp}/nginx.pid;
error_log ${tmp}/error.log warn;
events { worker_connections 16; }
http {
  client_body_temp_path ${tmp}/body;
  proxy_temp_path ${tmp}/proxy;
  fastcgi_temp_path ${tmp}/fastcgi;
  uwsgi_temp_path ${tmp}/uwsgi;
  scgi_temp_path ${tmp}/scgi;
${site}
}
`,
    )
    const check = spawnSync('nginx', ['-t', '-p', tmp, '-c', join(tmp, 'nginx.conf')])
    t.equal(check.status, 0, `nginx -t: ${check.stderr.toString()}`)
    t.end()
  },
)

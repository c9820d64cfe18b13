/**
 * What checking a publish token costs, in CPU per call, and its parts: the structural
 * precheck, jsonwebtoken's HS512 verify and the HMAC alone. No server, no network.
 * Run: `npm run -s build && tsc -p test/bench && node dist/test/bench/token-cost.js`.
 */
import { createHmac, createSecretKey } from 'node:crypto'
import jwt from 'jsonwebtoken'
import { precheckToken } from '../../src/auth/jose-precheck.js'
import { signPublishToken } from '../../src/auth/sign.js'
import { createTokenVerifier } from '../../src/auth/token.js'

const CALLS = 20_000
const KEY = 'k'.repeat(64)

/** A Kanban card move as Tuleap publishes it. */
const message = {
  room_id: '42',
  cmd: 'kanban_item:move',
  data: { in_column: 3, ranked_id: 12, compared_to: 11, direction: 'after', item_id: 99 },
  rights: {
    submitter_id: 101,
    submitter_can_view: true,
    submitter_only: false,
    artifact: ['@site_active'],
    tracker: ['@site_active'],
    field: {},
  },
  sender_user_id: 101,
  sender_uuid: 'c0ffee00-0000-4000-8000-000000000001',
}

/** CPU µs per call of `f`, after a warm-up. */
function cpuPerCall(f: () => unknown): number {
  for (let i = 0; i < CALLS / 10; i++) f()
  const start = process.cpuUsage()
  for (let i = 0; i < CALLS; i++) f()
  const used = process.cpuUsage(start)
  return (used.user + used.system) / CALLS
}

const token = signPublishToken([message], KEY)
const secret = createSecretKey(Buffer.from(KEY, 'utf8'))
const verifier = createTokenVerifier(KEY, { publishMaxLifetimeS: 300, publishMaxBytes: 262_144 })
const [header = '', payload = '', signature = ''] = token.split('.')
const rows: [string, () => unknown][] = [
  ['verifyPublish (all of it)', () => verifier.verifyPublish(token)],
  ['  structural precheck', () => precheckToken(token)],
  ['  jsonwebtoken verify', () => jwt.verify(token, secret, { algorithms: ['HS512'] })],
  [
    '    HMAC-SHA512 alone',
    () =>
      createHmac('sha512', secret).update(`${header}.${payload}`).digest('base64url') === signature,
  ],
]
console.log(`publish token of ${token.length} bytes, ${CALLS} calls each, Node ${process.version}`)
for (const [name, f] of rows) console.log(`${name.padEnd(28)} ${cpuPerCall(f).toFixed(1)} µs`)

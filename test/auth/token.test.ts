import { createHmac, generateKeyPairSync } from 'node:crypto'
import t, { type Test } from 'tap'
import {
  createTokenVerifier,
  MAX_USER_RIGHTS,
  SUBSCRIBER_TOKEN_MAX_BYTES,
  TokenError,
} from '../../src/auth/token.js'
import { RelayError, type ErrorCode } from '../../src/errors.js'
import { TEST_KEY } from '../helpers/config.js'
import { signRaw } from '../helpers/tokens.js'

const NOW_MS = 1_767_225_600_000
const NOW_S = NOW_MS / 1000
const HS512 = { alg: 'HS512', typ: 'JWT' }
const OTHER_KEY = 'another-key-0123456789abcdef0123456789abcdef0123456789abcdef0123456789'

const verifier = createTokenVerifier(TEST_KEY, {
  publishMaxLifetimeS: 300,
  publishMaxBytes: 262144,
})

const subClaims = (extra: Record<string, unknown> = {}): Record<string, unknown> => ({
  exp: NOW_S + 1800,
  data: { user_id: 101, user_rights: ['@site_active', '@ug_101'] },
  ...extra,
})
const sub = (extra: Record<string, unknown> = {}): string => signRaw(HS512, subClaims(extra))

const message = { room_id: 42, cmd: 'kanban_item:move', data: { id: 1 } }
const pubClaims = (extra: Record<string, unknown> = {}): Record<string, unknown> => ({
  exp: NOW_S + 60,
  message,
  ...extra,
})
const pub = (extra: Record<string, unknown> = {}): string => signRaw(HS512, pubClaims(extra))

/** Sign header and payload texts exactly as given (to build duplicate keys). */
function signText(headerText: string, payloadText: string, key = TEST_KEY): string {
  const input = `${Buffer.from(headerText).toString('base64url')}.${Buffer.from(payloadText).toString('base64url')}`
  return `${input}.${createHmac('sha512', key).update(input).digest('base64url')}`
}

/** Run `fn`; return the RelayError it throws (fails the test when it does not throw). */
function caught(fn: () => unknown): RelayError {
  try {
    fn()
  } catch (err) {
    if (err instanceof RelayError) return err
    throw err
  }
  throw new Error('expected a refusal, got an accepted token')
}

function refusesSubscriber(
  t: Test,
  token: unknown,
  code: ErrorCode,
  name: string,
  nowMs = NOW_MS,
): void {
  const err = caught(() => verifier.verifySubscriber(token, nowMs))
  t.ok(err instanceof TokenError, `${name}: a TokenError`)
  t.equal(err.code, code, name)
  t.equal(err.status, 401, name)
}

function refusesPublish(
  t: Test,
  token: unknown,
  code: ErrorCode,
  status: number,
  name: string,
): void {
  const err = caught(() => verifier.verifyPublish(token, NOW_MS))
  t.equal(err.code, code, name)
  t.equal(err.status, status, name)
}

t.test('subscriber tokens', async (t) => {
  t.test('a valid token becomes typed claims', async (t) => {
    const claims = verifier.verifySubscriber(sub(), NOW_MS)
    t.equal(claims.userId, 101)
    t.ok(claims.groups instanceof Set)
    t.same([...claims.groups], ['@site_active', '@ug_101'])
    t.equal(claims.exp, NOW_S + 1800)
  })

  t.test('missing or empty token', async (t) => {
    refusesSubscriber(t, undefined, 'RELAY_ERR_AUTH_MISSING', 'undefined')
    refusesSubscriber(t, '', 'RELAY_ERR_AUTH_MISSING', 'empty string')
    refusesSubscriber(t, 42, 'RELAY_ERR_AUTH_MISSING', 'a number')
  })

  t.test('algorithms other than HS512 are refused', async (t) => {
    for (const alg of ['none', 'None', 'NONE']) {
      refusesSubscriber(t, signRaw({ alg }, subClaims()), 'RELAY_ERR_AUTH_INVALID', alg)
      const [h = '', p = ''] = signRaw({ alg }, subClaims()).split('.')
      refusesSubscriber(t, `${h}.${p}.`, 'RELAY_ERR_AUTH_INVALID', `${alg} unsigned`)
    }
    refusesSubscriber(
      t,
      signRaw({ alg: 'HS256', typ: 'JWT' }, subClaims(), TEST_KEY, 'sha256'),
      'RELAY_ERR_AUTH_INVALID',
      'HS256 with the right key',
    )
    refusesSubscriber(
      t,
      signRaw({ alg: 'HS384', typ: 'JWT' }, subClaims(), TEST_KEY, 'sha384'),
      'RELAY_ERR_AUTH_INVALID',
      'HS384 with the right key',
    )
    refusesSubscriber(t, signRaw({ alg: 'hs512' }, subClaims()), 'RELAY_ERR_AUTH_INVALID', 'hs512')
  })

  t.test('signature failures', async (t) => {
    refusesSubscriber(
      t,
      signRaw(HS512, subClaims(), OTHER_KEY),
      'RELAY_ERR_AUTH_INVALID',
      'wrong key',
    )
    const [h = '', , s = ''] = sub().split('.')
    const tampered = Buffer.from(
      JSON.stringify(subClaims({ data: { user_id: 1, user_rights: ['@site_admin'] } })),
    ).toString('base64url')
    refusesSubscriber(t, `${h}.${tampered}.${s}`, 'RELAY_ERR_AUTH_INVALID', 'tampered payload')
    const [h2 = '', p2 = ''] = sub().split('.')
    refusesSubscriber(t, `${h2}.${p2}`, 'RELAY_ERR_AUTH_INVALID', 'missing signature')
    refusesSubscriber(t, `${h2}.${p2}.`, 'RELAY_ERR_AUTH_INVALID', 'empty signature')
  })

  t.test('non-canonical base64url signature with the same bytes', async (t) => {
    const token = sub()
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'
    const last = alphabet.indexOf(token.slice(-1))
    const forged = token.slice(0, -1) + alphabet[last ^ 1]!
    t.same(
      Buffer.from(forged.split('.')[2]!, 'base64url'),
      Buffer.from(token.split('.')[2]!, 'base64url'),
      'the forged signature decodes to the same bytes',
    )
    t.ok(verifier.verifySubscriber(token, NOW_MS), 'the original is accepted')
    refusesSubscriber(t, forged, 'RELAY_ERR_AUTH_INVALID', 'non-canonical')
  })

  t.test('expiry, with 30 s of clock tolerance', async (t) => {
    refusesSubscriber(t, sub({ exp: NOW_S - 31 }), 'RELAY_ERR_AUTH_EXPIRED', '31 s ago')
    refusesSubscriber(t, sub({ exp: NOW_S - 3600 }), 'RELAY_ERR_AUTH_EXPIRED', 'an hour ago')
    t.equal(verifier.verifySubscriber(sub({ exp: NOW_S - 29 }), NOW_MS).exp, NOW_S - 29)
    t.equal(verifier.verifySubscriber(sub({ exp: NOW_S - 1 }), NOW_MS).exp, NOW_S - 1)
    refusesSubscriber(t, sub({ exp: undefined }), 'RELAY_ERR_AUTH_INVALID', 'missing exp')
    refusesSubscriber(t, sub({ exp: String(NOW_S + 60) }), 'RELAY_ERR_AUTH_INVALID', 'string exp')
    refusesSubscriber(t, sub({ exp: null }), 'RELAY_ERR_AUTH_INVALID', 'null exp')
    t.equal(
      verifier.verifySubscriber(sub({ exp: NOW_S + 100.5 }), NOW_MS).exp,
      NOW_S + 100.5,
      'fractional exp accepted',
    )
    t.ok(verifier.verifySubscriber(sub(), NOW_MS + 1800_000 + 29_000), 'now moves with nowMs')
    refusesSubscriber(t, sub(), 'RELAY_ERR_AUTH_EXPIRED', 'later nowMs', NOW_MS + 1800_000 + 31_000)
  })

  t.test('nbf, with 30 s of clock tolerance', async (t) => {
    refusesSubscriber(t, sub({ nbf: NOW_S + 31 }), 'RELAY_ERR_AUTH_NOT_YET_VALID', 'nbf +31 s')
    t.ok(verifier.verifySubscriber(sub({ nbf: NOW_S + 29 }), NOW_MS), 'nbf +29 s')
    t.ok(verifier.verifySubscriber(sub({ nbf: NOW_S - 10 }), NOW_MS), 'nbf in the past')
    refusesSubscriber(t, sub({ nbf: 'soon' }), 'RELAY_ERR_AUTH_INVALID', 'string nbf')
  })

  t.test('headers that delegate trust', async (t) => {
    for (const name of ['crit', 'jku', 'jwk', 'x5u', 'x5c']) {
      refusesSubscriber(
        t,
        signRaw(
          { ...HS512, [name]: name === 'crit' ? ['exp'] : 'https://evil.example/' },
          subClaims(),
        ),
        'RELAY_ERR_AUTH_INVALID',
        name,
      )
    }
  })

  t.test('a 5-segment JWE is refused', async (t) => {
    refusesSubscriber(t, `${sub()}.AAAA.BBBB`, 'RELAY_ERR_AUTH_INVALID', 'JWE')
  })

  t.test('duplicate keys', async (t) => {
    const payload = JSON.stringify(subClaims())
    const dupPayload = payload.replace('{', '{"exp":1,')
    t.ok(verifier.verifySubscriber(signText(JSON.stringify(HS512), payload), NOW_MS), 'control')
    refusesSubscriber(
      t,
      signText(JSON.stringify(HS512), dupPayload),
      'RELAY_ERR_AUTH_INVALID',
      'in payload',
    )
    const dupUser = payload.replace('"user_id":101', '"user_id":1,"user_id":101')
    refusesSubscriber(
      t,
      signText(JSON.stringify(HS512), dupUser),
      'RELAY_ERR_AUTH_INVALID',
      'nested in payload',
    )
    refusesSubscriber(
      t,
      signText('{"alg":"none","alg":"HS512"}', payload),
      'RELAY_ERR_AUTH_INVALID',
      'in header',
    )
  })

  t.test('payloads that are not objects', async (t) => {
    for (const payload of ['[1,2]', '"a string"', '42', 'null', 'true']) {
      refusesSubscriber(t, signRaw(HS512, payload), 'RELAY_ERR_AUTH_INVALID', payload)
    }
  })

  t.test('size: tokens over 64 KiB are refused before any cryptography', async (t) => {
    let fits = ''
    let over = ''
    // base64url grows by 4/3: a pad of about 48,900 characters reaches the cap.
    for (let n = 48_800; n < 49_400 && over === ''; n++) {
      const token = sub({ pad: 'x'.repeat(n) })
      if (token.length <= SUBSCRIBER_TOKEN_MAX_BYTES) fits = token
      else over = token
    }
    t.ok(fits.length > SUBSCRIBER_TOKEN_MAX_BYTES - 8, `a token of ${fits.length} characters`)
    t.ok(verifier.verifySubscriber(fits, NOW_MS), 'just under 64 KiB is accepted')
    const err = caught(() => verifier.verifySubscriber(over, NOW_MS))
    t.equal(err.code, 'RELAY_ERR_AUTH_INVALID')
    t.match(err.message, 'larger than 65536')
    // Refused before cryptography: a wrongly signed oversize token gets the size reason.
    t.match(
      caught(() =>
        verifier.verifySubscriber(
          signRaw(HS512, subClaims({ pad: 'x'.repeat(70_000) }), OTHER_KEY),
        ),
      ).message,
      'larger than 65536',
    )
  })

  t.test('user_rights count', async (t) => {
    const groups = (n: number): string[] => Array.from({ length: n }, (_, i) => `@ug_${i}`)
    const token = (n: number): string => sub({ data: { user_id: 101, user_rights: groups(n) } })
    const err = caught(() => verifier.verifySubscriber(token(MAX_USER_RIGHTS + 1), NOW_MS))
    t.equal(err.code, 'RELAY_ERR_AUTH_INVALID', '10,001 groups are refused')
    t.equal(err.status, 401)
    t.equal(verifier.verifySubscriber(token(500), NOW_MS).groups.size, 500, '500 groups fit')
    refusesSubscriber(
      t,
      sub({ data: { user_id: 101, user_rights: ['@a', 7] } }),
      'RELAY_ERR_AUTH_INVALID',
      'a non-string group',
    )
    refusesSubscriber(
      t,
      sub({ data: { user_id: 101, user_rights: '@a' } }),
      'RELAY_ERR_AUTH_INVALID',
      'user_rights not an array',
    )
  })

  t.test('1,000 groups fit the 64 KiB cap; 10,000 real group names do not', async (t) => {
    // A Tuleap user in many projects: 1,000 groups of realistic names is ~30 KB.
    const groups = (n: number): string[] =>
      Array.from({ length: n }, (_, i) => `@gpig_project_${i}_members`)
    const fits = sub({ data: { user_id: 101, user_rights: groups(1000) } })
    t.equal(verifier.verifySubscriber(fits, NOW_MS).groups.size, 1000)
    // docs/protocol.md §1.1 allows up to 10,000 groups, §1 caps the token at 64 KiB: the size cap
    // decides first, before any crypto.
    const token = sub({ data: { user_id: 101, user_rights: groups(MAX_USER_RIGHTS) } })
    refusesSubscriber(t, token, 'RELAY_ERR_AUTH_INVALID', '10,000 groups')
    t.match(
      caught(() => verifier.verifySubscriber(token, NOW_MS)).message,
      /larger than 65536 bytes/,
    )
  })

  t.test('user_id must be an integer', async (t) => {
    for (const userId of [1.5, '101', null, true, Number.MAX_SAFE_INTEGER + 2]) {
      refusesSubscriber(
        t,
        sub({ data: { user_id: userId, user_rights: [] } }),
        'RELAY_ERR_AUTH_INVALID',
        JSON.stringify(userId),
      )
    }
  })

  t.test('tokens of the wrong kind', async (t) => {
    refusesSubscriber(t, pub(), 'RELAY_ERR_AUTH_WRONG_KIND', 'a publish token')
    refusesSubscriber(
      t,
      signRaw(HS512, { exp: NOW_S + 60, messages: [message] }),
      'RELAY_ERR_AUTH_WRONG_KIND',
      'a batch publish token',
    )
    refusesSubscriber(
      t,
      sub({ message }),
      'RELAY_ERR_AUTH_WRONG_KIND',
      'subscriber claims plus a message',
    )
    refusesSubscriber(
      t,
      signRaw(HS512, { exp: NOW_S + 60 }),
      'RELAY_ERR_AUTH_WRONG_KIND',
      'no data at all',
    )
  })

  t.test('key confusion: HS512 signed with a PEM public key as the secret', async (t) => {
    const { publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 })
    const pem = publicKey.export({ type: 'spki', format: 'pem' }).toString()
    refusesSubscriber(
      t,
      signRaw(HS512, subClaims(), pem),
      'RELAY_ERR_AUTH_INVALID',
      'HS512 with the PEM text',
    )
    refusesSubscriber(
      t,
      signRaw({ alg: 'RS512', typ: 'JWT' }, subClaims(), pem),
      'RELAY_ERR_AUTH_INVALID',
      'RS512 header',
    )
  })
})

t.test('publish tokens', async (t) => {
  t.test('a valid single message', async (t) => {
    t.same(verifier.verifyPublish(pub(), NOW_MS), {
      exp: NOW_S + 60,
      jti: null,
      messages: [message],
      single: true,
    })
  })

  t.test('a valid batch, with jti and iat', async (t) => {
    const token = signRaw(HS512, {
      exp: NOW_S + 60,
      iat: NOW_S,
      jti: 'publish-1',
      messages: [message, { ...message, room_id: 43 }],
    })
    t.same(verifier.verifyPublish(token, NOW_MS), {
      exp: NOW_S + 60,
      jti: 'publish-1',
      messages: [message, { ...message, room_id: 43 }],
      single: false,
    })
  })

  t.test(
    'lifetime cap: at most 300 s after now, with no tolerance (docs/protocol.md §1.2)',
    async (t) => {
      t.ok(verifier.verifyPublish(pub({ exp: NOW_S + 300 }), NOW_MS), '300 s is accepted')
      refusesPublish(t, pub({ exp: NOW_S + 301 }), 'RELAY_ERR_AUTH_LIFETIME', 401, '301 s')

      refusesPublish(t, pub({ exp: NOW_S + 86400 }), 'RELAY_ERR_AUTH_LIFETIME', 401, 'a day')
      refusesPublish(t, pub({ exp: NOW_S - 31 }), 'RELAY_ERR_AUTH_EXPIRED', 401, 'expired')
      refusesPublish(t, pub({ exp: undefined }), 'RELAY_ERR_AUTH_INVALID', 401, 'no exp')
    },
  )

  t.test('a subscriber token cannot publish', async (t) => {
    refusesPublish(t, sub(), 'RELAY_ERR_AUTH_WRONG_KIND', 401, 'subscriber token')
  })

  t.test('claims of the wrong shape are 400', async (t) => {
    const bad = 'RELAY_ERR_PUBLISH_BAD_CLAIMS'
    refusesPublish(t, signRaw(HS512, { exp: NOW_S + 60 }), bad, 400, 'neither message nor messages')
    refusesPublish(t, pub({ messages: [message] }), bad, 400, 'both message and messages')
    refusesPublish(t, pub({ message: undefined, messages: [] }), bad, 400, '0 messages')
    refusesPublish(
      t,
      pub({ message: undefined, messages: Array(101).fill(message) }),
      bad,
      400,
      '101 messages',
    )
    refusesPublish(t, pub({ message: undefined, messages: message }), bad, 400, 'not an array')
    for (const jti of [42, true, {}, '', 'j'.repeat(257)]) {
      refusesPublish(t, pub({ jti }), bad, 400, `jti ${JSON.stringify(jti)}`)
    }
    refusesPublish(t, pub({ iat: 'now' }), bad, 400, 'iat not a number')
    t.equal(
      verifier.verifyPublish(
        pub({ message: undefined, messages: Array(100).fill(message) }),
        NOW_MS,
      ).messages.length,
      100,
      '100 messages are accepted',
    )
  })

  t.test('the same checks as subscriber tokens apply', async (t) => {
    refusesPublish(t, signRaw(HS512, pubClaims(), OTHER_KEY), 'RELAY_ERR_AUTH_INVALID', 401, 'key')
    refusesPublish(
      t,
      signRaw({ alg: 'HS256' }, pubClaims(), TEST_KEY, 'sha256'),
      'RELAY_ERR_AUTH_INVALID',
      401,
      'HS256',
    )
    refusesPublish(t, '', 'RELAY_ERR_AUTH_MISSING', 401, 'empty')
  })

  t.test('publish tokens are bounded by publishMaxBytes, not 8 KiB', async (t) => {
    const big = pub({ message: { ...message, data: 'x'.repeat(20000) } })
    t.ok(verifier.verifyPublish(big, NOW_MS), 'a 27 KB publish token is accepted')
    const small = createTokenVerifier(TEST_KEY, { publishMaxLifetimeS: 300, publishMaxBytes: 1024 })
    const err = caught(() => small.verifyPublish(big, NOW_MS))
    t.equal(err.code, 'RELAY_ERR_AUTH_INVALID')
    t.match(err.message, 'larger than 1024')
  })
})

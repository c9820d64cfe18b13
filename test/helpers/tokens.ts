import { createHmac } from 'node:crypto'
import { TEST_KEY } from './config.js'

const b64 = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString('base64url')

/** Now, in JWT seconds. */
export const nowS = (): number => Math.floor(Date.now() / 1000)

/**
 * Sign any header and payload with HS512 (or `alg`'s HMAC) by hand, so that tests can
 * also build the tokens a correct library would refuse to make.
 */
export function signRaw(
  header: Record<string, unknown>,
  payload: unknown,
  key: string = TEST_KEY,
  hash = 'sha512',
): string {
  const input = `${b64(header)}.${typeof payload === 'string' ? Buffer.from(payload).toString('base64url') : b64(payload)}`
  return `${input}.${createHmac(hash, key).update(input).digest('base64url')}`
}

/** A subscriber token (docs/protocol.md §1.1). */
export function subscriberToken(
  userId: number,
  rights: readonly string[],
  extra: Record<string, unknown> = {},
  key: string = TEST_KEY,
): string {
  return signRaw(
    { alg: 'HS512', typ: 'JWT' },
    { exp: nowS() + 1800, data: { user_id: userId, user_rights: rights }, ...extra },
    key,
  )
}

/** A publish token (docs/protocol.md §1.2) with `message` or `messages` in `claims`. */
export function publishToken(claims: Record<string, unknown>, key: string = TEST_KEY): string {
  return signRaw({ alg: 'HS512', typ: 'JWT' }, { exp: nowS() + 60, ...claims }, key)
}

/** Tuleap-shaped rights for a Kanban item (docs/protocol.md §4). */
export function kanbanRights(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    submitter_id: null,
    submitter_can_view: false,
    submitter_only: [],
    tracker: ['@site_active'],
    artifact: [],
    ...overrides,
  }
}

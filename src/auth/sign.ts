import { createSecretKey } from 'node:crypto'
import jwt from 'jsonwebtoken'

/**
 * Sign claims as a compact HS512 JWS with the shared key (raw UTF-8 bytes): what a
 * backend does. Used by the operator CLI and the development demo backend.
 */
export function signToken(claims: Record<string, unknown>, key: string): string {
  return jwt.sign(claims, createSecretKey(Buffer.from(key, 'utf8')), {
    algorithm: 'HS512',
    noTimestamp: true,
  })
}

/** A subscriber token (docs/protocol.md §1.1) for `userId` with `rights`, valid `ttlS` seconds. */
export function signSubscriberToken(
  userId: number,
  rights: readonly string[],
  ttlS: number,
  key: string,
): string {
  return signToken(
    { exp: Math.floor(Date.now() / 1000) + ttlS, data: { user_id: userId, user_rights: rights } },
    key,
  )
}

/** A publish token (docs/protocol.md §1.2) carrying `messages`, valid `ttlS` seconds. */
export function signPublishToken(
  messages: readonly Record<string, unknown>[],
  key: string,
  options: { ttlS?: number; jti?: string } = {},
): string {
  const claims: Record<string, unknown> = {
    exp: Math.floor(Date.now() / 1000) + (options.ttlS ?? 60),
    iat: Math.floor(Date.now() / 1000),
    ...(messages.length === 1 ? { message: messages[0] } : { messages }),
  }
  if (options.jti !== undefined) claims.jti = options.jti
  return signToken(claims, key)
}

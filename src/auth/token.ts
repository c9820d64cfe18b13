import { createSecretKey, type KeyObject } from 'node:crypto'
import jwt from 'jsonwebtoken'
import { RelayError, type ErrorCode } from '../errors.js'
import { precheckToken } from './jose-precheck.js'

/**
 * Default of `max_subscriber_token_bytes`: subscriber tokens above it are refused before
 * any cryptography (docs/protocol.md §1). A Tuleap user in many projects carries thousands of groups.
 */
export const SUBSCRIBER_TOKEN_MAX_BYTES = 65536
/** Clock tolerance for exp and nbf, in seconds. */
export const CLOCK_TOLERANCE_S = 30
/** Most groups a subscriber token may carry. */
export const MAX_USER_RIGHTS = 10000
const MAX_JTI_LENGTH = 256

/** A verified subscriber token (docs/protocol.md §1.1), as the rest of the relay sees it. */
export interface SubscriberClaims {
  readonly userId: number
  /** The user's groups, as a Set: rights are checked per delivered message. */
  readonly groups: ReadonlySet<string>
  /** Expiry, seconds since epoch. */
  readonly exp: number
}

/** A verified publish token (docs/protocol.md §1.2); `messages` are still unvalidated JSON. */
export interface PublishClaims {
  readonly exp: number
  readonly jti: string | null
  readonly messages: readonly unknown[]
  /** True when the token carried `message` (one), false for `messages` (a batch). */
  readonly single: boolean
}

/** A token refused at the trust boundary; always an HTTP 401 on the publish side. */
export class TokenError extends RelayError {
  constructor(code: ErrorCode, detail: string) {
    super(code, detail)
    this.name = 'TokenError'
  }
}

/** Verifies both kinds of tokens with one key, HS512 pinned. */
export interface TokenVerifier {
  verifySubscriber(token: unknown, nowMs?: number): SubscriberClaims
  verifyPublish(token: unknown, nowMs?: number): PublishClaims
}

/** Limits the verifier applies. */
export interface VerifierOptions {
  readonly publishMaxLifetimeS: number
  readonly publishMaxBytes: number
  /** `max_subscriber_token_bytes`; default SUBSCRIBER_TOKEN_MAX_BYTES. */
  readonly subscriberMaxBytes?: number
}

function isSubscriberShaped(payload: Record<string, unknown>): boolean {
  const data = payload.data
  return typeof data === 'object' && data !== null && 'user_id' in data
}

function isPublishShaped(payload: Record<string, unknown>): boolean {
  return 'message' in payload || 'messages' in payload
}

/**
 * Build the verifier. The key is turned into a KeyObject once: given a string,
 * jsonwebtoken would try to parse it as a PEM public key on every call.
 */
export function createTokenVerifier(key: string, options: VerifierOptions): TokenVerifier {
  const secret: KeyObject = createSecretKey(Buffer.from(key, 'utf8'))
  const subscriberMaxBytes = options.subscriberMaxBytes ?? SUBSCRIBER_TOKEN_MAX_BYTES

  function verify(token: unknown, maxBytes: number, nowMs: number): Record<string, unknown> {
    if (typeof token !== 'string' || token === '') {
      throw new TokenError('RELAY_ERR_AUTH_MISSING', 'no token')
    }
    if (token.length > maxBytes) {
      throw new TokenError('RELAY_ERR_AUTH_INVALID', `token larger than ${maxBytes} bytes`)
    }
    const checked = precheckToken(token)
    if (typeof checked === 'string') throw new TokenError('RELAY_ERR_AUTH_INVALID', checked)
    const exp = checked.payload.exp
    if (typeof exp !== 'number' || !Number.isFinite(exp)) {
      throw new TokenError('RELAY_ERR_AUTH_INVALID', 'exp is required and must be a number')
    }
    const nbf = checked.payload.nbf
    if (nbf !== undefined && (typeof nbf !== 'number' || !Number.isFinite(nbf))) {
      throw new TokenError('RELAY_ERR_AUTH_INVALID', 'nbf must be a number')
    }
    try {
      jwt.verify(token, secret, {
        algorithms: ['HS512'],
        clockTolerance: CLOCK_TOLERANCE_S,
        clockTimestamp: nowMs / 1000,
      })
    } catch (err) {
      if (err instanceof jwt.TokenExpiredError) {
        throw new TokenError('RELAY_ERR_AUTH_EXPIRED', 'token expired')
      }
      if (err instanceof jwt.NotBeforeError) {
        throw new TokenError('RELAY_ERR_AUTH_NOT_YET_VALID', 'token not valid yet (nbf)')
      }
      throw new TokenError('RELAY_ERR_AUTH_INVALID', (err as Error).message)
    }
    return checked.payload
  }

  return {
    verifySubscriber(token, nowMs = Date.now()) {
      const payload = verify(token, subscriberMaxBytes, nowMs)
      if (isPublishShaped(payload) || !isSubscriberShaped(payload)) {
        throw new TokenError('RELAY_ERR_AUTH_WRONG_KIND', 'not a subscriber token')
      }
      const data = payload.data as Record<string, unknown>
      const userId = data.user_id
      const rights = data.user_rights
      if (typeof userId !== 'number' || !Number.isSafeInteger(userId)) {
        throw new TokenError('RELAY_ERR_AUTH_INVALID', 'data.user_id must be an integer')
      }
      if (
        !Array.isArray(rights) ||
        rights.length > MAX_USER_RIGHTS ||
        !rights.every((r) => typeof r === 'string')
      ) {
        throw new TokenError(
          'RELAY_ERR_AUTH_INVALID',
          `data.user_rights must be an array of at most ${MAX_USER_RIGHTS} strings`,
        )
      }
      return { userId, groups: new Set(rights), exp: payload.exp as number }
    },

    verifyPublish(token, nowMs = Date.now()) {
      const payload = verify(token, options.publishMaxBytes, nowMs)
      if (!isPublishShaped(payload)) {
        if (isSubscriberShaped(payload)) {
          throw new TokenError('RELAY_ERR_AUTH_WRONG_KIND', 'a subscriber token cannot publish')
        }
        throw new RelayError('RELAY_ERR_PUBLISH_BAD_CLAIMS', 'message or messages is required')
      }
      const exp = payload.exp as number
      // docs/protocol.md §1.2: at most the lifetime after now, to the letter (no clock tolerance).
      if (exp > nowMs / 1000 + options.publishMaxLifetimeS) {
        throw new TokenError(
          'RELAY_ERR_AUTH_LIFETIME',
          `exp is more than publish_token_max_lifetime_s (${options.publishMaxLifetimeS} s) away`,
        )
      }
      const jti = payload.jti
      if (
        jti !== undefined &&
        (typeof jti !== 'string' || jti === '' || jti.length > MAX_JTI_LENGTH)
      ) {
        throw new RelayError(
          'RELAY_ERR_PUBLISH_BAD_CLAIMS',
          `jti must be a string of 1 to ${MAX_JTI_LENGTH} characters`,
        )
      }
      const iat = payload.iat
      if (iat !== undefined && (typeof iat !== 'number' || !Number.isFinite(iat))) {
        throw new RelayError('RELAY_ERR_PUBLISH_BAD_CLAIMS', 'iat must be a number')
      }
      return { exp, jti: jti ?? null, ...publishedMessages(payload) }
    },
  }
}

/** A verifier whose key a reload (SIGHUP) can replace; the next token verified uses the new key. */
export interface RekeyableVerifier extends TokenVerifier {
  setKey(key: string): void
}

/** A TokenVerifier behind one indirection, so that the running relay can change its key. */
export function createRekeyableVerifier(key: string, options: VerifierOptions): RekeyableVerifier {
  let current = createTokenVerifier(key, options)
  return {
    verifySubscriber: (token, nowMs) => current.verifySubscriber(token, nowMs),
    verifyPublish: (token, nowMs) => current.verifyPublish(token, nowMs),
    setKey(next) {
      current = createTokenVerifier(next, options)
    },
  }
}

function publishedMessages(payload: Record<string, unknown>): {
  messages: readonly unknown[]
  single: boolean
} {
  if ('message' in payload && 'messages' in payload) {
    throw new RelayError('RELAY_ERR_PUBLISH_BAD_CLAIMS', 'give message or messages, not both')
  }
  if ('message' in payload) return { messages: [payload.message], single: true }
  const messages = payload.messages
  if (!Array.isArray(messages) || messages.length < 1 || messages.length > 100) {
    throw new RelayError(
      'RELAY_ERR_PUBLISH_BAD_CLAIMS',
      'messages must be an array of 1 to 100 messages',
    )
  }
  return { messages, single: false }
}

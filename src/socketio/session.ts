import { TokenError, type SubscriberClaims, type TokenVerifier } from '../auth/token.js'
import type { Hub } from '../hub/hub.js'
import { tokenRefusalCode, type WsErrorCode } from '../errors.js'
import { normaliseRoomId } from '../protocol/message.js'
import type { ExecutionPresences } from './test-management.js'
import type { SocketIoMember } from './member.js'

/**
 * The `nodejs_server_version` of every `subscription`: Tuleap's Kanban and Test Management
 * pages hard-code it, and the historic server, which compared it with its own package
 * version, accepted nothing else. It names the protocol those pages speak, not this relay:
 * it must not follow package.json (RELAY_VERSION), and changes only if Tuleap's pages do.
 */
export const NODEJS_SERVER_VERSION = '2.0.0'

/** What event handling needs; built once per app. */
export interface SioSessionContext {
  readonly hub: Hub
  readonly verifier: TokenVerifier
  readonly maxRooms: number
  readonly now: () => number
  /** Open the Test Management state of a room before its first member joins it. */
  openPresences(member: SocketIoMember, roomId: string): Promise<ExecutionPresences>
}

const MAX_UUID_LENGTH = 128
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f]/

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

/**
 * A refused subscription, as the historic server answered it: a socket that never
 * subscribed is disconnected (the page sees `disconnect`); one that did keeps its rooms.
 */
function refuse(member: SocketIoMember, code: WsErrorCode, detail: string, reason?: string): void {
  member.refusedEvent(code, detail, reason)
  if (!member.countMalformed()) member.close('too many malformed events', 'close_4000')
  else if (!member.everSubscribed) member.close(detail)
}

/** A token refused: its catalogue code and the verifier's words. */
interface TokenRefusal {
  readonly refused: string
  readonly detail: string
}

/** Verify a token; an expired one gets the historic `error-jwt` event. */
function verify(
  ctx: SioSessionContext,
  member: SocketIoMember,
  token: unknown,
): SubscriberClaims | TokenRefusal {
  try {
    const claims = ctx.verifier.verifySubscriber(token, ctx.now())
    if (member.authenticated && claims.userId !== member.userId) {
      return {
        refused: 'RELAY_ERR_AUTH_INVALID',
        detail: 'a renewed token must be for the same data.user_id',
      }
    }
    return claims
  } catch (err) {
    if (!(err instanceof TokenError)) throw err
    if (err.code === 'RELAY_ERR_AUTH_EXPIRED') member.socket.emit('error-jwt', 'JWTExpired')
    return { refused: err.code, detail: err.message }
  }
}

/**
 * `subscription` `{nodejs_server_version, token, room_id, uuid}`. A page answering
 * `error-jwt` subscribes again to the room it is in: that only renews its token, and the
 * hub delivers what it missed, so nothing published meanwhile is lost.
 */
export async function onSubscription(
  ctx: SioSessionContext,
  member: SocketIoMember,
  data: unknown,
): Promise<void> {
  if (member.closed) return
  if (!isObject(data) || !('token' in data) || !('nodejs_server_version' in data)) {
    refuse(member, 'BadRequest', 'subscription details are incomplete')
    return
  }
  if (data.nodejs_server_version !== NODEJS_SERVER_VERSION) {
    refuse(member, 'BadRequest', `nodejs_server_version must be ${NODEJS_SERVER_VERSION}`)
    return
  }
  const room = normaliseRoomId(data.room_id)
  const uuid = data.uuid
  if (
    room === null ||
    typeof uuid !== 'string' ||
    uuid.length < 1 ||
    uuid.length > MAX_UUID_LENGTH ||
    CONTROL.test(uuid)
  ) {
    refuse(member, 'BadRequest', 'room_id or uuid is malformed')
    return
  }
  const claims = verify(ctx, member, data.token)
  if ('refused' in claims) {
    refuse(
      member,
      tokenRefusalCode(claims.refused),
      `token refused: ${claims.detail}`,
      claims.refused,
    )
    return
  }
  if (member.everSubscribed && uuid !== member.uuid) {
    refuse(member, 'BadRequest', 'uuid must stay the same for the whole connection')
    return
  }
  const already = ctx.hub.isSubscribed(member, room)
  if (!already && ctx.hub.roomCount(member) >= ctx.maxRooms) {
    refuse(member, 'RoomLimit', `at most ${ctx.maxRooms} rooms per connection`)
    return
  }
  member.uuid = uuid
  if (member.applyToken(claims, ctx.now())) ctx.hub.resume(member)
  const presences = member.isTestManagement ? await ctx.openPresences(member, room) : null
  if (!already) {
    // Test Management pages watch presence: leaves become `user:leave` (the bound of
    // docs/protocol.md §7 applies).
    await ctx.hub.subscribe(member, room, { presence: member.isTestManagement })
  }
  // The page may have gone while the hub read history.
  if ((member as { closed: boolean }).closed) return
  member.subscribed()
  if (presences) member.socket.emit('presences', presences.snapshot())
}

/** `token` `{token}`: renew the token of a subscribed socket; no answer, as historically. */
export function onToken(ctx: SioSessionContext, member: SocketIoMember, data: unknown): void {
  if (member.closed || !member.authenticated) return
  if (!isObject(data)) {
    member.refusedEvent('BadRequest', 'a token event must carry an object')
    if (!member.countMalformed()) member.close('too many malformed events', 'close_4000')
    return
  }
  const claims = verify(ctx, member, data.token)
  if ('refused' in claims) {
    member.refusedEvent(
      tokenRefusalCode(claims.refused),
      `token renewal refused: ${claims.detail}`,
      claims.refused,
    )
    return
  }
  if (member.applyToken(claims, ctx.now())) ctx.hub.resume(member)
}

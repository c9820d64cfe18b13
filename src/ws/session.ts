import { TokenError, type SubscriberClaims, type TokenVerifier } from '../auth/token.js'
import { CLOSE, tokenRefusalCode } from '../errors.js'
import { PONG_FRAME, tokenFrame, unsubscribedFrame } from './frames.js'
import type { Hub } from '../hub/hub.js'
import { isFrameError, parseClientFrame, type ClientFrame } from '../protocol/client-frames.js'
import type { Connection } from './connection.js'

/** What frame handling needs; built once per app. */
export interface SessionContext {
  readonly hub: Hub
  readonly verifier: TokenVerifier
  readonly maxRooms: number
  /** `max_client_frame_bytes`: every frame but subscribe and token (docs/protocol.md §5). */
  readonly maxFrameBytes: number
  readonly now: () => number
  /** The connection completed its first successful subscribe (ends the auth timeout). */
  readonly onSubscribed: (conn: Connection) => void
  /** Handling a frame failed unexpectedly: the connection is closed with 1011. */
  readonly onFailure: (conn: Connection, err: unknown) => void
}

function malformed(conn: Connection, message: string, roomId?: string): void {
  conn.sendError('BadRequest', message, roomId)
  if (!conn.countMalformed()) conn.close(CLOSE.MALFORMED)
}

/** Answer a refused token: JWTExpired for an expired one, Unauthorized otherwise. */
function refuseToken(conn: Connection, err: unknown, roomId?: string): void {
  if (!(err instanceof TokenError)) throw err
  conn.sendError(tokenRefusalCode(err.code), err.message, roomId, err.code)
}

function verify(
  ctx: SessionContext,
  conn: Connection,
  token: string,
  roomId?: string,
): SubscriberClaims | null {
  let claims: SubscriberClaims
  try {
    claims = ctx.verifier.verifySubscriber(token, ctx.now())
  } catch (err) {
    refuseToken(conn, err, roomId)
    return null
  }
  if (conn.authenticated && claims.userId !== conn.userId) {
    conn.sendError('Unauthorized', 'a refreshed token must be for the same data.user_id', roomId)
    return null
  }
  return claims
}

async function subscribe(
  ctx: SessionContext,
  conn: Connection,
  f: Extract<ClientFrame, { type: 'subscribe' }>,
): Promise<void> {
  const room = f.room_id
  let claims: SubscriberClaims | null = null
  if (f.token !== undefined) {
    claims = verify(ctx, conn, f.token, room)
    if (!claims) return
  } else if (!conn.authenticated) {
    conn.sendError('Unauthorized', 'token is required on the first subscribe', room)
    return
  } else if (conn.expired) {
    conn.sendError('JWTExpired', 'token expired: send a new one', room)
    return
  }
  // The first subscribe that gets this far sets the uuid (or none) for the connection.
  if (conn.uuidFixed && f.uuid !== undefined && f.uuid !== conn.uuid) {
    malformed(conn, 'uuid must stay the same for the whole connection', room)
    return
  }
  if (!ctx.hub.isSubscribed(conn, room) && ctx.hub.roomCount(conn) >= ctx.maxRooms) {
    conn.sendError('RoomLimit', `at most ${ctx.maxRooms} rooms per connection`, room)
    return
  }
  if (claims && conn.applyToken(claims, ctx.now())) ctx.hub.resume(conn)
  conn.fixUuid(f.uuid ?? null)

  await ctx.hub.subscribe(conn, room, {
    presence: f.presence,
    ...(f.since ? { since: f.since } : {}),
  })
  if (!conn.closed) ctx.onSubscribed(conn)
}

function refresh(ctx: SessionContext, conn: Connection, token: string): void {
  // docs/protocol.md §5.1: the first subscribe carries the connection's token; a refresh before
  // it has nothing to refresh.
  if (!conn.authenticated) {
    conn.sendError('BadRequest', 'send the token with the first subscribe, not in a token frame')
    return
  }
  const claims = verify(ctx, conn, token)
  if (!claims) return
  const wasExpired = conn.applyToken(claims, ctx.now())
  conn.send(tokenFrame(claims.exp))
  if (wasExpired) ctx.hub.resume(conn)
}

/**
 * Handle one inbound frame. Never throws: refusals become `error` frames (and closes
 * where docs/protocol.md §5.4 says so); an unexpected failure closes this connection alone.
 */
export function handleFrame(
  ctx: SessionContext,
  conn: Connection,
  data: Buffer,
  isBinary: boolean,
): void {
  if (conn.closed) return
  try {
    if (!conn.countFrame(ctx.now())) {
      conn.sendError('RateLimited', 'too many frames')
      conn.close(CLOSE.RATE_LIMITED)
      return
    }
    if (isBinary) {
      malformed(conn, 'binary frames are not accepted; send JSON text frames')
      return
    }
    const frame = parseClientFrame(data)
    // The socket admits frames up to max_subscriber_token_bytes + 1 KiB for the token's
    // sake; any other frame keeps the ordinary bound.
    if (
      data.length > ctx.maxFrameBytes &&
      (isFrameError(frame) || (frame.type !== 'subscribe' && frame.type !== 'token'))
    ) {
      conn.close(CLOSE.TOO_LARGE, `frame over ${ctx.maxFrameBytes} bytes`)
      return
    }
    if (isFrameError(frame)) {
      malformed(conn, frame.error, frame.room_id)
      return
    }
    switch (frame.type) {
      case 'subscribe':
        subscribe(ctx, conn, frame).catch((err: unknown) => {
          ctx.onFailure(conn, err)
        })
        return
      case 'unsubscribe':
        ctx.hub.unsubscribe(conn, frame.room_id)
        conn.send(unsubscribedFrame(frame.room_id))
        return
      case 'token':
        refresh(ctx, conn, frame.token)
        return
      case 'ping':
        conn.send(PONG_FRAME)
        return
    }
  } catch (err) {
    ctx.onFailure(conn, err)
  }
}

/**
 * Test doubles for the browser client: a fake WebSocket that records what the client
 * sends and lets a test play the relay, tap's mock clock, unsigned tokens with a chosen
 * `exp`, and a harness that wires them into a RealtimeClient.
 */
import { Clock } from '@tapjs/clock'
import type { Test } from 'tap'
import {
  RealtimeClient,
  type ClientError,
  type ConnectionState,
  type MessageFrame,
  type RealtimeClientOptions,
} from '../../src/client/index.js'

/** Tests start at this instant (ms), so that token `exp` values look real. */
export const T0 = Date.UTC(2026, 0, 1)

/** An unsigned JWS-shaped token: the client only reads `exp` from it. */
export function makeToken(claims: Record<string, unknown>): string {
  const part = (v: unknown): string => Buffer.from(JSON.stringify(v)).toString('base64url')
  return `${part({ alg: 'HS512', typ: 'JWT' })}.${part(claims)}.c2ln`
}

/** A frame the client sent, parsed. */
export type Sent = Record<string, unknown> & { type: string }

/** A WebSocket double: `close()` only records (like a dead network: no close event). */
export class FakeWebSocket {
  onmessage: ((event: { data: unknown }) => void) | null = null
  onclose: ((event: { code: number; reason: string }) => void) | null = null
  readonly sentRaw: string[] = []
  closedByClient: { code: number | undefined; reason: string | undefined } | null = null
  /** Answer every ping with a pong, as a live relay does. */
  autoPong = true
  /** Clock time when the client created this socket. */
  openedAt = 0
  /** How many tokens getToken had handed out when this socket was created. */
  tokensAtOpen = 0

  constructor(readonly url: string) {}

  send(data: string): void {
    this.sentRaw.push(data)
    if (this.autoPong && (JSON.parse(data) as Sent).type === 'ping') this.deliver({ type: 'pong' })
  }

  close(code?: number, reason?: string): void {
    this.closedByClient = { code, reason }
  }

  /** What the client sent, parsed. */
  get sent(): Sent[] {
    return this.sentRaw.map((s) => JSON.parse(s) as Sent)
  }

  /** Sent frames of one type. */
  sentOf(type: string): Sent[] {
    return this.sent.filter((f) => f.type === type)
  }

  /** Play the relay: deliver one frame (an object is JSON-encoded, a string sent as is). */
  deliver(frame: object | string): void {
    this.onmessage?.({ data: typeof frame === 'string' ? frame : JSON.stringify(frame) })
  }

  hello(heartbeatMs = 25_000): void {
    this.deliver({ type: 'hello', protocol: 1, heartbeat_ms: heartbeatMs })
  }

  /** The relay closes the socket with `code`. */
  serverClose(code: number, reason = ''): void {
    this.onclose?.({ code, reason })
  }
}

/** Advance the mock clock by `ms`, firing due timers in time order, each at its own instant. */
export function advance(clock: Clock, ms: number): void {
  const target = clock.now() + ms
  for (;;) {
    const due = [...clock.timers.keys()].filter((w) => w <= target)
    if (due.length === 0) break
    clock.advance(Math.max(0, Math.min(...due) - clock.now()))
  }
  clock.advance(target - clock.now())
}

/** Let pending promise callbacks (getToken) run. */
export const flush = (): Promise<void> => new Promise((resolve) => setImmediate(resolve))

/** A client wired to fakes, and what it did. */
export interface Harness {
  readonly client: RealtimeClient
  readonly clock: Clock
  readonly sockets: FakeWebSocket[]
  /** The most recent socket. */
  socket(): FakeWebSocket
  /** Tokens handed out by getToken, in order. */
  readonly tokens: string[]
  readonly errors: ClientError[]
  readonly states: ConnectionState[]
  readonly callbackErrors: unknown[]
  /** Advance the clock by `ms`, then let promises settle. */
  tick(ms: number): Promise<void>
  /** Run timers, earliest first, until the client opens a new socket; returns it. */
  nextSocket(): Promise<FakeWebSocket>
  /** Subscribe to `room` with a no-op handler, let the socket open and deliver `hello`. */
  connect(room?: string): Promise<FakeWebSocket>
}

/** Token lifetime handed out by the default getToken (Tuleap's: 30 min). */
export const TOKEN_LIFETIME_S = 1800

/** Build a client on fakes; `getToken` by default answers a 30-min token, a new one per call. */
export function harness(
  t: Test,
  options: Partial<RealtimeClientOptions> & { token?: (n: number) => string } = {},
): Harness {
  const clock = new Clock()
  clock.travel(T0)
  const sockets: FakeWebSocket[] = []
  const tokens: string[] = []
  const errors: ClientError[] = []
  const states: ConnectionState[] = []
  const callbackErrors: unknown[] = []
  const { token, ...rest } = options
  const client = new RealtimeClient({
    url: 'wss://relay.test/ws',
    uuid: 'tab-1',
    getToken: () => {
      const n = tokens.length
      const value =
        token?.(n) ??
        makeToken({ exp: clock.now() / 1000 + TOKEN_LIFETIME_S, n, data: { user_id: 101 } })
      tokens.push(value)
      return Promise.resolve(value)
    },
    WebSocket: class extends FakeWebSocket {
      constructor(url: string) {
        super(url)
        this.openedAt = clock.now()
        this.tokensAtOpen = tokens.length
        sockets.push(this)
      }
    },
    clock,
    random: () => 0.5,
    onCallbackError: (err) => callbackErrors.push(err),
    ...rest,
  })
  client.on('error', (e) => errors.push(e))
  client.on('state', (s) => states.push(s))
  t.teardown(() => {
    client.close()
  })
  const h: Harness = {
    client,
    clock,
    sockets,
    socket: () => {
      const last = sockets.at(-1)
      if (!last) throw new Error('no socket was opened')
      return last
    },
    tokens,
    errors,
    states,
    callbackErrors,
    tick: async (ms) => {
      advance(clock, ms)
      await flush()
    },
    nextSocket: async () => {
      const before = sockets.length
      for (let i = 0; i < 100 && sockets.length === before; i++) {
        const next = Math.min(...clock.timers.keys())
        if (!Number.isFinite(next)) break
        advance(clock, Math.max(0, next - clock.now()))
        await flush()
      }
      if (sockets.length === before) throw new Error('the client opened no new socket')
      return h.socket()
    },
    connect: async (room = '42') => {
      client.subscribe(room, { onMessage: () => undefined })
      await flush()
      const ws = h.socket()
      ws.hello()
      return ws
    },
  }
  return h
}

/** Subscribe `h`'s client to room 42 and let its first socket say hello; that socket. */
export async function helloIn42(
  h: Harness,
  onMessage: (m: MessageFrame) => void = () => undefined,
): Promise<FakeWebSocket> {
  h.client.subscribe('42', { onMessage })
  await flush()
  const ws = h.socket()
  ws.hello()
  return ws
}

/** A `subscribed` frame. */
export function subscribed(roomId: string, offset: number, extra: object = {}): object {
  return { type: 'subscribed', room_id: roomId, epoch: 'e1', offset, presence_count: 1, ...extra }
}

/** A `message` frame. */
export function message(roomId: string, offset: number, extra: object = {}): object {
  return {
    type: 'message',
    room_id: roomId,
    epoch: 'e1',
    offset,
    cmd: 'kanban_item:move',
    data: { artifact_id: offset },
    ...extra,
  }
}

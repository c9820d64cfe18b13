/** Fakes of the relay's small interfaces, for unit tests of the hub, the connections and the CLI. */
import type { FastifyBaseLogger } from 'fastify'
import { pino } from 'pino'
import type { HistoryResult, RoomPosition, StoredMessage } from '../../src/broker/broker.js'
import type { Io } from '../../src/cli/command.js'
import type { Member } from '../../src/hub/member.js'
import { Subscription, type SubscriptionFeed } from '../../src/hub/subscription.js'
import type { Socket } from '../../src/ws/connection.js'

import type { Frame } from './relay.js'

export type { Frame } from './relay.js'

/** A logger that writes nothing, typed as fastify's. */
export const silentLog = pino({ level: 'silent' }) as unknown as FastifyBaseLogger

/** A logger, typed as fastify's, that keeps each line it writes (from `level` up) as parsed JSON. */
export function recordingLog(level = 'debug'): {
  lines: Record<string, unknown>[]
  log: FastifyBaseLogger
} {
  const lines: Record<string, unknown>[] = []
  const stream = {
    write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>),
  }
  return { lines, log: pino({ level }, stream) }
}

/** A command's Io that collects lines; env is empty unless given, so this process's never leaks in. */
export function collectIo(
  env: NodeJS.ProcessEnv = {},
): Io & { outLines: string[]; errLines: string[] } {
  const outLines: string[] = []
  const errLines: string[] = []
  return {
    outLines,
    errLines,
    env,
    out: (line) => outLines.push(line),
    err: (line) => errLines.push(line),
  }
}

/** A hub member that records what it is sent, and counts its overflows and failures. */
export class FakeMember implements Member {
  readonly frames: Frame[] = []
  /** The Buffers as sent, to check that one Buffer serves every recipient. */
  readonly buffers: Buffer[] = []
  expired = false
  overflows = 0
  failures = 0

  constructor(
    readonly userId: number,
    readonly groups: ReadonlySet<string>,
    readonly uuid: string | null,
  ) {}

  send(frame: Buffer): void {
    this.buffers.push(frame)
    this.frames.push(JSON.parse(frame.toString('utf8')) as Frame)
  }
  fail(): void {
    this.failures += 1
  }
  overflow(): void {
    this.overflows += 1
  }
  /** Frames of one type. */
  of(type: string): Frame[] {
    return this.frames.filter((f) => f.type === type)
  }
  /** Offsets of the message frames received. */
  offsets(): number[] {
    return this.of('message').map((f) => f.offset as number)
  }
  /** Presence frames received, as `event:uuid`. */
  presence(): string[] {
    return this.of('presence').map((f) => `${String(f.event)}:${String(f.uuid)}`)
  }
  /** Take and clear the frames received so far. */
  take(): Frame[] {
    this.buffers.length = 0
    return this.frames.splice(0)
  }
}

/** A member for tests where an overflow or a failure is a bug: both throw. */
export class StrictMember extends FakeMember {
  override overflow(): void {
    throw new Error(`member ${String(this.uuid)} overflowed`)
  }
  override fail(): void {
    throw new Error(`member ${String(this.uuid)} failed`)
  }
}

/** A member whose send throws. */
export class ThrowingMember extends FakeMember {
  override send(): void {
    throw new Error('socket exploded')
  }
}

/** A FakeMember of user `userId` in `groups`, with the tab uuid `tab-<userId>` by default. */
export const fakeMember = (
  userId = 101,
  groups: readonly string[] = ['@site_active'],
  uuid: string | null = `tab-${userId}`,
): FakeMember => new FakeMember(userId, new Set(groups), uuid)

/** A WebSocket that records what a Connection does to it; frames must be text. */
export class FakeSocket implements Socket {
  bufferedAmount = 0
  readonly sent: Buffer[] = []
  readonly closes: { code: number; reason: string }[] = []
  terminated = 0
  pings = 0
  /** Make close() throw, as ws does on a socket that is not open. */
  closeThrows = false
  /** Make ping() throw, as ws does on a socket that is not open. */
  pingThrows = false

  send(data: Buffer, options: { binary: boolean }): void {
    if (options.binary) throw new Error('frames must be text')
    this.sent.push(data)
  }
  close(code: number, reason: string): void {
    if (this.closeThrows) throw new Error('not open')
    this.closes.push({ code, reason })
  }
  terminate(): void {
    this.terminated += 1
  }
  ping(): void {
    if (this.pingThrows) throw new Error('not open')
    this.pings += 1
  }
  /** The frames sent, parsed. */
  frames(): Record<string, unknown>[] {
    return this.sent.map((b) => JSON.parse(b.toString('utf8')) as Record<string, unknown>)
  }
}

/** One history read a FakeFeed was asked for, answered when the test says. */
export interface HistoryRead {
  readonly since: RoomPosition
  answer(result: { epoch: string; offset: number; messages: readonly StoredMessage[] | null }): void
  fail(err: Error): void
}

/**
 * A subscription's feed whose history reads wait for the test: `reads` lists them in
 * order; `errors` records what the subscription reported.
 */
export class FakeFeed implements SubscriptionFeed {
  readonly reads: HistoryRead[] = []
  readonly errors: [unknown, Member][] = []

  constructor(
    readonly maxPending = 10,
    readonly catchUpRetryMs = 1,
  ) {}

  readonly history = (since: RoomPosition): Promise<HistoryResult> =>
    new Promise((resolve, reject) => {
      this.reads.push({ since, answer: resolve, fail: reject })
    })

  readonly onError = (err: unknown, member: Member): void => {
    this.errors.push([err, member])
  }
}

/** A subscription of `member` to room 42, already live at `position` (nothing replayed). */
export function liveSubscription(
  member: Member,
  feed: SubscriptionFeed,
  position: RoomPosition = { epoch: 'e1', offset: 0 },
): Subscription {
  const sub = new Subscription(member, '42', feed)
  sub.start(position, position.offset, [])
  return sub
}

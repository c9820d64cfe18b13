/** Fakes of socket.io's server socket and of a member's context, for the socket.io unit tests. */
import type { FastifyBaseLogger } from 'fastify'
import type { Socket } from 'socket.io'
import type { StoredMessage } from '../../src/broker/broker.js'
import type { RefusalSummariser } from '../../src/log-summary.js'
import { SocketIoMember, type MemberContext } from '../../src/socketio/member.js'
import { encodeEvent, type EncodedEvent } from '../../src/socketio/packets.js'
import { silentLog } from '../helpers/fakes.js'

/** A socket.io server socket that records what the member does to it. */
export class FakeIoSocket {
  connected = true
  readonly emitted: [string, unknown][] = []
  readonly written: string[] = []
  disconnects = 0
  readonly nsp: { name: string }
  readonly conn = {
    readyState: 'open',
    writeBuffer: [] as { data?: unknown }[],
    transport: { name: 'websocket', socket: { bufferedAmount: 0 } },
    write: (data: string): void => {
      this.written.push(data)
    },
  }

  constructor(nsp = '/') {
    this.nsp = { name: nsp }
  }
  emit(event: string, data: unknown): boolean {
    this.emitted.push([event, data])
    return true
  }
  disconnect(): this {
    this.disconnects += 1
    this.connected = false
    return this
  }
  /** Names of the events emitted. */
  events(): string[] {
    return this.emitted.map(([name]) => name)
  }
}

/** A member context that counts encodings, leaves and refusals. */
export interface FakeContext extends MemberContext {
  readonly encodings: string[]
  readonly leaves: [string, string | null][]
  readonly refusals: string[]
  slow: number
}

/** The context, with limits overridable. */
export function fakeContext(limits: Partial<MemberContext['limits']> = {}): FakeContext {
  const cache = new Map<StoredMessage, EncodedEvent>()
  const ctx: FakeContext = {
    encodings: [],
    leaves: [],
    refusals: [],
    slow: 0,
    limits: {
      slowConsumerBytes: 1000,
      expiredGraceMs: 5000,
      maxEventsPerSecond: 2,
      maxMalformed: 2,
      ...limits,
    },
    metrics: {
      published: () => undefined,
      delivered: () => undefined,
      refused: (reason) => {
        ctx.refusals.push(reason)
      },
      slowConsumer: () => {
        ctx.slow += 1
      },
      latency: () => undefined,
      history: () => undefined,
    },
    encode(m, nsp) {
      let e = cache.get(m)
      if (!e) {
        ctx.encodings.push(`${nsp}:${m.offset}`)
        e = encodeEvent(nsp, m.cmd, JSON.stringify(m.data))
        cache.set(m, e)
      }
      return e
    },
    left(roomId, uuid) {
      ctx.leaves.push([roomId, uuid])
    },
  }
  return ctx
}

/** A member on a fake socket of namespace `nsp`. */
export function fakeMember(
  nsp = '/',
  limits: Partial<MemberContext['limits']> = {},
  logging: { log?: FastifyBaseLogger; refusalLog?: RefusalSummariser; address?: string } = {},
): { member: SocketIoMember; socket: FakeIoSocket; ctx: FakeContext } {
  const socket = new FakeIoSocket(nsp)
  const ctx = Object.assign(fakeContext(limits), { refusalLog: logging.refusalLog ?? null })
  const log = logging.log ?? silentLog
  const member = new SocketIoMember(socket as unknown as Socket, ctx, log, logging.address)
  return { member, socket, ctx }
}

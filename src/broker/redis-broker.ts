import { randomUUID } from 'node:crypto'
import type { Redis } from 'ioredis'
import type { Message } from '../protocol/message.js'
import {
  acceptedOf,
  type Accepted,
  type Broker,
  type BrokerCounts,
  type HistoryResult,
  type Idempotency,
  type Published,
  type RoomListener,
  type RoomPosition,
  type StoredMessage,
} from './broker.js'
import { RelayError } from '../errors.js'
import { newEpoch } from './epoch.js'
import {
  openConnections,
  COMMAND_TIMEOUT_MS,
  quit,
  redactUrl,
  unavailable,
  type BrokerLog,
  type RedisTarget,
  type Scripts,
} from './redis-connection.js'
import { RoomChannels } from './redis-channels.js'
import { RedisPresence } from './redis-presence.js'

export { redactUrl, type BrokerLog } from './redis-connection.js'

/** Settings of the Redis broker. */
export interface RedisBrokerOptions {
  /** redis:// or rediss:// URL (may carry a password: never logged). */
  readonly url: string
  /** Sentinels, their master name, and TLS files' contents (redis-connection.ts). */
  readonly sentinels?: readonly string[]
  readonly sentinelName?: string
  readonly tls?: RedisTarget['tls']
  /** Replicas that must confirm a publish (WAIT) before it resolves; default 0. */
  readonly minReplicasAck?: number
  /** Prefix of every key and channel. */
  readonly keyPrefix: string
  readonly historySize: number
  readonly historyTtlMs: number
  /** Bound of one connection attempt; default 5000. */
  readonly connectTimeoutMs?: number
  /** Clock of published_at and of history and jti expiry (docs/protocol.md §6, §1.2); for tests. */
  readonly now?: () => number
  /** How often this node re-stamps its presence shares and reads the others'; default 10 s. */
  readonly presenceHeartbeatMs?: number
  /** A node silent this long is gone and its members leave; default 3 heartbeats. */
  readonly presenceStaleMs?: number
  readonly log?: BrokerLog
  /** Called when a listener throws; the other listeners still run. */
  readonly onListenerError?: (err: unknown) => void
}

/** A room's epoch and offset stay this long after its last publish, read or presence beat. */
const META_TTL_FLOOR_MS = 60 * 60 * 1000
/** Released jti claims remembered while Redis is down, to release them once it is back. */
const MAX_PENDING_RELEASES = 10_000
/**
 * How long a jti claim may stay in flight: longer than any publish can take (the command
 * timeout, and WAIT for min_replicas_ack), short enough that a claim stranded by a
 * failover does not hold the backend's retries for the whole jti window.
 */
const JTI_IN_FLIGHT_MS = 30_000

/**
 * The several-node broker: history, offsets, epochs, jtis and presence in Redis,
 * live messages on one channel per room. A command connection runs the scripts; a
 * subscriber connection holds the channels of the rooms with local listeners only
 * (reference-counted), re-subscribed after a reconnect and then caught up from history.
 * Listeners see each message once, in offset order per room, barring a gap that history
 * then fills (or the hub's catch-up, docs/protocol.md §6). Nothing is queued while Redis is down:
 * commands fail at once (publish → 503) and `ready` is false.
 */
export class RedisBroker implements Broker {
  readonly presence: RedisPresence
  readonly counts: BrokerCounts = { reconnects: 0, failovers: 0, roomsResynced: 0 }
  private readonly cmd: Redis
  private readonly scripts: Scripts
  private readonly sub: Redis
  private readonly channels: RoomChannels
  private readonly pendingReleases = new Set<string>()
  private readonly node = randomUUID()
  private readonly now: () => number
  private readonly metaTtlMs: number
  private readonly staleMs: number
  private readonly timer: NodeJS.Timeout
  private wasReady = false
  /** The subscriber connection holds every channel again (set after each reconnect). */
  private resubscribed = false
  private readonly readyWaiters = new Set<() => void>()
  private lastError: Error | null = null
  /** The connection error last logged while not ready (reportError). */
  private reportedError: string | null = null
  private closing: Promise<void> | null = null
  /**
   * run_id of the Redis process the command connection is on, read at each connect
   * (null until then: not ready). Scripts get it to tell a new dataset generation.
   */
  private runId: string | null = null
  /** run_id of the previous connection, to tell a restart or failover from a reconnect. */
  private lastRunId: string | null = null

  constructor(private readonly options: RedisBrokerOptions) {
    this.now = options.now ?? Date.now
    this.metaTtlMs = Math.max(options.historyTtlMs, META_TTL_FLOOR_MS)
    const heartbeatMs = options.presenceHeartbeatMs ?? 10_000
    this.staleMs = options.presenceStaleMs ?? 3 * heartbeatMs
    const stopped = (): boolean => this.closing !== null
    const { cmd, sub, scripts } = openConnections(
      options,
      options.connectTimeoutMs ?? 5000,
      stopped,
    )
    this.cmd = cmd
    this.sub = sub
    this.scripts = scripts
    for (const conn of [this.cmd, this.sub]) {
      conn.on('error', (err: Error) => {
        this.lastError = err
        this.reportError(err)
      })
    }
    this.cmd.on('ready', () => {
      void this.identify()
    })
    this.cmd.on('close', () => {
      this.runId = null
      this.noteState()
    })
    this.sub.on('ready', () => {
      void this.resubscribe()
    })
    this.sub.on('close', () => {
      this.resubscribed = false
      this.channels.releaseAll()
      this.noteState()
    })
    this.channels = new RoomChannels(
      sub,
      `${options.keyPrefix}room:`,
      (err) => options.onListenerError?.(err),
      (roomId, event) => {
        this.presence.receive(roomId, event)
      },
      (err, channel) =>
        options.log?.error({ err, channel }, 'unreadable payload on a room channel'),
      () => {
        this.counts.roomsResynced++
      },
    )
    this.timer = setInterval(() => {
      void this.presence.beat(this.channels.rooms())
    }, heartbeatMs)
    this.timer.unref()
    this.presence = new RedisPresence({
      node: this.node,
      ready: () => this.ready,
      run: async (roomId, share, event) =>
        (await this.scripts.presenceSync(
          2,
          this.key('presence', roomId),
          this.key('meta', roomId),
          this.node,
          share,
          this.staleMs,
          2 * this.staleMs,
          this.metaTtlMs,
          this.channels.name(roomId),
          event,
        )) as string[],
    })
  }

  get ready(): boolean {
    return (
      this.closing === null &&
      this.resubscribed &&
      this.runId !== null &&
      this.cmd.status === 'ready' &&
      this.sub.status === 'ready'
    )
  }

  /** Resolves once both connections are ready; rejects after `timeoutMs` with the last error. */
  whenReady(timeoutMs: number): Promise<void> {
    return new Promise((resolve, reject) => {
      const check = (): void => {
        if (!this.ready) return
        clearTimeout(timer)
        this.readyWaiters.delete(check)
        resolve()
      }
      const timer = setTimeout(() => {
        this.readyWaiters.delete(check)
        reject(
          new Error(
            `Redis at ${redactUrl(this.options.url)} is unreachable after ${timeoutMs} ms: ${this.lastError?.message ?? 'no answer'}`,
          ),
        )
      }, timeoutMs)
      this.readyWaiters.add(check)
      check()
    })
  }

  private key(kind: 'meta' | 'history' | 'presence' | 'jti', id: string): string {
    return `${this.options.keyPrefix}${kind}:${id}`
  }

  /** The dataset generation key (redis-scripts.ts, fencing). */
  private get generationKey(): string {
    return `${this.options.keyPrefix}generation`
  }

  /** Read the run_id of the server just connected to; ready once known. */
  private async identify(): Promise<void> {
    let info: string
    try {
      info = await this.cmd.info('server')
    } catch (err) {
      // The connection dropped again (its next 'ready' retries) or INFO is not allowed.
      this.lastError = err as Error
      return
    }
    const runId = /^run_id:(\w+)/m.exec(info)?.[1]
    if (runId === undefined || this.cmd.status !== 'ready') return
    if (this.lastRunId !== null) {
      this.counts.reconnects++
      if (runId !== this.lastRunId) {
        this.counts.failovers++
        this.options.log?.warn(
          { url: redactUrl(this.options.url) },
          'Redis came back as another server (restart or failover): its rooms start new epochs and their subscribers resync',
        )
      }
    }
    this.runId = this.lastRunId = runId
    this.noteState()
  }

  /**
   * While not ready, log each distinct connection error once (a wrong password or CA, a
   * refused connection), so that a node waiting for Redis says why; reset once ready.
   */
  private reportError(err: Error): void {
    if (this.ready || this.closing || err.message === this.reportedError) return
    this.reportedError = err.message
    this.options.log?.warn(
      { url: redactUrl(this.options.url), err: err.message },
      'Redis refuses or drops the connection; retrying',
    )
  }

  /** Log each transition between reachable and unreachable once; catch up when back. */
  private noteState(): void {
    const ready = this.ready
    if (ready === this.wasReady || this.closing) return
    this.wasReady = ready
    if (ready) {
      this.reportedError = null
      this.options.log?.info({ url: redactUrl(this.options.url) }, 'Redis reachable: broker ready')
      for (const waiter of [...this.readyWaiters]) waiter()
      void this.recover()
    } else {
      this.options.log?.warn(
        { url: redactUrl(this.options.url), err: this.lastError?.message },
        'Redis unreachable: broker not ready, publish answers 503 until it is back',
      )
    }
  }

  async publish(messages: readonly Message[], idempotency?: Idempotency): Promise<Published> {
    if (!this.ready) throw unavailable(this.lastError)
    if (!idempotency) {
      const stored = await this.store(messages)
      return { stored, accepted: acceptedOf(stored), duplicate: false }
    }
    const { jti, ttlMs } = idempotency
    // SET NX in the claim script: of concurrent publishes under one jti, one stores.
    const previous = await this.claimJti(jti, Math.min(ttlMs, JTI_IN_FLIGHT_MS))
    if (previous !== null) return { stored: [], accepted: previous, duplicate: true }
    let stored: StoredMessage[]
    try {
      stored = await this.store(messages)
    } catch (err) {
      // Stored but not confirmed by enough replicas: a retry with this jti gets this answer.
      const kept = err instanceof UnconfirmedPublish ? acceptedOf(err.stored) : null
      await this.settleJti(jti, kept, ttlMs).catch(() => undefined)
      throw err
    }
    const accepted = acceptedOf(stored)
    // Stored and delivered: a failure to remember the result only lets a retry through.
    await this.settleJti(jti, accepted, ttlMs).catch(() => undefined)
    return { stored, accepted, duplicate: false }
  }

  /** Append the messages in one script, then hand them to local listeners. */
  private async store(messages: readonly Message[]): Promise<StoredMessage[]> {
    const runId = this.runId
    if (!this.ready || runId === null) throw unavailable(this.lastError)
    const now = this.now()
    // Each distinct room once, numbered in order of first appearance.
    const rooms = new Map<string, number>()
    const batch = messages.map((m) => {
      const r = rooms.get(m.room_id) ?? rooms.size
      rooms.set(m.room_id, r)
      return { m, r }
    })
    const keys: string[] = []
    const roomArgs: string[] = []
    for (const roomId of rooms.keys()) {
      keys.push(this.key('meta', roomId), this.key('history', roomId))
      roomArgs.push(this.channels.name(roomId), newEpoch())
    }
    keys.push(this.generationKey)
    const messageArgs = batch.flatMap(({ m, r }) => [String(r + 1), serialise(m)])
    let reply: unknown
    try {
      reply = await this.scripts.publishBatch(
        keys.length,
        ...keys,
        now,
        this.options.historySize,
        this.options.historyTtlMs,
        this.metaTtlMs,
        rooms.size,
        runId,
        newEpoch(),
        ...roomArgs,
        ...messageArgs,
      )
    } catch (err) {
      throw unavailable(err)
    }
    // Per room: its epoch and its offset before the batch; offsets follow in batch order.
    const state = reply as unknown[]
    const offsets = new Map<number, number>()
    const stored = batch.map(({ m, r }): StoredMessage => {
      const offset = (offsets.get(r) ?? Number(state[2 * r + 1])) + 1
      offsets.set(r, offset)
      return { ...m, epoch: String(state[2 * r]), offset, published_at: now }
    })
    // Local listeners have it before publish resolves (Broker contract).
    await this.channels.deliverLocally(stored)
    await this.confirm(stored)
    return stored
  }

  /**
   * With minReplicasAck: wait (WAIT, bounded by the command timeout) until that many
   * replicas have the publish; fewer is an UnconfirmedPublish (503). The messages are
   * stored on the master meanwhile: the error carries them, so that the jti is settled
   * with them and the backend's retry with the same jti is answered, not republished.
   */
  private async confirm(stored: StoredMessage[]): Promise<void> {
    const wanted = this.options.minReplicasAck ?? 0
    if (wanted === 0) return
    let acked: number
    try {
      acked = await this.cmd.wait(wanted, COMMAND_TIMEOUT_MS - 500)
    } catch {
      acked = 0
    }
    if (acked < wanted) throw new UnconfirmedPublish(stored, acked, wanted)
  }

  subscribe(roomId: string, listener: RoomListener): Promise<void> {
    return this.channels.subscribe(roomId, listener)
  }

  unsubscribe(roomId: string, listener: RoomListener): Promise<void> {
    this.channels.unsubscribe(roomId, listener)
    return Promise.resolve()
  }

  /** Each time the subscriber connection is (re)connected: hold every channel again. */
  private async resubscribe(): Promise<void> {
    // On failure the connection dropped again; its next 'ready' retries.
    this.resubscribed = await this.channels.resubscribe()
    this.noteState()
  }

  /**
   * Back from an outage: release the jtis that could not be released, re-stamp presence,
   * and hand listeners what their rooms got meanwhile, from history. Where history no
   * longer covers it, the room's latest message is handed on: the hub sees the gap or
   * the new epoch and catches its members up (or sends them resync, docs/protocol.md §6).
   */
  private async recover(): Promise<void> {
    const releases = [...this.pendingReleases]
    this.pendingReleases.clear()
    if (releases.length > 0) {
      await this.cmd.del(...releases.map((j) => this.key('jti', j))).catch(() => undefined)
    }
    void this.presence.beat(this.channels.rooms())
    await Promise.all(
      this.channels.positions().map(async ({ roomId, epoch, offset }) => {
        try {
          const history = await this.history(roomId, { epoch, offset })
          if (history.messages) {
            for (const m of history.messages) this.channels.deliver(m)
            return
          }
          const [last] = await this.cmd.lrange(this.key('history', roomId), -1, -1)
          if (last !== undefined) this.channels.deliver(JSON.parse(last) as StoredMessage)
        } catch {
          // Unavailable again: the next recovery retries.
        }
      }),
    )
  }

  async history(roomId: string, since?: RoomPosition): Promise<HistoryResult> {
    const runId = this.runId
    if (runId === null) throw unavailable(this.lastError)
    let reply: unknown
    try {
      reply = await this.scripts.roomHistory(
        3,
        this.key('meta', roomId),
        this.key('history', roomId),
        this.generationKey,
        this.now(),
        this.options.historyTtlMs,
        this.metaTtlMs,
        newEpoch(),
        since?.epoch ?? '',
        since?.offset ?? 0,
        runId,
        newEpoch(),
      )
    } catch (err) {
      throw unavailable(err)
    }
    const [epoch, offset, covered, ...entries] = reply as unknown[]
    const position = { epoch: String(epoch), offset: Number(offset) }
    this.channels.seedEpoch(roomId, position.epoch)
    if (!since || covered !== 1) return { ...position, messages: null }
    return { ...position, messages: entries.map((e) => JSON.parse(String(e)) as StoredMessage) }
  }

  private async claimJti(jti: string, ttlMs: number): Promise<Accepted | null> {
    let reply: unknown
    try {
      reply = await this.scripts.claimJti(1, this.key('jti', jti), this.now(), ttlMs)
    } catch (err) {
      throw unavailable(err)
    }
    if (typeof reply !== 'string') return null
    // In flight: its publish may yet fail, so "duplicate" would be a promise not kept. The
    // backend retries on 503 with the same jti, and gets the real answer then.
    if (reply === '') throw unavailable(new Error('a publish with the same jti is in flight'))
    return JSON.parse(reply) as Accepted
  }

  private async settleJti(jti: string, accepted: Accepted | null, ttlMs: number): Promise<void> {
    const key = this.key('jti', jti)
    try {
      if (accepted === null) await this.cmd.del(key)
      else await this.cmd.set(key, `${this.now() + ttlMs}|${JSON.stringify(accepted)}`, 'PX', ttlMs)
    } catch (err) {
      // A claim that cannot be released now is released once Redis is back, so that the
      // backend's retry of a publish that failed is not answered "duplicate".
      if (accepted === null && this.pendingReleases.size < MAX_PENDING_RELEASES)
        this.pendingReleases.add(jti)
      throw unavailable(err)
    }
  }

  close(): Promise<void> {
    this.closing ??= (async () => {
      clearInterval(this.timer)
      this.channels.releaseAll()
      const shared = this.presence.leaveAll()
      if (this.cmd.status === 'ready' && shared.length > 0) {
        // Leave at once rather than after the stale delay: the others' next read drops us.
        const pipeline = this.cmd.pipeline()
        for (const roomId of shared) pipeline.hdel(this.key('presence', roomId), this.node)
        await pipeline.exec().catch(() => undefined)
      }
      await Promise.all([quit(this.cmd), quit(this.sub)])
    })()
    return this.closing
  }
}

/**
 * A publish stored on the master but confirmed by fewer replicas than min_replicas_ack:
 * answered 503; `stored` is what a retry with the same jti is answered with.
 */
export class UnconfirmedPublish extends RelayError {
  constructor(
    readonly stored: readonly StoredMessage[],
    acked: number,
    wanted: number,
  ) {
    super(
      'RELAY_ERR_BROKER_UNAVAILABLE',
      `the broker is not available: ${acked} of ${wanted} replicas confirmed the publish (broker.min_replicas_ack); retry with the same jti`,
    )
  }
}

/** The message fields as JSON, an object: the publish script prepends epoch, offset, published_at. */
function serialise(m: Message): string {
  return JSON.stringify({
    room_id: m.room_id,
    cmd: m.cmd,
    data: m.data,
    rights: m.rights,
    sender_user_id: m.sender_user_id,
    sender_uuid: m.sender_uuid,
  })
}

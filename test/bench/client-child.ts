/**
 * Load generator: one process holding many subscribers of one server under test. Each
 * subscriber records which sequence numbers of its room it received (loss and duplicate
 * check) and the publish-to-receive latency of each (from the timestamp in `data`).
 * relay and floor subscribers are `ws` clients; socket.io ones (of the baseline, and
 * of the relay's socket.io endpoint) are socket.io-client with the websocket transport only. Same TLS certificate, same loopback address.
 */
import { createSecretKey } from 'node:crypto'
import { Agent } from 'node:https'
import { createSecureContext } from 'node:tls'
import jwt from 'jsonwebtoken'
import { io as ioClient, type Socket as IoSocket } from 'socket.io-client'
import { WebSocket } from 'ws'
import {
  CMD,
  type DeliveryLoss,
  Histogram,
  nowUs,
  PHASE_COUNT,
  protocolOf,
  roomOf,
  SUBSCRIBER_GROUPS,
  type BenchMark,
  type Kind,
} from './common.js'
import { serve } from './ipc.js'
import { connectViewer } from './sio-viewer.js'

/** How a client child is started. */
export interface ClientOptions {
  readonly kind: Kind
  readonly port: number
  /** The server's certificate, trusted as the only CA. */
  readonly ca: string
  readonly key: string
  /** Global index of this process's first subscriber, and how many it holds. */
  readonly first: number
  readonly count: number
  /** Number of rooms; subscriber i is in roomOf(i, rooms). */
  readonly rooms: number
  /** Sequence numbers per room are below this. */
  readonly maxSeq: number
  /** Connections being opened at once. */
  readonly concurrency: number
}

/** What `collect` reports. */
export interface ClientReport extends DeliveryLoss {
  readonly subscribers: number
  readonly hists: { counts: Float64Array; count: number; max: number }[]
  readonly cpuUs: number
}

/** The client child's API. */
export type ClientApi = {
  start: {
    args: ClientOptions
    result: { connected: number; failed: number; ms: number; errors: string[] }
  }
  progress: { args: null; result: { received: number; lastRecvUs: number; cpuUs: number } }
  collect: { args: { expected: Record<string, number> }; result: ClientReport }
  /** Close all but the first `keep` subscribers (a smaller room for the next size). */
  drop: { args: { keep: number }; result: { subscribers: number } }
  /** Start new latency histograms. */
  reset: { args: null; result: null }
}

interface Sub {
  readonly room: string
  readonly seen: Uint8Array
  distinct: number
  duplicates: number
  closed: boolean
  close: () => void
}

const subs: Sub[] = []
let hists = Array.from({ length: PHASE_COUNT }, () => new Histogram())
let received = 0
let lastRecvUs = 0
let unexpected = 0
let errorFrames = 0
let unexpectedCloses = 0
let shuttingDown = false
/**
 * One TLS context and agent for all of this process's connections: given `ca` alone, each
 * connection would build (and parse the PEM into) a context of its own. No session cache,
 * so every connection makes a full handshake, as browsers do.
 */
let agent: Agent | undefined

function record(sub: Sub, mark: BenchMark | undefined): void {
  const now = nowUs()
  lastRecvUs = now
  if (!mark || !(mark.seq >= 0 && mark.seq < sub.seen.length)) {
    unexpected += 1
    return
  }
  if (sub.seen[mark.seq]) {
    sub.duplicates += 1
    return
  }
  sub.seen[mark.seq] = 1
  sub.distinct += 1
  received += 1
  hists[mark.phase]?.add(now - mark.t)
}

/** A subscriber of `room` that has received nothing yet; `close` ends its connection. */
function newSub(room: string, maxSeq: number, close: () => void): Sub {
  return { room, seen: new Uint8Array(maxSeq), distinct: 0, duplicates: 0, closed: false, close }
}

interface WsFrame {
  readonly type: string
  readonly data?: { bench?: BenchMark }
}

function connectWs(o: ClientOptions, i: number, token: string): Promise<Sub> {
  const room = roomOf(i, o.rooms)
  const query = protocolOf(o.kind) === 'floor' ? `?room=${encodeURIComponent(room)}` : ''
  const ws = new WebSocket(`wss://127.0.0.1:${o.port}/ws${query}`, {
    agent,
    perMessageDeflate: false,
    handshakeTimeout: 60_000,
  })
  const sub = newSub(room, o.maxSeq, () => ws.terminate())
  return new Promise((resolve, reject) => {
    ws.on('open', () => {
      ws.send(JSON.stringify({ type: 'subscribe', room_id: room, token, uuid: `bench-${i}` }))
      if (protocolOf(o.kind) === 'floor') resolve(sub)
    })
    ws.on('message', (data: Buffer) => {
      const frame = JSON.parse(data.toString('utf8')) as WsFrame
      if (frame.type === 'message') record(sub, frame.data?.bench)
      else if (frame.type === 'subscribed') resolve(sub)
      else if (frame.type === 'error') {
        errorFrames += 1
        reject(new Error(`error frame: ${data.toString('utf8')}`))
      }
    })
    ws.on('error', (err) => {
      reject(err)
    })
    ws.on('close', (code) => {
      if (!shuttingDown && !sub.closed) unexpectedCloses += 1
      sub.closed = true
      reject(new Error(`closed with ${code}`))
    })
  })
}

interface ServerEvents {
  joined: (room: string) => void
  [CMD]: (data: { bench?: BenchMark }) => void
}
interface ClientEvents {
  join: (room: string) => void
}

function connectSocketIo(o: ClientOptions, i: number): Promise<Sub> {
  const room = roomOf(i, o.rooms)
  const socket: IoSocket<ServerEvents, ClientEvents> = ioClient(`https://127.0.0.1:${o.port}`, {
    transports: ['websocket'],
    // engine.io-client passes `agent` on to `ws`; its type says string | boolean.
    agent: agent as unknown as string,
    forceNew: true,
    reconnection: false,
    timeout: 60_000,
  })
  const sub = newSub(room, o.maxSeq, () => socket.disconnect())
  return new Promise((resolve, reject) => {
    socket.on('connect', () => {
      socket.emit('join', room)
    })
    socket.on('joined', () => {
      resolve(sub)
    })
    socket.on(CMD, (data) => {
      record(sub, data.bench)
    })
    socket.on('connect_error', (err) => {
      reject(err)
    })
    socket.on('disconnect', (reason) => {
      if (!shuttingDown && !sub.closed) unexpectedCloses += 1
      sub.closed = true
      reject(new Error(`disconnected: ${reason}`))
    })
  })
}

async function connectRelayViewer(o: ClientOptions, i: number, token: string): Promise<Sub> {
  const room = roomOf(i, o.rooms)
  let close = (): void => undefined
  const sub = newSub(room, o.maxSeq, () => {
    close()
  })
  close = await connectViewer(o.port, agent as Agent, room, token, `bench-${i}`, {
    message: (mark) => {
      record(sub, mark)
    },
    error: () => {
      errorFrames += 1
    },
    closed: (_reason, connected) => {
      if (connected && !shuttingDown && !sub.closed) unexpectedCloses += 1
      sub.closed = true
    },
  })
  return sub
}

async function start(o: ClientOptions): Promise<ClientApi['start']['result']> {
  const t0 = Date.now()
  agent = new Agent({ secureContext: createSecureContext({ ca: o.ca }), maxCachedSessions: 0 })
  const secret = createSecretKey(Buffer.from(o.key, 'utf8'))
  const exp = Math.floor(Date.now() / 1000) + 3600
  const errors: string[] = []
  let next = 0
  let failed = 0
  const worker = async (): Promise<void> => {
    while (next < o.count) {
      const i = o.first + next++
      try {
        if (protocolOf(o.kind) === 'socketio') subs.push(await connectSocketIo(o, i))
        else {
          const token =
            protocolOf(o.kind) === 'relay'
              ? jwt.sign(
                  { exp, data: { user_id: 1000 + i, user_rights: SUBSCRIBER_GROUPS } },
                  secret,
                  {
                    algorithm: 'HS512',
                  },
                )
              : ''
          if (o.kind === 'relaysio') subs.push(await connectRelayViewer(o, i, token))
          else subs.push(await connectWs(o, i, token))
        }
      } catch (err) {
        failed += 1
        if (errors.length < 5) errors.push(err instanceof Error ? err.message : String(err))
      }
    }
  }
  await Promise.all(Array.from({ length: Math.min(o.concurrency, o.count) }, worker))
  return { connected: subs.length, failed, ms: Date.now() - t0, errors }
}

function collect(expected: Record<string, number>): ClientReport {
  let missing = 0
  let duplicates = 0
  let withLoss = 0
  for (const sub of subs) {
    const lost = (expected[sub.room] ?? 0) - sub.distinct
    missing += lost
    duplicates += sub.duplicates
    if (lost !== 0) withLoss += 1
  }
  const cpu = process.cpuUsage()
  return {
    subscribers: subs.length,
    missing,
    duplicates,
    unexpected,
    subscribersWithLoss: withLoss,
    unexpectedCloses,
    errorFrames,
    hists: hists.map((h) => ({ counts: h.counts, count: h.count, max: h.max })),
    cpuUs: cpu.user + cpu.system,
  }
}

serve<ClientApi>(
  {
    start,
    progress: () => {
      const cpu = process.cpuUsage()
      return { received, lastRecvUs, cpuUs: cpu.user + cpu.system }
    },
    collect: ({ expected }) => collect(expected),
    drop: ({ keep }) => {
      for (const sub of subs.splice(keep)) {
        sub.closed = true
        sub.close()
      }
      return { subscribers: subs.length }
    },
    reset: () => {
      hists = Array.from({ length: PHASE_COUNT }, () => new Histogram())
      return null
    },
  },
  20 * 60_000,
  () => {
    shuttingDown = true
    for (const sub of subs) sub.close()
  },
)

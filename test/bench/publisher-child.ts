/**
 * The backend stand-in: POSTs messages over HTTPS with keep-alive, each carrying its
 * room's next sequence number and the publish time in `data.bench`. The relay gets
 * signed HS512 publish tokens (docs/protocol.md §1.2), socket.io the historic unsigned JSON
 * message, the floor the frame it will broadcast as is.
 */
import { createSecretKey, type KeyObject } from 'node:crypto'
import { Agent, request } from 'node:https'
import { TLSSocket } from 'node:tls'
import jwt from 'jsonwebtoken'
import { CMD, kanbanMessage, nowUs, PHASE, protocolOf, type Kind } from './common.js'
import { serve } from './ipc.js'

/** How the publisher child is started. */
export interface PublisherOptions {
  readonly kind: Kind
  readonly port: number
  readonly ca: string
  readonly key: string
  /** Keep-alive sockets, i.e. the most requests in flight. */
  readonly sockets: number
}

/** One timed series of publishes. */
export interface PublishRun {
  readonly sent: number
  readonly failed: number
  readonly firstError: string | null
  /** Before the first request was written, and after the last answer was read. */
  readonly startUs: number
  readonly endUs: number
  /** Requests whose TLS connection resumed an earlier session (new connections only). */
  readonly resumed: number
}

/**
 * How a burst's requests reach the server: over the kept-alive sockets, or each over a new
 * TLS connection as `curl` from PHP does, with a full handshake every time or resuming the
 * previous connection's session (a ticket).
 */
export type Connect = 'keepalive' | 'full' | 'resumed'

/** The publisher child's API. */
export type PublisherApi = {
  start: { args: PublisherOptions; result: null }
  /** `count` messages at `rate` per second, spread round-robin over `rooms`. */
  steady: {
    args: { rooms: string[]; rate: number; count: number; phase: number }
    result: PublishRun
  }
  /** `count` messages back to back, `concurrency` in flight. */
  burst: {
    args: {
      rooms: string[]
      count: number
      concurrency: number
      phase: number
      connect?: Connect
    }
    result: PublishRun
  }
  /** Bodies built in advance (`pool` of them), then as many requests as `durationMs` allows. */
  throughput: {
    args: { room: string; durationMs: number; concurrency: number; pool: number }
    result: PublishRun & { exhausted: boolean }
  }
  /** Messages published so far per room: what every subscriber must have received. */
  counts: { args: null; result: Record<string, number> }
}

interface Body {
  readonly path: string
  readonly type: string
  readonly body: Buffer
}

let opts: PublisherOptions
let agent: Agent
/** One new TLS connection per request, no session cache: a full handshake each time. */
let fullAgent: Agent
/** One new TLS connection per request, resuming the last session the server gave. */
let resumingAgent: Agent
let secret: KeyObject
const seqs = new Map<string, number>()

function nextSeq(room: string): number {
  const seq = seqs.get(room) ?? 0
  seqs.set(room, seq + 1)
  return seq
}

function build(room: string, phase: number): Body {
  const message = kanbanMessage(room, { seq: nextSeq(room), phase, t: nowUs() })
  const { data } = message
  switch (protocolOf(opts.kind)) {
    case 'relay': {
      const exp = Math.floor(Date.now() / 1000) + 120
      const token = jwt.sign({ exp, message }, secret, { algorithm: 'HS512' })
      return { path: '/message', type: 'application/jwt', body: Buffer.from(token) }
    }
    case 'floor': {
      const frame = { type: 'message', room_id: room, cmd: CMD, data }
      return {
        path: `/message?room=${encodeURIComponent(room)}`,
        type: 'application/json',
        body: Buffer.from(JSON.stringify(frame)),
      }
    }
    case 'socketio':
      return {
        path: '/message',
        type: 'application/json',
        body: Buffer.from(JSON.stringify(message)),
      }
  }
}

/** POST one body; resolves with the status (0 on a transport error). */
function post(
  b: Body,
  via: Agent = agent,
): Promise<{ status: number; error?: string; resumed: boolean }> {
  return new Promise((resolve) => {
    const fresh = via !== agent
    const req = request(
      {
        host: '127.0.0.1',
        port: opts.port,
        method: 'POST',
        path: b.path,
        agent: via,
        headers: {
          'content-type': b.type,
          'content-length': b.body.length,
          ...(fresh ? { connection: 'close' } : {}),
        },
        timeout: 60_000,
      },
      (res) => {
        const socket = res.socket
        const resumed = fresh && socket instanceof TLSSocket && socket.isSessionReused()
        const chunks: Buffer[] = []
        res.on('data', (c: Buffer) => chunks.push(c))
        res.on('end', () => {
          const status = res.statusCode ?? 0
          if (status === 200) resolve({ status, resumed })
          else
            resolve({
              status,
              resumed,
              error: `${status} ${Buffer.concat(chunks).toString('utf8')}`,
            })
        })
      },
    )
    req.on('timeout', () => req.destroy(new Error('request timed out')))
    req.on('error', (err) => {
      resolve({ status: 0, error: err.message, resumed: false })
    })
    req.end(b.body)
  })
}

class Tally {
  sent = 0
  failed = 0
  firstError: string | null = null
  resumed = 0
  readonly startUs = nowUs()

  async send(b: Body, via?: Agent): Promise<void> {
    const r = await post(b, via)
    this.sent += 1
    if (r.resumed) this.resumed += 1
    if (r.status !== 200) {
      this.failed += 1
      this.firstError ??= r.error ?? String(r.status)
    }
  }

  result(): PublishRun {
    return {
      sent: this.sent,
      failed: this.failed,
      firstError: this.firstError,
      startUs: this.startUs,
      endUs: nowUs(),
      resumed: this.resumed,
    }
  }
}

async function steady(a: PublisherApi['steady']['args']): Promise<PublishRun> {
  const tally = new Tally()
  const inFlight = new Set<Promise<void>>()
  const t0 = Date.now()
  for (let i = 0; i < a.count; i++) {
    const due = t0 + (i * 1000) / a.rate
    const wait = due - Date.now()
    if (wait > 0) await new Promise((r) => setTimeout(r, wait))
    const p = tally.send(build(a.rooms[i % a.rooms.length] ?? '', a.phase)).finally(() => {
      inFlight.delete(p)
    })
    inFlight.add(p)
  }
  await Promise.all(inFlight)
  return tally.result()
}

async function burst(a: PublisherApi['burst']['args']): Promise<PublishRun> {
  const tally = new Tally()
  const via = a.connect === 'full' ? fullAgent : a.connect === 'resumed' ? resumingAgent : agent
  let next = 0
  const worker = async (): Promise<void> => {
    while (next < a.count) {
      const i = next++
      await tally.send(build(a.rooms[i % a.rooms.length] ?? '', a.phase), via)
    }
  }
  await Promise.all(Array.from({ length: Math.min(a.concurrency, a.count) }, worker))
  return tally.result()
}

async function throughput(
  a: PublisherApi['throughput']['args'],
): Promise<PublishRun & { exhausted: boolean }> {
  const base = seqs.get(a.room) ?? 0
  const pool = Array.from({ length: a.pool }, () => build(a.room, PHASE.throughput))
  const tally = new Tally()
  const deadline = Date.now() + a.durationMs
  let next = 0
  const worker = async (): Promise<void> => {
    while (next < pool.length && Date.now() < deadline) {
      const b = pool[next++]
      if (b) await tally.send(b)
    }
  }
  await Promise.all(Array.from({ length: a.concurrency }, worker))
  // Only what was sent counts as published.
  seqs.set(a.room, base + next)
  return { ...tally.result(), exhausted: next >= pool.length }
}

serve<PublisherApi>(
  {
    start: (o) => {
      opts = o
      agent = new Agent({ keepAlive: true, maxSockets: o.sockets, ca: o.ca })
      fullAgent = new Agent({ keepAlive: false, maxCachedSessions: 0, ca: o.ca })
      resumingAgent = new Agent({ keepAlive: false, maxCachedSessions: 16, ca: o.ca })
      secret = createSecretKey(Buffer.from(o.key, 'utf8'))
      return null
    },
    steady,
    burst,
    throughput,
    counts: () => Object.fromEntries(seqs),
  },
  20 * 60_000,
)

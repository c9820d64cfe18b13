/** Test helpers: Tuleap pages as socket.io clients. */
import { io as ioLatest, type Socket as ClientSocket } from 'socket.io-client'
import { testCert } from '../helpers/certs.js'
import type { Teardown, TestRelay } from '../helpers/relay.js'
import { until } from '../helpers/wait.js'

const cert = testCert()
/** A socket.io-client `io` function (latest or 4.7.5). */
export type Io = typeof ioLatest

/** A page's socket: every event it receives, in order. */
export interface Page {
  readonly socket: ClientSocket
  readonly events: [string, unknown][]
  next(name: string, timeoutMs?: number): Promise<unknown>
}

/** Open a page's socket to `relay` (default: /local-socket.io, namespace /, latest client). */
export function page(
  t: Teardown,
  relay: Pick<TestRelay, 'url'>,
  options: { io?: Io; nsp?: string; path?: string; transports?: string[] } = {},
): Page {
  const connect = options.io ?? ioLatest
  const socket = connect(`${relay.url}${options.nsp ?? ''}`, {
    path: options.path ?? '/local-socket.io',
    ca: cert.cert,
    reconnection: false,
    transports: options.transports ?? ['polling', 'websocket'],
  } as never)
  const events: [string, unknown][] = []
  const waiters: (() => void)[] = []
  socket.onAny((name: string, data: unknown) => {
    events.push([name, data])
    for (const w of waiters.splice(0)) w()
  })
  socket.on('disconnect', () => {
    events.push(['disconnect', null])
    for (const w of waiters.splice(0)) w()
  })
  t.teardown(() => socket.close())
  let seen = 0
  return {
    socket,
    events,
    async next(name, timeoutMs = 3000) {
      const deadline = Date.now() + timeoutMs
      for (;;) {
        while (seen < events.length) {
          const [n, d] = events[seen++] as [string, unknown]
          if (n === name) return d
        }
        const left = deadline - Date.now()
        if (left <= 0)
          throw new Error(`no ${name} within ${timeoutMs} ms: ${JSON.stringify(events)}`)
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, left)
          waiters.push(() => {
            clearTimeout(timer)
            resolve()
          })
        })
      }
    },
  }
}

/**
 * The historic `subscription` payload. The version is written out as Tuleap's pages send
 * it, not imported from src: a change of the relay's constant must fail these tests.
 */
export function subscription(roomId: number | string, token: string, uuid: string) {
  return { nodejs_server_version: '2.0.0', token, room_id: roomId, uuid }
}

/** Tuleap's historic unsigned publish, from loopback. */
export function publishUnsigned(relay: Pick<TestRelay, 'post'>, message: Record<string, unknown>) {
  return relay.post(JSON.stringify(message), 'application/json')
}

/**
 * Resolves once `relay`'s hub counts at least `n` members: a Kanban page gets no answer
 * to its subscription, so this is how a test knows it is in.
 */
export function hubMembers(relay: Pick<TestRelay, 'app'>, n: number): Promise<void> {
  return until(`${n} members on the hub`, () => relay.app.relay.hub.stats().members >= n)
}

/**
 * The shutdown order of src/shutdown.ts: every subscriber, /ws and socket.io, is closed
 * before the broker; then the process exits, within its bound.
 */
import { pino } from 'pino'
import t from 'tap'
import { MemoryBroker } from '../src/broker/memory-broker.js'
import { shutdownProcess, SHUTDOWN_EXIT } from '../src/shutdown.js'
import { startRelay } from './helpers/relay.js'
import { until } from './helpers/wait.js'
import { page } from './socketio/pages.js'

/**
 * A broker whose close() first waits (bounded) for `subscribersClosed()`, then records
 * whether it held; then waits for `hold`, if set. Closed before the subscribers, it waits for something that only follows it, and
 * records false.
 */
class OrderedBroker extends MemoryBroker {
  /** Whether every subscriber was closed when the broker's close began; null: not closed. */
  subscribersClosedFirst: boolean | null = null
  subscribersClosed = (): boolean => false
  hold: Promise<void> | null = null

  constructor() {
    super({ historySize: 100, historyTtlMs: 300_000 })
  }

  override async close(): Promise<void> {
    if (this.subscribersClosedFirst === null) {
      this.subscribersClosedFirst = await until('every subscriber closed', this.subscribersClosed, {
        timeoutMs: 3000,
      }).then(
        () => true,
        () => false,
      )
    }
    await this.hold
    return super.close()
  }
}

t.test(
  'app.close(): 1001 to /ws clients, socket.io pages disconnected, then the broker',
  async (t) => {
    const broker = new OrderedBroker()
    const relay = await startRelay(t, {}, { broker })
    const client = await relay.connect()
    const sio = page(t, relay, { transports: ['websocket'] })
    await until('the socket.io page is connected', () => sio.socket.connected)
    let wsCode: number | null = null
    void client.closed.then(({ code }) => {
      wsCode = code
    })
    broker.subscribersClosed = () =>
      wsCode !== null &&
      sio.events.some(([name]) => name === 'disconnect') &&
      [...relay.app.relay.connections].every((c) => c.closed)
    await relay.app.close()
    t.equal(wsCode, 1001, '/ws: going away')
    t.ok(
      sio.events.some(([name]) => name === 'disconnect'),
      'the socket.io page is disconnected',
    )
    t.equal(broker.subscribersClosedFirst, true, 'both before the broker closed')
  },
)

/** A logger whose lines the test reads. */
function capturedLogger(): { logger: pino.Logger; messages: () => string[] } {
  const lines: string[] = []
  const logger = pino({ level: 'info' }, { write: (line: string) => lines.push(line) })
  return {
    logger,
    messages: () => lines.map((l) => (JSON.parse(l) as { msg: string }).msg),
  }
}

t.test('shutdownProcess: closes the app, flushes, exits 0', async (t) => {
  const relay = await startRelay(t)
  const { logger, messages } = capturedLogger()
  const codes: number[] = []
  await shutdownProcess(relay.app, logger, 'SIGTERM', 5000, (code) => codes.push(code))
  t.same(codes, [SHUTDOWN_EXIT.ok])
  t.same(messages(), ['shutting down', 'stopped'])
  t.notOk(relay.app.server.listening, 'the server no longer listens')
})

t.test('shutdownProcess: a close that hangs ends in exit 1 within twice the bound', async (t) => {
  const broker = new OrderedBroker()
  broker.subscribersClosed = () => true
  let release = (): void => undefined
  broker.hold = new Promise((resolve) => {
    release = resolve
  })
  t.teardown(() => {
    release()
  })
  const relay = await startRelay(t, {}, { broker })
  const client = await relay.connect()
  const { logger, messages } = capturedLogger()
  const codes: number[] = []
  void shutdownProcess(relay.app, logger, 'SIGTERM', 100, (code) => codes.push(code))
  await until('the last-resort exit', () => codes.length > 0, { timeoutMs: 5000 })
  t.same(codes, [SHUTDOWN_EXIT.failure])
  t.match(messages(), [
    'shutting down',
    'connections still open at the shutdown timeout: terminating them',
    'still closing after terminating every connection',
  ])
  t.equal((await client.closed).code, 1001, 'the client was closed first all the same')
  release()
})

import { Writable } from 'node:stream'
import type { FastifyBaseLogger } from 'fastify'
import t from 'tap'
import { createLogger, deferredRequestLogger, DeferredChildLogger } from '../src/log.js'

/** A process logger writing into `lines`, and a parent that counts the children it makes. */
function setup(level = 'info'): {
  lines: Record<string, unknown>[]
  parent: FastifyBaseLogger
  made: () => number
} {
  const lines: Record<string, unknown>[] = []
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      lines.push(JSON.parse(chunk.toString()) as Record<string, unknown>)
      done()
    },
  })
  const logger = createLogger(level, sink)
  let children = 0
  const parent = Object.create(logger) as FastifyBaseLogger
  parent.child = (bindings, options) => {
    children++
    return logger.child(bindings, options)
  }
  return { lines, parent, made: () => children }
}

/** pino writes synchronously to a Writable only once the stream has taken the chunk. */
const settle = (): Promise<void> => new Promise((resolve) => setImmediate(resolve))

t.test('DeferredChildLogger', async (t) => {
  t.test('makes no pino child until something is logged', async (t) => {
    const { parent, made } = setup()
    const log = deferredRequestLogger(parent, { reqId: 'req-1' }, {})
    t.type(log, DeferredChildLogger)
    t.equal(log.level, 'info', 'the level is read without a child')
    t.equal(made(), 0)
  })

  t.test('logs with its bindings, through one child made once', async (t) => {
    const { lines, parent, made } = setup()
    const log = deferredRequestLogger(parent, { reqId: 'req-7' }, {})
    log.info('first')
    log.error({ err: new Error('boom') }, 'second')
    log.debug('below the level')
    await settle()
    t.equal(made(), 1)
    t.same(
      lines.map((l) => [l.level, l.reqId, l.msg]),
      [
        ['info', 'req-7', 'first'],
        ['error', 'req-7', 'second'],
      ],
    )
    t.match(lines[1], { err: { message: 'boom' } })
  })

  t.test('keeps the process logger redaction', async (t) => {
    const { lines, parent } = setup()
    const log = deferredRequestLogger(parent, { reqId: 'req-2' }, {})
    log.warn({ token: 'eyJ.secret.sig' }, 'refused')
    await settle()
    t.equal(lines[0]?.token, '[redacted]')
  })

  t.test('a level set on it applies to it alone', async (t) => {
    const { lines, parent } = setup()
    const log = deferredRequestLogger(parent, { reqId: 'req-3' }, {})
    log.level = 'debug'
    log.debug('now shown')
    parent.debug('still hidden')
    await settle()
    t.equal(log.level, 'debug')
    t.equal(parent.level, 'info')
    t.same(
      lines.map((l) => l.msg),
      ['now shown'],
    )
  })

  t.test('a level given by the route is its level before any child is made', async (t) => {
    const { parent, made } = setup()
    const log = deferredRequestLogger(parent, { reqId: 'req-4' }, { level: 'warn' })
    t.equal(log.level, 'warn')
    t.equal(made(), 0)
  })

  t.test("the route's level and serializers apply to what it logs", async (t) => {
    const { lines, parent } = setup()
    const log = deferredRequestLogger(
      parent,
      { reqId: 'req-6' },
      { level: 'warn', serializers: { card: (c: { id: number }) => `card #${c.id}` } },
    )
    log.info('below the route level')
    log.warn({ card: { id: 12 } }, 'moved')
    await settle()
    t.same(
      lines.map((l) => [l.msg, l.card]),
      [['moved', 'card #12']],
    )
  })

  t.test('its children carry both bindings', async (t) => {
    const { lines, parent } = setup()
    const log = deferredRequestLogger(parent, { reqId: 'req-5' }, {})
    log.child({ conn: 12 }).info('from the child')
    await settle()
    t.match(lines[0], { reqId: 'req-5', conn: 12, msg: 'from the child' })
  })
})

/**
 * Request/reply over the Node IPC channel between the bench orchestrator and its child
 * processes (server under test, load-generating clients, publisher). Every call has a
 * timeout; a child exits by itself when its parent goes away.
 */
import { fork, type ChildProcess } from 'node:child_process'
import { closeSync, openSync } from 'node:fs'

/** A child's API: command name → argument and result types. */
export type Api = Record<string, { args: unknown; result: unknown }>

/** Handlers a child serves, one per command of its API. */
export type Handlers<A extends Api> = {
  [K in keyof A]: (args: A[K]['args']) => Promise<A[K]['result']> | A[K]['result']
}

interface Request {
  readonly id: number
  readonly cmd: string
  readonly args: unknown
}

interface Reply {
  readonly id: number
  readonly ok: boolean
  readonly result?: unknown
  readonly error?: string
}

/** How to start a child. */
export interface SpawnOptions {
  readonly name: string
  /** Compiled module of the child, next to this one. */
  readonly script: string
  readonly execArgv?: readonly string[]
  /** stdout and stderr go to this file (appended); none: inherited stderr only. */
  readonly logFile?: string
}

/** The parent's handle on one child: typed calls with timeouts, and a bounded stop. */
export class Child<A extends Api> {
  private nextId = 1
  private readonly pending = new Map<
    number,
    { resolve: (v: unknown) => void; reject: (e: Error) => void; timer: NodeJS.Timeout }
  >()
  private exited = false
  private readonly exit: Promise<number | null>

  constructor(
    readonly name: string,
    readonly process: ChildProcess,
  ) {
    process.on('message', (m: Reply) => {
      const p = this.pending.get(m.id)
      if (!p) return
      this.pending.delete(m.id)
      clearTimeout(p.timer)
      if (m.ok) p.resolve(m.result)
      else p.reject(new Error(`${name}: ${m.error ?? 'failed'}`))
    })
    this.exit = new Promise((resolve) => {
      process.on('exit', (code, signal) => {
        this.exited = true
        for (const [, p] of this.pending) {
          clearTimeout(p.timer)
          p.reject(new Error(`${name} exited (code ${code ?? 'null'}, signal ${signal ?? 'none'})`))
        }
        this.pending.clear()
        resolve(code)
      })
    })
  }

  /** Call `cmd` in the child; rejects after `timeoutMs` or if the child exits. */
  call<K extends keyof A & string>(
    cmd: K,
    args: A[K]['args'],
    timeoutMs: number,
  ): Promise<A[K]['result']> {
    if (this.exited) return Promise.reject(new Error(`${this.name} has exited`))
    const id = this.nextId++
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id)
        reject(new Error(`${this.name}: ${cmd} timed out after ${timeoutMs} ms`))
      }, timeoutMs)
      this.pending.set(id, { resolve: resolve, reject, timer })
      const request: Request = { id, cmd, args }
      this.process.send(request)
    })
  }

  /** Ask the child to exit; SIGKILL it if it has not within `timeoutMs`. */
  async stop(timeoutMs = 10_000): Promise<void> {
    if (this.exited) return
    if (this.process.connected) this.process.disconnect()
    const killer = setTimeout(() => this.process.kill('SIGKILL'), timeoutMs)
    await this.exit
    clearTimeout(killer)
  }
}

/** Fork a child module with an IPC channel (advanced serialisation: typed arrays pass). */
export function spawnChild<A extends Api>(opts: SpawnOptions): Child<A> {
  const fd = opts.logFile === undefined ? undefined : openSync(opts.logFile, 'a')
  const child = fork(opts.script, [], {
    execArgv: [...(opts.execArgv ?? [])],
    serialization: 'advanced',
    stdio: ['ignore', fd ?? 'ignore', fd ?? 'inherit', 'ipc'],
  })
  if (fd !== undefined) closeSync(fd)
  return new Child<A>(opts.name, child)
}

/**
 * Child side: answer the parent's calls with `handlers`. The child exits when the parent
 * disconnects (stop, or the parent died) and in any case after `maxLifeMs`.
 */
export function serve<A extends Api>(
  handlers: Handlers<A>,
  maxLifeMs: number,
  onExit: () => void = () => undefined,
): void {
  const send = (reply: Reply): void => {
    if (process.connected) process.send?.(reply)
  }
  process.on('message', (m: Request) => {
    const handler = handlers[m.cmd]
    if (!handler) {
      send({ id: m.id, ok: false, error: `unknown command ${m.cmd}` })
      return
    }
    Promise.resolve()
      .then(() => handler(m.args))
      .then(
        (result) => {
          send({ id: m.id, ok: true, result })
        },
        (err: unknown) => {
          send({ id: m.id, ok: false, error: err instanceof Error ? err.message : String(err) })
        },
      )
  })
  const quit = (code: number): void => {
    onExit()
    process.exit(code)
  }
  process.on('disconnect', () => {
    quit(0)
  })
  setTimeout(() => {
    process.stderr.write(`bench child ${process.pid}: lifetime of ${maxLifeMs} ms exceeded\n`)
    quit(3)
  }, maxLifeMs).unref()
}

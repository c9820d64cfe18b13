/**
 * A server under test, alone in its process so that its memory and CPU are its own.
 * Run with --expose-gc: `sample` with `gc` collects before reading memoryUsage().
 */
import { monitorEventLoopDelay } from 'node:perf_hooks'
import { writeHeapSnapshot } from 'node:v8'
import { sampleProcess, sleep, type ProcessSample } from './common.js'
import { serve } from './ipc.js'
import { startServer, type RunningServer, type ServerOptions } from './servers.js'

/** The server child's API. */
export type ServerApi = {
  start: { args: ServerOptions; result: { port: number; pid: number } }
  sample: { args: { gc: boolean }; result: ProcessSample }
  snapshot: { args: { file: string }; result: { file: string } }
  /** `start` empties the event loop's delay histogram and starts it; `stop` reads it. */
  loopDelay: { args: { action: 'start' | 'stop' }; result: LoopDelay }
}

/** How late a 1 ms timer ran: what the longest task held the event loop. */
export interface LoopDelay {
  readonly p99Ms: number
  readonly maxMs: number
}

/** Bound on a server child's life, whatever happens to the orchestrator. */
const MAX_LIFE_MS = 20 * 60_000

let server: RunningServer | undefined
// Off until asked for: its 1 ms timer would count in the server's CPU at rest.
const delays = monitorEventLoopDelay({ resolution: 1 })
const gc = (globalThis as { gc?: () => void }).gc

async function collect(): Promise<void> {
  if (!gc) return
  // Twice, with a turn of the loop between: weak callbacks and finalisers run in between.
  for (let i = 0; i < 3; i++) {
    gc()
    await sleep(20)
  }
}

serve<ServerApi>(
  {
    start: async (opts) => {
      server = await startServer(opts)
      return { port: server.port, pid: process.pid }
    },
    sample: async ({ gc: wantGc }) => {
      if (wantGc) await collect()
      return sampleProcess(server?.connections() ?? 0)
    },
    loopDelay: ({ action }) => {
      if (action === 'start') {
        delays.reset()
        delays.enable()
      } else delays.disable()
      return Promise.resolve({
        p99Ms: delays.percentile(99) / 1e6,
        maxMs: Number.isFinite(delays.max) ? delays.max / 1e6 : 0,
      })
    },
    snapshot: async ({ file }) => {
      await collect()
      return { file: writeHeapSnapshot(file) }
    },
  },
  MAX_LIFE_MS,
)

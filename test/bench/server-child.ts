/**
 * A server under test, alone in its process so that its memory and CPU are its own.
 * Run with --expose-gc: `sample` with `gc` collects before reading memoryUsage().
 */
import { writeHeapSnapshot } from 'node:v8'
import { sampleProcess, sleep, type ProcessSample } from './common.js'
import { serve } from './ipc.js'
import { startServer, type RunningServer, type ServerOptions } from './servers.js'

/** The server child's API. */
export type ServerApi = {
  start: { args: ServerOptions; result: { port: number; pid: number } }
  sample: { args: { gc: boolean }; result: ProcessSample }
  snapshot: { args: { file: string }; result: { file: string } }
}

/** Bound on a server child's life, whatever happens to the orchestrator. */
const MAX_LIFE_MS = 20 * 60_000

let server: RunningServer | undefined
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
    snapshot: async ({ file }) => {
      await collect()
      return { file: writeHeapSnapshot(file) }
    },
  },
  MAX_LIFE_MS,
)

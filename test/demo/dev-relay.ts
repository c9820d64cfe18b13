/**
 * The real relay process for the demo tests: `node dist/src/main.js`, in development mode
 * (no --config) with its own folder (TULEAP_REALTIME_DEV_DIR) and port
 * (TULEAP_REALTIME_PORT), so it shares nothing with a developer's running dev relay; or
 * with a config file. Killed at teardown if still running.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Test } from 'tap'
import { spawnRelay, type Spawned } from '../helpers/process.js'

export { httpsGet } from '../helpers/https.js'
export { freePort } from '../helpers/ports.js'
export { mainJs, WAIT_MS } from '../helpers/process.js'

/** A running relay process on `port`. */
export type RelayProcess = Spawned & { readonly port: number }

/** A temporary folder for development mode's files, removed at teardown. */
export function devDir(t: Test): string {
  const dir = mkdtempSync(join(tmpdir(), 'tuleap-realtime-demo-'))
  t.teardown(() => {
    rmSync(dir, { recursive: true, force: true })
  })
  return dir
}

/**
 * Start the relay on `port` and wait for its "listening" line. `dev`: development mode
 * with that folder; otherwise `args` carries --config. `nodeArgs` go to node itself.
 */
export async function startRelay(
  t: Test,
  options: { port: number; dev?: string; args?: string[]; nodeArgs?: string[] },
): Promise<RelayProcess> {
  const env: NodeJS.ProcessEnv = { TULEAP_REALTIME_PORT: String(options.port) }
  if (options.dev !== undefined) env.TULEAP_REALTIME_DEV_DIR = options.dev
  const relay = spawnRelay(t, options.args ?? [], { env, nodeArgs: options.nodeArgs ?? [] })
  await relay.waitFor('"msg":"tuleap-realtime listening"')
  return Object.assign(relay, { port: options.port })
}

/** The development certificate the relay made in `dir`. */
export const devCert = (dir: string): Buffer => readFileSync(join(dir, 'dev-cert.pem'))

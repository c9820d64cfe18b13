/**
 * What a message kept in the memory broker's history holds, against what
 * `history_max_bytes` counts for it: publishes go through the relay's own `POST /message`
 * (fastify's `inject`) into 1,000 rooms that each have a listener building the message
 * frame, as a room with subscribers does; JS heap, ArrayBuffer memory and the process's
 * resident memory (which also shows the allocator's own overhead) are read after full
 * collections, before and after.
 * Run: `npm run -s build && tsc -p test/bench && node --expose-gc dist/test/bench/history-memory.js`.
 */
import { setTimeout as sleep } from 'node:timers/promises'
import { buildApp } from '../../src/app.js'
import { signPublishToken } from '../../src/auth/sign.js'
import { MemoryBroker } from '../../src/broker/memory-broker.js'
import { loadConfig } from '../../src/config.js'
import { messageFrame } from '../../src/protocol/server-frames.js'
import { kanbanMessage } from './common.js'

const MESSAGES = 20_000
const ROOMS = 1_000
const KEY = 'k'.repeat(64)

const collect = (globalThis as { gc?: () => void }).gc
if (collect === undefined) {
  process.stderr.write('run with node --expose-gc\n')
  process.exit(2)
}

/** Memory after full collections; the ArrayBuffer sweeper finishes in the background. */
async function settled(): Promise<NodeJS.MemoryUsage> {
  for (let i = 0; i < 2; i++) {
    collect?.()
    await sleep(300)
  }
  return process.memoryUsage()
}

const tokens = Array.from({ length: MESSAGES }, (_, i) =>
  signPublishToken([kanbanMessage(`room-${i % ROOMS}`, { seq: i, phase: 0, t: 0 })], KEY),
)
const config = loadConfig({
  values: {
    nodejs_server_jwt_private_key: KEY,
    log_level: 'warn',
    publish_rate_per_minute: 1_000_000_000,
  },
})
// Every message stays: more history per room than messages per room, no expiry.
const broker = new MemoryBroker({ historySize: MESSAGES, historyTtlMs: 3_600_000 })
let frameBytes = 0
for (let r = 0; r < ROOMS; r++) {
  await broker.subscribe(`room-${r}`, (m) => {
    frameBytes += messageFrame(m).length
  })
}
const app = await buildApp(config, { tls: null, broker })
await app.ready()

const before = await settled()
for (const payload of tokens) {
  const answer = await app.inject({
    method: 'POST',
    url: '/message',
    headers: { 'content-type': 'application/jwt', host: 'localhost' },
    payload,
  })
  if (answer.statusCode !== 200) throw new Error(`${answer.statusCode}: ${answer.body}`)
}
const after = await settled()

const per = (bytes: number): string => `${(bytes / MESSAGES).toFixed(0)} B`
console.log(`${MESSAGES} messages kept in ${ROOMS} rooms, Node ${process.version}; per message:`)
console.log(`  counted by history_max_bytes   ${per(broker.historyStats().bytes)}`)
console.log(`  its message frame              ${per(frameBytes)}`)
console.log(`  JS heap kept                   ${per(after.heapUsed - before.heapUsed)}`)
console.log(`  ArrayBuffer memory kept        ${per(after.arrayBuffers - before.arrayBuffers)}`)
console.log(`  JS heap reserved grown         ${per(after.heapTotal - before.heapTotal)}`)
console.log(`  resident memory (RSS) grown    ${per(after.rss - before.rss)}`)
await app.close()
await broker.close()

import { readFileSync } from 'node:fs'
import type { Config } from '../config.js'
import type { Logger } from '../log.js'
import type { Broker } from './broker.js'
import { MemoryBroker } from './memory-broker.js'
import { RedisBroker, redactUrl } from './redis-broker.js'

/** The broker could not be made ready at start: the relay must not serve (exit 1). */
export class BrokerStartError extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'BrokerStartError'
  }
}

/**
 * The broker the config asks for. `memory`: at once. `redis`: once Redis answers, within
 * `broker.connect_timeout_ms`, else a BrokerStartError that says what to do; with
 * `broker.wait_for_redis` at once, not ready until Redis answers.
 */
export async function createBroker(config: Config, logger: Logger): Promise<Broker> {
  const onListenerError = (err: unknown): void => {
    logger.error({ err }, 'room listener failed')
  }
  const limits = { historySize: config.history_size, historyTtlMs: config.history_ttl_s * 1000 }
  if (config.broker.type === 'memory') {
    return new MemoryBroker({
      ...limits,
      maxRooms: config.max_rooms,
      historyMaxBytes: config.history_max_bytes,
      onListenerError,
    })
  }
  const log = logger.child({ broker: 'redis' })
  const { tls_ca_file: ca, tls_cert_file: cert, tls_key_file: key } = config.broker
  let tls: { ca?: Buffer; cert?: Buffer; key?: Buffer }
  try {
    tls = {
      ...(ca ? { ca: readFileSync(ca) } : {}),
      ...(cert ? { cert: readFileSync(cert) } : {}),
      ...(key ? { key: readFileSync(key) } : {}),
    }
  } catch (err) {
    throw new BrokerStartError(`broker.tls_*_file: ${(err as Error).message}`)
  }
  const broker = new RedisBroker({
    ...limits,
    url: config.broker.url,
    sentinels: config.broker.sentinels,
    sentinelName: config.broker.sentinel_name,
    tls,
    minReplicasAck: config.broker.min_replicas_ack,
    keyPrefix: config.broker.key_prefix,
    connectTimeoutMs: config.broker.connect_timeout_ms,
    log,
    onListenerError,
  })
  if (config.broker.wait_for_redis) {
    log.info(
      { url: redactUrl(config.broker.url) },
      'connecting to Redis; not ready until it answers',
    )
    return broker
  }
  try {
    await broker.whenReady(config.broker.connect_timeout_ms)
  } catch (err) {
    await broker.close()
    throw new BrokerStartError(
      `broker.url: ${(err as Error).message}; start Redis, correct broker.url, or set broker.wait_for_redis to true to start without it`,
    )
  }
  return broker
}

import { Redis, type RedisOptions } from 'ioredis'
import { RelayError } from '../errors.js'
import {
  CLAIM_JTI_SCRIPT,
  HISTORY_SCRIPT,
  PRESENCE_SCRIPT,
  PUBLISH_SCRIPT,
} from './redis-scripts.js'

/** Where the Redis broker reports connection changes (a pino logger fits). */
export interface BrokerLog {
  info(obj: object, msg: string): void
  warn(obj: object, msg: string): void
  error(obj: object, msg: string): void
}

/** A script as ioredis defines it: numkeys, then the keys, then the arguments. */
export type Script = (numKeys: number, ...args: (string | number)[]) => Promise<unknown>

/** The broker's scripts (redis-scripts.ts), bound to the command connection. */
export interface Scripts {
  readonly publishBatch: Script
  readonly roomHistory: Script
  readonly claimJti: Script
  readonly presenceSync: Script
}

/** Commands that get no answer within this are failed (a hung Redis is an unavailable one). */
export const COMMAND_TIMEOUT_MS = 5000

/** Where the master is and how to reach it: the URL, or the sentinels that know it. */
export interface RedisTarget {
  /** redis:// or rediss:// URL; with sentinels, only its credentials, TLS and db count. */
  readonly url: string
  /** `host:port` of each sentinel; empty: connect to the URL's host. */
  readonly sentinels?: readonly string[]
  /** The master name the sentinels monitor. */
  readonly sentinelName?: string
  /** For rediss://: the CA to trust, and a client certificate and key (PEM). */
  readonly tls?: { readonly ca?: Buffer; readonly cert?: Buffer; readonly key?: Buffer }
}

/**
 * The ioredis options of a target. Sentinels get the same credentials and TLS as Redis;
 * ioredis asks them for the master on each (re)connect. A master that was demoted without
 * dropping its clients answers READONLY: the connection is dropped (the command fails, 503)
 * and re-established on the master the sentinels name. (ioredis' failoverDetector is not
 * used: its reconnect on +switch-master dropped connections already on the new master.)
 */
export function targetOptions(target: RedisTarget): RedisOptions {
  const url = new URL(target.url)
  const tls =
    url.protocol === 'rediss:'
      ? {
          ...(target.tls?.ca ? { ca: target.tls.ca } : {}),
          ...(target.tls?.cert ? { cert: target.tls.cert } : {}),
          ...(target.tls?.key ? { key: target.tls.key } : {}),
        }
      : undefined
  const sentinels = target.sentinels ?? []
  if (sentinels.length === 0) return tls ? { tls } : {}
  const username = decodeURIComponent(url.username)
  const password = decodeURIComponent(url.password)
  return {
    sentinels: sentinels.map((s) => {
      const sep = s.lastIndexOf(':')
      return { host: s.slice(0, sep).replace(/^\[|\]$/g, ''), port: Number(s.slice(sep + 1)) }
    }),
    name: target.sentinelName ?? 'mymaster',
    ...(username ? { sentinelUsername: username } : {}),
    ...(password ? { sentinelPassword: password } : {}),
    ...(tls ? { tls, sentinelTLS: tls, enableTLSForSentinelMode: true } : {}),
    sentinelRetryStrategy: (attempt: number) => reconnectDelay(attempt),
  }
}

/** Reconnect delay: exponential from 50 ms, capped at 2 s, with jitter. */
export function reconnectDelay(attempt: number): number {
  return Math.min(50 * 2 ** Math.min(attempt, 6), 2000) + Math.floor(Math.random() * 100)
}

/** The URL with its password masked, for messages and logs. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url)
    if (u.password !== '') u.password = '***'
    return u.toString()
  } catch {
    return '(unparseable URL)'
  }
}

/** Any failure to reach Redis, as the error the publish route answers 503 with. */
export function unavailable(err: unknown): RelayError {
  if (err instanceof RelayError) return err
  return new RelayError(
    'RELAY_ERR_BROKER_UNAVAILABLE',
    `the broker is not available: ${(err as Error | null | undefined)?.message ?? 'Redis is unreachable'}`,
  )
}

/**
 * The two connections of a node: commands (the scripts) and pub/sub. Both reconnect with
 * backoff until `stopped()`; neither queues a command while disconnected nor re-sends one
 * after a reconnect (a re-sent publish script would publish twice): commands fail at once.
 * Channels are re-subscribed by the broker, not by ioredis, so that it knows when.
 */
export function openConnections(
  target: RedisTarget,
  connectTimeoutMs: number,
  stopped: () => boolean,
): { cmd: Redis; sub: Redis; scripts: Scripts } {
  const url = target.url
  const common: RedisOptions = {
    ...targetOptions(target),
    connectTimeout: connectTimeoutMs,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    autoResendUnfulfilledCommands: false,
    autoResubscribe: false,
    retryStrategy: (attempt) => (stopped() ? null : reconnectDelay(attempt)),
    // 1: reconnect, never re-send (a re-sent publish script would publish twice).
    reconnectOnError: (err) => (err.message.startsWith('READONLY') ? 1 : false),
  }
  const cmd = new Redis(url, {
    ...common,
    commandTimeout: COMMAND_TIMEOUT_MS,
    connectionName: 'tuleap-realtime',
    scripts: {
      publishBatch: { lua: PUBLISH_SCRIPT },
      roomHistory: { lua: HISTORY_SCRIPT },
      claimJti: { lua: CLAIM_JTI_SCRIPT },
      presenceSync: { lua: PRESENCE_SCRIPT },
    },
  })
  const defined = cmd as unknown as Scripts
  const scripts: Scripts = {
    publishBatch: defined.publishBatch.bind(cmd),
    roomHistory: defined.roomHistory.bind(cmd),
    claimJti: defined.claimJti.bind(cmd),
    presenceSync: defined.presenceSync.bind(cmd),
  }
  const sub = new Redis(url, { ...common, connectionName: 'tuleap-realtime-sub' })
  return { cmd, sub, scripts }
}

/** Close a connection: QUIT when connected (bounded to 1 s), else drop it. */
export async function quit(conn: Redis): Promise<void> {
  if (conn.status !== 'ready') {
    conn.disconnect()
    return
  }
  let timer: NodeJS.Timeout | undefined
  await Promise.race([
    conn.quit().catch(() => undefined),
    new Promise<void>((resolve) => {
      timer = setTimeout(resolve, 1000)
    }),
  ])
  clearTimeout(timer)
  conn.disconnect()
}

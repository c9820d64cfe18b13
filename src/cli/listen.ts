import { WebSocket } from 'ws'
import { signSubscriberToken } from '../auth/sign.js'
import { RealtimeClient } from '../client/index.js'
import type { WebSocketConstructor } from '../client/index.js'
import {
  commandConfig,
  defaultUrl,
  EXIT,
  parseDuration,
  CONNECTION_OPTIONS,
  parseOptions,
  stringOptions,
  parseResolve,
  UsageError,
  type Command,
} from './command.js'
import { trustFor } from './tls-trust.js'

/**
 * `listen`: subscribe to a room and print each frame as a JSON line, through the same
 * client library browsers use, so it reconnects and resumes with `since` by itself.
 */
export const listen: Command = {
  name: 'listen',
  summary: 'subscribe to a room and print each message as a JSON line',
  usage: `Usage: tuleap-realtime listen --room=ID [--token=JWT | --user=ID --rights=@a,@b]
         [--presence] [--count=N] [--url=wss://host:port] [--config=PATH] [--ca=FILE] [--insecure]
         [--resolve=HOST:ADDRESS]

Subscribes to room ID and prints every message (and presence/resync event) as one JSON
line on stdout, until interrupted or --count messages have arrived. Reconnects and
resumes from the last message seen. Without --token, signs a subscriber token for
--user (default 0) with --rights (default @site_active) using the config's key (or
PRIVATE_KEY); with --token, no key is needed. --url may name the relay by the host name
its certificate carries; --ca=FILE adds a CA to trust; --resolve=HOST:ADDRESS connects to
ADDRESS for HOST (e.g. the certificate's name on this host: --resolve=NAME:127.0.0.1).`,
  async run(args, io) {
    const values = parseOptions(args, {
      ...stringOptions('room', 'token', 'user', 'rights', 'ttl', 'count'),
      presence: { type: 'boolean' },
      ...CONNECTION_OPTIONS,
    })
    if (values.room === undefined) throw new UsageError('--room is required')
    const count = values.count === undefined ? Infinity : Number(values.count)
    if (!(count > 0)) throw new UsageError('--count must be a positive integer')
    // A given token needs no key: the relay checks it.
    const { config } = commandConfig(values.config, io, { needsKey: values.token === undefined })
    const given = values.token
    const user = Number(values.user ?? '0')
    const rights = (values.rights ?? '@site_active').split(',').filter((r) => r !== '')
    const ttl = parseDuration(values.ttl ?? '30m')
    const getToken = (): string =>
      given ?? signSubscriberToken(user, rights, ttl, config.nodejs_server_jwt_private_key)
    const trust = trustFor(
      config,
      values.ca,
      values.insecure === true,
      parseResolve(values.resolve),
    )
    // ws, with this command's TLS trust, behind the browser constructor's signature.
    // ws reports a refused connection or an untrusted certificate as an 'error' event,
    // which would crash the process without a listener; the close that follows makes the
    // client reconnect with backoff.
    const NodeWebSocket = class extends WebSocket {
      constructor(url: string) {
        super(url, trust)
        this.on('error', (err) => {
          io.err(`listen: ${err.message}`)
        })
      }
    } as unknown as WebSocketConstructor

    const base = values.url ?? defaultUrl(config).replace(/^http/, 'ws')
    const client = new RealtimeClient({
      url: new URL('/ws', base).href,
      getToken,
      WebSocket: NodeWebSocket,
    })
    let received = 0
    return new Promise<number>((resolve) => {
      const finish = (code: number): void => {
        client.close()
        resolve(code)
      }
      client.on('error', (e) => {
        io.err(
          `listen: ${e.code}${e.room_id === undefined ? '' : ` (room ${e.room_id})`}: ${e.message}`,
        )
        if (e.code === 'Closed') finish(EXIT.FAILURE)
      })
      client.subscribe(values.room ?? '', {
        presence: values.presence === true,
        onMessage(m) {
          io.out(JSON.stringify(m))
          received += 1
          if (received >= count) finish(EXIT.OK)
        },
        onPresence(p) {
          io.out(JSON.stringify(p))
        },
        onResync(r) {
          io.out(JSON.stringify({ type: 'resync', ...r }))
        },
      })
      process.once('SIGINT', () => {
        finish(EXIT.OK)
      })
    })
  },
}

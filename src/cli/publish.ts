import { request as httpRequest } from 'node:http'
import { request as httpsRequest } from 'node:https'
import { signPublishToken } from '../auth/sign.js'
import {
  commandConfig,
  defaultUrl,
  EXIT,
  CONNECTION_OPTIONS,
  parseOptions,
  stringOptions,
  parseResolve,
  UsageError,
  type Command,
} from './command.js'
import { trustFor, type TrustOptions } from './tls-trust.js'

function parseJson(flag: string, text: string | undefined): unknown {
  if (text === undefined) return undefined
  try {
    return JSON.parse(text) as unknown
  } catch {
    throw new UsageError(`--${flag} must be JSON: ${text}`)
  }
}

/** POST `body` to `url`; resolves with status and text. */
export function post(
  url: URL,
  body: string,
  trust: TrustOptions,
): Promise<{ status: number; text: string }> {
  const send = url.protocol === 'https:' ? httpsRequest : httpRequest
  return new Promise((resolve, reject) => {
    const req = send(
      url,
      {
        method: 'POST',
        headers: { 'content-type': 'application/jwt', 'content-length': Buffer.byteLength(body) },
        ...trust,
        timeout: 10_000,
      },
      (res) => {
        const chunks: Buffer[] = []
        res.on('data', (c: Buffer) => chunks.push(c))
        res.on('end', () => {
          resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') })
        })
      },
    )
    req.on('timeout', () => req.destroy(new Error('no answer within 10 s')))
    req.on('error', reject)
    req.end(body)
  })
}

/** `publish`: sign one message with the configured key and POST it, like a backend. */
export const publish: Command = {
  name: 'publish',
  summary: 'sign a message with the configured key and POST it to /message',
  usage: `Usage: tuleap-realtime publish --room=ID --cmd=CMD [--data=JSON] [--rights=JSON]
         [--sender-user-id=N] [--sender-uuid=UUID] [--jti=ID]
         [--url=https://host:port] [--config=PATH] [--ca=FILE] [--insecure]
         [--resolve=HOST:ADDRESS]

Signs a publish token (docs/protocol.md §1.2) with the key of the config and posts it to
URL/message (default: the config's port on localhost). The key comes from the config or
from PRIVATE_KEY. --url may name the relay by the host name its certificate carries;
--ca=FILE adds a CA to trust; --resolve=HOST:ADDRESS connects to ADDRESS for HOST.
Prints the relay's JSON answer; exit 0 when it is accepted (200), 1 otherwise.`,
  async run(args, io) {
    const values = parseOptions(args, {
      ...stringOptions('room', 'cmd', 'data', 'rights', 'sender-user-id', 'sender-uuid', 'jti'),
      ...CONNECTION_OPTIONS,
    })
    if (values.room === undefined || values.cmd === undefined) {
      throw new UsageError('--room and --cmd are required')
    }
    const message: Record<string, unknown> = { room_id: values.room, cmd: values.cmd }
    const data = parseJson('data', values.data)
    if (data !== undefined) message.data = data
    const rights = parseJson('rights', values.rights)
    if (rights !== undefined) message.rights = rights
    if (values['sender-user-id'] !== undefined)
      message.sender_user_id = Number(values['sender-user-id'])
    if (values['sender-uuid'] !== undefined) message.sender_uuid = values['sender-uuid']
    const { config } = commandConfig(values.config, io)
    const url = new URL('/message', values.url ?? defaultUrl(config))
    const body = signPublishToken([message], config.nodejs_server_jwt_private_key, {
      ...(values.jti !== undefined ? { jti: values.jti } : {}),
    })
    const trust = trustFor(
      config,
      values.ca,
      values.insecure === true,
      parseResolve(values.resolve),
    )
    const answer = await post(url, body, trust)
    if (answer.status === 200) {
      io.out(answer.text)
      return EXIT.OK
    }
    io.err(`publish: ${url.href} answered ${answer.status}: ${answer.text}`)
    return EXIT.FAILURE
  },
}

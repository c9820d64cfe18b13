import { request as httpRequest } from 'node:http'
import { request as httpsRequest } from 'node:https'
import {
  commandConfig,
  EXIT,
  parseDuration,
  parseOptions,
  stringOptions,
  type Command,
} from './command.js'
import type { Config } from '../config.js'

/**
 * The URL the relay answers on from inside its own host or container: loopback (IPv4 when
 * it listens on every interface, which also covers a container without IPv6), its port,
 * https unless tls is false.
 */
export function healthUrl(config: Config): URL {
  const host =
    config.address === '::' || config.address === '0.0.0.0'
      ? '127.0.0.1'
      : config.address.includes(':')
        ? `[${config.address}]`
        : config.address
  return new URL('/health', `${config.tls ? 'https' : 'http'}://${host}:${config.port}`)
}

/** GET `url`; resolves with the status code, rejects on a connection error or timeout. */
export function getStatus(url: URL, timeoutMs: number): Promise<number> {
  const get = url.protocol === 'https:' ? httpsRequest : httpRequest
  return new Promise((resolve, reject) => {
    // A liveness probe of our own process on loopback, sending no secret: the certificate
    // names the public host, not 127.0.0.1, so it is not verified here.
    const req = get(
      url,
      { method: 'GET', rejectUnauthorized: false, timeout: timeoutMs },
      (res) => {
        res.resume()
        res.on('end', () => {
          resolve(res.statusCode ?? 0)
        })
      },
    )
    req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)))
    req.on('error', reject)
    req.end()
  })
}

/**
 * `health`: exit 0 when the relay's GET /health answers 200, else 1 with one line; what a
 * container's HEALTHCHECK runs (the image has neither curl nor wget).
 */
export const health: Command = {
  name: 'health',
  summary: 'exit 0 when the running relay answers GET /health with 200 (container health check)',
  usage: `Usage: tuleap-realtime health [--url=http://127.0.0.1:8080] [--timeout=5s] [--config=PATH]

GETs /health of the relay on this host, at the configured port, over https unless tls is
false (configuration: --config, else the environment, else /etc/tuleap-realtime/config.json).
The certificate is not verified: the probe sends nothing secret. Exit 0 on 200, 1 otherwise.`,
  async run(args, io) {
    const values = parseOptions(args, stringOptions('url', 'timeout', 'config'))
    const timeoutMs = parseDuration(values.timeout ?? '5s') * 1000
    const url =
      values.url !== undefined
        ? new URL('/health', values.url)
        : healthUrl(commandConfig(values.config, io).config)
    let status: number
    try {
      status = await getStatus(url, timeoutMs)
    } catch (err) {
      io.err(`health: ${url.href}: ${(err as Error).message}`)
      return EXIT.FAILURE
    }
    if (status !== 200) {
      io.err(`health: ${url.href} answered ${status}`)
      return EXIT.FAILURE
    }
    io.out(`health: ${url.href} ok`)
    return EXIT.OK
  },
}

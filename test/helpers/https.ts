/** HTTPS requests to a relay on loopback, trusting only the given CA; its served certificate. */
import { request } from 'node:https'
import { connect as tlsConnect } from 'node:tls'
import { WAIT_MS } from './process.js'

/** An HTTP answer: `body` is the parsed JSON, `{}` when the text is not JSON. */
export interface HttpAnswer {
  readonly status: number
  readonly headers: Record<string, unknown>
  readonly body: Record<string, unknown>
  readonly text: string
}

/** One request to 127.0.0.1:`port`, no agent, rejected after WAIT_MS without an answer. */
export function httpsRequest(
  port: number,
  method: string,
  path: string,
  options: { ca: Buffer; body?: string | Buffer; headers?: Record<string, string> },
): Promise<HttpAnswer> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        path,
        method,
        ca: options.ca,
        headers: options.headers ?? {},
        agent: false,
        timeout: WAIT_MS,
      },
      (res) => {
        const chunks: Buffer[] = []
        res.on('data', (c: Buffer) => chunks.push(c))
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8')
          let body: Record<string, unknown> = {}
          try {
            body = JSON.parse(text) as Record<string, unknown>
          } catch {
            // not JSON: tests look at text
          }
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body, text })
        })
      },
    )
    req.on('timeout', () =>
      req.destroy(new Error(`${method} ${path}: no answer within ${WAIT_MS} ms`)),
    )
    req.on('error', reject)
    req.end(options.body)
  })
}

/** GET `path` on 127.0.0.1:`port`, trusting only `ca`. */
export const httpsGet = (port: number, path: string, ca: Buffer): Promise<HttpAnswer> =>
  httpsRequest(port, 'GET', path, { ca })

/** The SHA-256 fingerprint of the certificate a fresh TLS handshake gets on `port`. */
export function servedFingerprint(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = tlsConnect({ host: '127.0.0.1', port, rejectUnauthorized: false }, () => {
      resolve(socket.getPeerCertificate().fingerprint256)
      socket.end()
    })
    socket.setTimeout(WAIT_MS, () => socket.destroy(new Error('TLS handshake timed out')))
    socket.on('error', reject)
  })
}

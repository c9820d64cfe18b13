import { BlockList, isIP } from 'node:net'
import type { IncomingMessage } from 'node:http'
import type { FastifyInstance } from 'fastify'

/**
 * Which peers are trusted reverse proxies (config `trusted_proxies`: addresses and
 * CIDRs). Given to fastify as `trustProxy`: from a trusted peer, `request.ip` is the
 * nearest untrusted hop of X-Forwarded-For, walking from the right, so a client cannot
 * choose its own address by sending the header itself.
 */
export type ProxyTrust = (address: string) => boolean

/** IPv4-mapped IPv6 (::ffff:192.0.2.1, how a "::" listener sees IPv4 peers) as plain IPv4. */
export function plainAddress(address: string): string {
  const lower = address.toLowerCase()
  if (lower.startsWith('::ffff:') && isIP(lower.slice(7)) === 4) return lower.slice(7)
  return address
}

/** Split "ADDRESS" or "ADDRESS/PREFIX"; null when it is neither. */
function parseEntry(entry: string): { address: string; prefix: number; family: 4 | 6 } | null {
  const [address = '', prefixText, extra] = entry.trim().split('/')
  if (extra !== undefined) return null
  const family = isIP(address)
  if (family !== 4 && family !== 6) return null
  const max = family === 4 ? 32 : 128
  if (prefixText === undefined) return { address, prefix: max, family }
  if (!/^\d{1,3}$/.test(prefixText) || Number(prefixText) > max) return null
  return { address, prefix: Number(prefixText), family }
}

/** The reason `entry` is not an address or CIDR, or null when it is one. */
export function proxyEntryProblem(entry: unknown): string | null {
  if (typeof entry !== 'string' || parseEntry(entry) === null) {
    return `${JSON.stringify(entry)} is not an IP address or CIDR (e.g. "127.0.0.1", "10.0.0.0/8", "::1")`
  }
  return null
}

/** The trust function of `entries` (already validated), or null when the list is empty. */
export function createProxyTrust(entries: readonly string[]): ProxyTrust | null {
  if (entries.length === 0) return null
  const list = new BlockList()
  for (const entry of entries) {
    const parsed = parseEntry(entry)
    if (!parsed) throw new Error(proxyEntryProblem(entry) ?? entry)
    const type = parsed.family === 4 ? 'ipv4' : 'ipv6'
    list.addSubnet(plainAddress(parsed.address), parsed.prefix, type)
  }
  return (address) => {
    const plain = plainAddress(address)
    const family = isIP(plain)
    if (family === 0) return false
    return list.check(plain, family === 4 ? 'ipv4' : 'ipv6')
  }
}

/** One `for=` value of RFC 7239 without quotes, brackets or port ("unknown" when absent). */
function forValue(element: string): string {
  for (const pair of element.split(';')) {
    const eq = pair.indexOf('=')
    if (eq < 0 || pair.slice(0, eq).trim().toLowerCase() !== 'for') continue
    let value = pair.slice(eq + 1).trim()
    if (value.startsWith('"') && value.endsWith('"') && value.length >= 2) {
      value = value.slice(1, -1)
    }
    const bracketed = /^\[([^\]]+)\](?::\d+)?$/.exec(value)
    if (bracketed) return bracketed[1] ?? 'unknown'
    const v4port = /^(\d{1,3}(?:\.\d{1,3}){3}):\d+$/.exec(value)
    if (v4port) return v4port[1] ?? 'unknown'
    return value === '' ? 'unknown' : value
  }
  return 'unknown'
}

/**
 * The hops of a `Forwarded` header (RFC 7239), nearest last, in X-Forwarded-For's form.
 * Quoted commas do not occur in `for=` values (addresses, "unknown", "_obfuscated").
 */
export function forwardedFor(header: string): string[] {
  return header.split(',').map(forValue)
}

/**
 * Let fastify's X-Forwarded-For logic serve `Forwarded` too: from a trusted peer that
 * sent `Forwarded` but no X-Forwarded-For, copy its `for=` hops into X-Forwarded-For
 * before anything reads `request.ip`. X-Forwarded-For wins when both are present: it is
 * the header the documented nginx and Apache configurations append to, and a header a
 * proxy only passes through is whatever the client wrote. Register it before any other
 * onRequest hook (rate limiting reads `request.ip`).
 */
export function forwardedHeaderHook(app: FastifyInstance, trust: ProxyTrust): void {
  app.addHook('onRequest', (request, _reply, done) => {
    const headers = request.raw.headers
    const forwarded = headers.forwarded
    if (
      forwarded !== undefined &&
      headers['x-forwarded-for'] === undefined &&
      trust(request.socket.remoteAddress ?? '')
    ) {
      headers['x-forwarded-for'] = forwardedFor(forwarded).join(', ')
    }
    done()
  })
}

/**
 * The client address of a raw request that fastify does not route (socket.io's): what
 * `request.ip` gives for a routed one. Walking from the TCP peer through X-Forwarded-For
 * (or, without it, `Forwarded`) from the right, the first address `trust` does not
 * vouch for; the leftmost hop when all are trusted. Without `trust`: the peer.
 */
export function clientAddress(request: IncomingMessage, trust: ProxyTrust | null): string {
  const peer = request.socket.remoteAddress ?? ''
  if (!trust || !trust(peer)) return plainAddress(peer)
  const xff = request.headers['x-forwarded-for']
  const forwarded = request.headers.forwarded
  const hops =
    typeof xff === 'string'
      ? xff.split(',').map((h) => h.trim())
      : forwarded !== undefined
        ? forwardedFor(forwarded)
        : []
  let address = peer
  for (let i = hops.length - 1; i >= 0; i--) {
    address = hops[i] ?? ''
    if (!trust(address)) break
  }
  return plainAddress(address)
}

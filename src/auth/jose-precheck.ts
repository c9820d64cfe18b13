/**
 * Structural checks on a compact JWS, run before any cryptography: exactly three
 * canonical base64url segments, a JSON-object header with `alg` exactly HS512 and none
 * of the headers that delegate trust, JSON-object payload, no duplicate keys anywhere.
 * Every failure is returned as a reason string; nothing here throws on input.
 */

/** Headers that would let the token choose its own key or its own rules. */
const FORBIDDEN_HEADERS = ['crit', 'jku', 'jwk', 'x5u', 'x5c'] as const
const BASE64URL = /^[A-Za-z0-9_-]+$/

/** A token that passed the structural checks: its payload as parsed JSON. */
export interface PrecheckedToken {
  readonly payload: Record<string, unknown>
}

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'

/**
 * Whether `segment` is the one base64url spelling of its bytes (RFC 7515 §2: no padding).
 * Other spellings decode to the same bytes (a length of 4n+1, stray low bits in the last
 * character) and must be refused. Decided from the length and the last character alone:
 * the same answer as decoding and encoding again, without allocating either.
 */
export function isCanonicalBase64url(segment: string): boolean {
  if (!BASE64URL.test(segment)) return false
  const tail = segment.length % 4
  if (tail === 0) return true
  if (tail === 1) return false
  // The last character carries 2 (tail 2) or 4 (tail 3) bits of the last byte; the rest must be 0.
  const last = ALPHABET.indexOf(segment.charAt(segment.length - 1))
  return (last & (tail === 2 ? 0x0f : 0x03)) === 0
}

function decodeSegment(segment: string): string | null {
  if (!isCanonicalBase64url(segment)) return null
  return Buffer.from(segment, 'base64url').toString('utf8')
}

function parseObject(text: string): Record<string, unknown> | null {
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch {
    return null
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return null
  return value as Record<string, unknown>
}

/** Check the shape of `token`; returns the parsed payload or the reason it is refused. */
export function precheckToken(token: string): PrecheckedToken | string {
  const parts = token.split('.')
  if (parts.length === 5) return 'encrypted tokens (JWE) are not accepted'
  if (parts.length !== 3) return 'not a compact JWS (three dot-separated segments)'
  const [headerPart = '', payloadPart = '', signaturePart = ''] = parts
  if (signaturePart === '') return 'missing signature'
  if (!isCanonicalBase64url(signaturePart)) return 'signature is not canonical base64url'
  const headerText = decodeSegment(headerPart)
  const payloadText = decodeSegment(payloadPart)
  if (headerText === null || payloadText === null) return 'segment is not canonical base64url'
  const header = parseObject(headerText)
  if (header === null) return 'header is not a JSON object'
  if (header.alg !== 'HS512') return 'alg must be HS512'
  for (const name of FORBIDDEN_HEADERS) {
    if (name in header) return `header "${name}" is not accepted`
  }
  if (hasDuplicateKeys(headerText, header)) return 'duplicate keys in header'
  const payload = parseObject(payloadText)
  if (payload === null) return 'payload is not a JSON object'
  if (hasDuplicateKeys(payloadText, payload)) return 'duplicate keys in payload'
  return { payload }
}

function skipWhitespace(text: string, from: number): number {
  let i = from
  while (i < text.length) {
    const c = text.charCodeAt(i)
    if (c !== 0x20 && c !== 0x0a && c !== 0x0d && c !== 0x09) break
    i++
  }
  return i
}

/** Index of the quote that closes the string opened at `open`, or -1 if none does. */
function closingQuote(text: string, open: number): number {
  for (let j = text.indexOf('"', open + 1); j !== -1; j = text.indexOf('"', j + 1)) {
    let backslashes = 0
    while (text.charCodeAt(j - 1 - backslashes) === 0x5c) backslashes++
    if (backslashes % 2 === 0) return j
  }
  return -1
}

/**
 * How many keys `text` spells out: in valid JSON, exactly the strings followed by a colon.
 * -1, which no parsed value has, for a string that is never closed.
 */
function keysInText(text: string): number {
  let keys = 0
  // Outside a string, a quote can only open one.
  for (let open = text.indexOf('"'); open !== -1;) {
    const close = closingQuote(text, open)
    if (close === -1) return -1
    if (text.charCodeAt(skipWhitespace(text, close + 1)) === 0x3a) keys++
    open = text.indexOf('"', close + 1)
  }
  return keys
}

/** How many own keys the objects in `value` have, all levels together (no recursion). */
function keysInValue(value: unknown): number {
  let keys = 0
  const todo: unknown[] = [value]
  for (let v = todo.pop(); v !== undefined; v = todo.pop()) {
    if (typeof v !== 'object' || v === null) continue
    const children: unknown[] = Array.isArray(v) ? v : Object.values(v)
    if (!Array.isArray(v)) keys += children.length
    for (const child of children) if (typeof child === 'object' && child !== null) todo.push(child)
  }
  return keys
}

/**
 * True when some JSON object in `text` repeats a key. JSON.parse keeps the last of
 * duplicate keys silently, which lets two parsers disagree. `text` must be valid JSON and
 * `parsed` what JSON.parse made of it (by default, parsed here); given a text that is not
 * JSON with a `parsed`, the answer is still true or false: it never loops.
 * Every key `parsed` holds is one that `text` spells out, and a repeated key (with
 * whatever its discarded value held) is missing from `parsed`: the counts are equal
 * exactly when no key repeats. No key is decoded or stored.
 */
export function hasDuplicateKeys(text: string, parsed: unknown = JSON.parse(text)): boolean {
  return keysInText(text) !== keysInValue(parsed)
}

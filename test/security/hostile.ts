/**
 * Shared material of the security suite: the hostile tokens both token tests send (one
 * list, so the publish side and the subscriber side are attacked the same way), raw
 * WebSocket frames, and bounded waits.
 */
import { createHmac, generateKeyPairSync, sign } from 'node:crypto'
import { TEST_KEY } from '../helpers/config.js'
import type { Frame, TestClient } from '../helpers/relay.js'
import { nowS } from '../helpers/tokens.js'

/** Another valid-looking key: right length, wrong bytes. */
export const WRONG_KEY = 'wrong-key-0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcd'

/** base64url of a text, exactly as a JWS segment carries it. */
export const seg = (text: string): string => Buffer.from(text).toString('base64url')

/** base64url of a JSON value. */
export const segJson = (value: unknown): string => seg(JSON.stringify(value))

/** Sign raw header and payload texts (so that tests control every byte) with an HMAC. */
export function hmacText(
  headerText: string,
  payloadText: string,
  key: string = TEST_KEY,
  hash = 'sha512',
): string {
  const input = `${seg(headerText)}.${seg(payloadText)}`
  return `${input}.${createHmac(hash, key).update(input).digest('base64url')}`
}

/** Sign already-encoded segments with HS512 and the test key. */
export function hmacSegments(headerSeg: string, payloadSeg: string, key = TEST_KEY): string {
  const input = `${headerSeg}.${payloadSeg}`
  return `${input}.${createHmac('sha512', key).update(input).digest('base64url')}`
}

const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 })
const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' })
/** An RSA public key as PEM text: the secret of the classic RS → HS confusion attack. */
export const RSA_PUBLIC_PEM = rsa.publicKey.export({ type: 'spki', format: 'pem' }).toString()

/** An RS256 token signed with a fresh RSA key. */
export function rs256(payload: unknown): string {
  const input = `${segJson({ alg: 'RS256', typ: 'JWT' })}.${segJson(payload)}`
  return `${input}.${sign('sha256', Buffer.from(input), rsa.privateKey).toString('base64url')}`
}

/** An ES256 token (JOSE signature encoding) signed with a fresh P-256 key. */
export function es256(payload: unknown): string {
  const input = `${segJson({ alg: 'ES256', typ: 'JWT' })}.${segJson(payload)}`
  const signature = sign('sha256', Buffer.from(input), {
    key: ec.privateKey,
    dsaEncoding: 'ieee-p1363',
  })
  return `${input}.${signature.toString('base64url')}`
}

/**
 * The same bytes as `segment` in a non-canonical spelling: the last character differs
 * only in the padding bits that decoders ignore. `segment` must not be a multiple of 4
 * characters long (it then has such bits).
 */
export function nonCanonical(segment: string): string {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'
  if (segment.length % 4 === 0) throw new Error('segment has no padding bits')
  const last = alphabet.indexOf(segment.slice(-1))
  const twin = `${segment.slice(0, -1)}${alphabet[last ^ 1]!}`
  if (Buffer.from(twin, 'base64url').toString('base64url') !== segment) {
    throw new Error('not a twin spelling')
  }
  return twin
}

/** A JSON text whose base64url has padding bits (length not a multiple of 3 bytes). */
export function withPaddingBits(json: string): string {
  let text = json
  while (Buffer.byteLength(text) % 3 === 0) text = `${text} `
  return text
}

/** How a hostile token must be refused; each side maps it onto its own code. */
export type Refusal = 'invalid' | 'expired' | 'not-yet-valid'

/** One hostile token, the refusal it must get, and the check that must catch it. */
export interface HostileToken {
  readonly name: string
  readonly token: string
  readonly refusal: Refusal
  /** Matches the refusal's human message: proves the intended check caught it. */
  readonly reason: RegExp
}

const HS512 = JSON.stringify({ alg: 'HS512', typ: 'JWT' })
const ALG = /alg must be HS512/
const SHAPE = /three dot-separated segments/
const SIGNATURE = /invalid signature/
const CANONICAL = /canonical base64url/
const EXP = /exp is required and must be a number/
const DUPLICATE = /duplicate keys/
const NOT_OBJECT = /is not a JSON object/

/** A valid HS512 token of `claims` with an exp two minutes away: the control case. */
export function validToken(claims: Record<string, unknown>): string {
  return hmacText(HS512, JSON.stringify({ exp: nowS() + 120, ...claims }))
}

/**
 * Every hostile variant of a valid token whose claims are `claims` (exp is set here).
 * The families: algorithms, signatures, keys, tampering, times,
 * trust-delegating headers, JWE, encodings, duplicate keys, non-object payloads.
 */
export function hostileTokens(claims: Record<string, unknown>): HostileToken[] {
  const valid = { exp: nowS() + 120, ...claims }
  const validText = JSON.stringify(valid)
  const [h = '', p = '', s = ''] = hmacText(HS512, validText).split('.')
  const cases: HostileToken[] = []
  const add = (name: string, token: string, reason: RegExp, refusal: Refusal = 'invalid') => {
    cases.push({ name, token, refusal, reason })
  }
  const signed = (extra: Record<string, unknown>): string =>
    hmacText(HS512, JSON.stringify({ ...valid, ...extra }))

  for (const alg of ['none', 'None', 'NONE', 'nOnE']) {
    add(`alg ${alg}, empty signature`, `${segJson({ alg, typ: 'JWT' })}.${p}.`, /missing signature/)
    add(`alg ${alg}, HS512 signature kept`, `${segJson({ alg, typ: 'JWT' })}.${p}.${s}`, ALG)
  }
  add('no alg at all', hmacText('{"typ":"JWT"}', validText), ALG)
  add('alg hs512 (lowercase)', hmacText('{"alg":"hs512"}', validText), ALG)
  add('alg ["HS512"] (not a string)', hmacText('{"alg":["HS512"]}', validText), ALG)
  add('HS512 header, empty signature', `${h}.${p}.`, /missing signature/)
  add('missing signature segment', `${h}.${p}`, SHAPE)
  const short = createHmac('sha256', TEST_KEY).update(`${h}.${p}`).digest('base64url')
  add('HS256-length signature under an HS512 header', `${h}.${p}.${short}`, SIGNATURE)
  add(
    'HS256 signed with the right key',
    hmacText('{"alg":"HS256"}', validText, TEST_KEY, 'sha256'),
    ALG,
  )
  add(
    'HS384 signed with the right key',
    hmacText('{"alg":"HS384"}', validText, TEST_KEY, 'sha384'),
    ALG,
  )
  add('RS256', rs256(valid), ALG)
  add('ES256', es256(valid), ALG)
  add('HS512 keyed with a PEM public key', hmacText(HS512, validText, RSA_PUBLIC_PEM), SIGNATURE)
  add(
    'HS256 keyed with a PEM public key',
    hmacText('{"alg":"HS256"}', validText, RSA_PUBLIC_PEM, 'sha256'),
    ALG,
  )
  add('wrong key', hmacText(HS512, validText, WRONG_KEY), SIGNATURE)
  add(
    'tampered payload, original signature',
    `${h}.${segJson({ ...valid, tampered: true })}.${s}`,
    SIGNATURE,
  )
  add('signature of another token', `${h}.${p}.${hmacText(HS512, '{}').split('.')[2]!}`, SIGNATURE)
  add('altered signature', `${h}.${p}.${s.startsWith('A') ? 'B' : 'A'}${s.slice(1)}`, SIGNATURE)
  add('expired an hour ago', signed({ exp: nowS() - 3600 }), /expired/, 'expired')
  add('nbf in the future', signed({ nbf: nowS() + 100 }), /nbf/, 'not-yet-valid')
  const noExp: Record<string, unknown> = { ...valid }
  delete noExp.exp
  add('missing exp', hmacText(HS512, JSON.stringify(noExp)), EXP)
  for (const exp of [String(valid.exp), null, true, [valid.exp], { n: valid.exp }]) {
    add(`exp ${JSON.stringify(exp)}`, signed({ exp }), EXP)
  }
  add('nbf "0" (not a number)', signed({ nbf: '0' }), /nbf must be a number/)
  const delegating: Record<string, unknown> = {
    crit: ['exp'],
    jku: 'https://attacker.example/keys.json',
    jwk: { kty: 'oct', k: seg(TEST_KEY) },
    x5u: 'https://attacker.example/cert.pem',
    x5c: ['MIIB'],
  }
  for (const [header, value] of Object.entries(delegating)) {
    const text = JSON.stringify({ alg: 'HS512', typ: 'JWT', [header]: value })
    add(`header ${header}`, hmacText(text, validText), new RegExp(`header "${header}"`))
  }
  const jwe = `${segJson({ alg: 'dir', enc: 'A256GCM' })}..${seg('iv')}.${p}.${seg('tag')}`
  add('JWE (5 segments)', jwe, /JWE/)
  add('4 segments', `${h}.${p}.${s}.${s}`, SHAPE)
  add('non-canonical signature', `${h}.${p}.${nonCanonical(s)}`, CANONICAL)
  const paddedPayload = seg(withPaddingBits(validText))
  add(
    'non-canonical payload (signed as sent)',
    hmacSegments(h, nonCanonical(paddedPayload)),
    CANONICAL,
  )
  const paddedHeader = seg(withPaddingBits(HS512))
  add(
    'non-canonical header (signed as sent)',
    hmacSegments(nonCanonical(paddedHeader), p),
    CANONICAL,
  )
  add('padded base64 segments', hmacSegments(`${h}==`, `${p}=`), CANONICAL)
  add('standard base64 alphabet', `${h}.${p}.${s.slice(0, -2)}+/`, CANONICAL)
  add('whitespace inside the token', `${h}. ${p}.${s}`, CANONICAL)
  const pastExp = `{"exp":${nowS() - 3600},${validText.slice(1)}`
  add(
    'duplicate key in payload (exp twice, last wins in JSON.parse)',
    hmacText(HS512, pastExp),
    DUPLICATE,
  )
  add(
    'duplicate nested key in payload',
    hmacText(HS512, `{"x":{"a":1,"a":2},${validText.slice(1)}`),
    DUPLICATE,
  )
  add('duplicate alg in header', hmacText('{"alg":"none","alg":"HS512"}', validText), DUPLICATE)
  for (const payload of ['[]', '"text"', '42', 'null', 'true', `[${validText}]`, 'not json']) {
    add(`payload ${payload.slice(0, 12)}`, hmacText(HS512, payload), NOT_OBJECT)
  }
  add('header is an array', hmacText('["HS512"]', validText), NOT_OBJECT)
  add('not a JWT at all', 'hello', SHAPE)
  return cases
}

/** A masked client → server WebSocket frame built by hand (RFC 6455 §5.2). */
export function maskedFrame(opcode: number, payload: Buffer, fin = true): Buffer {
  const mask = Buffer.from([0x12, 0x34, 0x56, 0x78])
  const len = payload.length
  const head =
    len < 126
      ? Buffer.from([(fin ? 0x80 : 0) | opcode, 0x80 | len])
      : Buffer.from([(fin ? 0x80 : 0) | opcode, 0x80 | 126, len >> 8, len & 0xff])
  if (len > 0xffff) throw new Error('frame too long for this helper')
  const body = Buffer.alloc(len)
  for (let i = 0; i < len; i++) body[i] = payload[i]! ^ mask[i % 4]!
  return Buffer.concat([head, mask, body])
}

/** Frames up to and including the first one that matches, within `ms`. */
export async function framesUntil(
  client: TestClient,
  match: (f: Frame) => boolean,
  ms = 3000,
): Promise<Frame[]> {
  const deadline = Date.now() + ms
  const seen: Frame[] = []
  for (;;) {
    const f = await client.next(Math.max(1, deadline - Date.now()))
    seen.push(f)
    if (match(f)) return seen
  }
}

export { sleep, within } from '../helpers/wait.js'

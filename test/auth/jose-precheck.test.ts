import t from 'tap'
import {
  hasDuplicateKeys,
  isCanonicalBase64url,
  precheckToken,
} from '../../src/auth/jose-precheck.js'
import { signRaw } from '../helpers/tokens.js'

const b64 = (text: string): string => Buffer.from(text).toString('base64url')

t.test('hasDuplicateKeys', async (t) => {
  t.test('flat objects', async (t) => {
    t.notOk(hasDuplicateKeys('{"a":1,"b":2}'))
    t.ok(hasDuplicateKeys('{"a":1,"a":2}'))
    t.ok(hasDuplicateKeys('{ "a" : 1 ,\n\t"a"\r\n:\t2 }'), 'whitespace around the colon')
    t.notOk(hasDuplicateKeys('{}'))
    t.notOk(hasDuplicateKeys('[]'))
    t.notOk(hasDuplicateKeys('"a"'))
  })

  t.test('nested objects have their own key sets', async (t) => {
    t.notOk(hasDuplicateKeys('{"a":{"a":1},"b":{"a":2}}'), 'same key at different levels')
    t.ok(hasDuplicateKeys('{"a":{"b":1,"b":2}}'), 'duplicate in a nested object')
    t.ok(hasDuplicateKeys('{"a":{"b":{}},"a":3}'), 'duplicate after a nested object closed')
    t.ok(hasDuplicateKeys('{"x":{"y":{"z":{"q":1,"q":1}}}}'), 'deep')
    t.notOk(hasDuplicateKeys('{"x":{"y":1},"y":1}'), 'nested key does not leak upward')
  })

  t.test('arrays of objects', async (t) => {
    t.notOk(hasDuplicateKeys('[{"a":1},{"a":2}]'), 'one key set per array element')
    t.ok(hasDuplicateKeys('[{"a":1},{"a":2,"a":3}]'))
    t.notOk(hasDuplicateKeys('{"l":[{"a":1},{"a":1}],"a":1}'))
    t.ok(hasDuplicateKeys('{"l":[{"a":1}],"l":[]}'))
    t.notOk(hasDuplicateKeys('{"l":["a","a"]}'), 'repeated strings in an array are values')
  })

  t.test('escaped keys are compared decoded', async (t) => {
    t.ok(hasDuplicateKeys('{"a":1,"\\u0061":2}'), '"a" and "\\u0061"')
    t.ok(hasDuplicateKeys('{"a\\"b":1,"a\\u0022b":2}'), 'escaped quote inside the key')
    t.ok(hasDuplicateKeys('{"\\/":1,"/":2}'))
    t.notOk(hasDuplicateKeys('{"a\\\\":1,"a":2}'), 'a backslash key is another key')
    t.ok(hasDuplicateKeys('{"a\\\\":1,"a\\u005c":2}'))
  })

  t.test('strings containing braces, brackets, colons and quotes are values', async (t) => {
    t.notOk(hasDuplicateKeys('{"a":"{\\"a\\":1}","b":"}:{"}'))
    t.notOk(hasDuplicateKeys('{"a":"a","b":"a"}'), 'a value equal to a key')
    t.notOk(hasDuplicateKeys('{"a":"]","b":["}"],"c":"{"}'))
    t.ok(hasDuplicateKeys('{"a":"}","a":1}'), 'a closing brace in a value does not end the object')
    t.ok(hasDuplicateKeys('{"k:":1,"k:":2}'), 'colon inside the key')
    t.notOk(hasDuplicateKeys('{"k:":1,"k":2}'))
  })

  t.test('a string never closed answers instead of looping', async (t) => {
    t.ok(hasDuplicateKeys('{"a', {}), 'an unclosed key')
    t.ok(hasDuplicateKeys('{"a":"b\\"}', { a: 'b' }), 'its closing quote escaped')
  })

  t.test('the __proto__ key is a key like any other', async (t) => {
    t.notOk(hasDuplicateKeys('{"__proto__":{"a":1},"a":1}'))
    t.ok(hasDuplicateKeys('{"__proto__":1,"__proto__":2}'))
    t.ok(hasDuplicateKeys('{"__proto__":{"a":1,"a":2}}'))
  })

  t.test('nesting far deeper than any token holds neither overflows nor misses', async (t) => {
    const depth = 100_000
    t.notOk(hasDuplicateKeys('['.repeat(depth) + ']'.repeat(depth)))
    t.notOk(hasDuplicateKeys('{"a":'.repeat(depth) + '1' + '}'.repeat(depth)))
    t.ok(hasDuplicateKeys('{"a":'.repeat(depth) + '{"b":1,"b":2}' + '}'.repeat(depth)))
  })

  t.test('answers as a key-by-key reference does, on random JSON', async (t) => {
    // The definition the relay used before counting keys: decode every key and keep a
    // set of them per object. Both must agree on texts with and without repeats.
    const reference = (text: string): boolean => {
      const stack: (Set<string> | null)[] = []
      for (let i = 0; i < text.length; i++) {
        const c = text[i]
        if (c === '"') {
          let j = i + 1
          while (text[j] !== '"') j += text[j] === '\\' ? 2 : 1
          let next = j + 1
          while (/\s/.test(text[next] ?? '')) next++
          const top = stack[stack.length - 1]
          if (top && text[next] === ':') {
            const key = JSON.parse(text.slice(i, j + 1)) as string
            if (top.has(key)) return true
            top.add(key)
          }
          i = j
        } else if (c === '{') stack.push(new Set())
        else if (c === '[') stack.push(null)
        else if (c === '}' || c === ']') stack.pop()
      }
      return false
    }
    let seed = 0x5eed
    const random = (n: number): number => {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0
      return (seed >>> 8) % n
    }
    const pieces = ['a', 'b', '\\u0061', '\\"', '\\\\', ':', '{', '}', '[', ']', ',', ' ']
    const str = (): string => {
      let out = '"'
      for (let n = random(3); n > 0; n--) out += pieces[random(pieces.length)] ?? ''
      return `${out}"`
    }
    const ws = (): string => [' ', '', '\n\t', ''][random(4)] ?? ''
    const value = (depth: number): string => {
      const kind = depth > 3 ? random(3) : random(5)
      if (kind === 0) return str()
      if (kind === 1) return String(random(100))
      if (kind === 2) return ['true', 'null', '[]', '{}'][random(4)] ?? 'null'
      const items = Array.from({ length: random(5) }, () => value(depth + 1))
      if (kind === 3) return `[${items.join(',')}]`
      return `{${items.map((v) => `${ws()}${str()}${ws()}:${ws()}${v}`).join(',')}}`
    }
    let repeats = 0
    for (let i = 0; i < 5_000; i++) {
      const text = value(0)
      const expected = reference(text)
      if (expected) repeats += 1
      if (hasDuplicateKeys(text) !== expected) {
        t.fail(`disagrees on ${text}`)
        return
      }
    }
    t.ok(repeats > 200 && repeats < 4_800, `both answers were exercised (${repeats} with repeats)`)
  })
})

t.test('precheckToken', async (t) => {
  const header = { alg: 'HS512', typ: 'JWT' }
  const payload = { exp: 1, data: { user_id: 1, user_rights: [] } }

  t.test('a well-formed HS512 token passes and yields its payload', async (t) => {
    t.same(precheckToken(signRaw(header, payload)), { payload })
  })

  t.test('refusals', async (t) => {
    const good = signRaw(header, payload)
    const [h = '', p = '', s = ''] = good.split('.')
    const cases: [string, string, RegExp][] = [
      ['five segments (JWE)', `${h}.${p}.${s}.x.y`, /JWE/],
      ['two segments', `${h}.${p}`, /three/],
      ['four segments', `${h}.${p}.${s}.x`, /three/],
      ['empty signature', `${h}.${p}.`, /missing signature/],
      ['signature with padding', `${h}.${p}.${s}=`, /canonical/],
      ['signature in base64 (not url)', `${h}.${p}.${s.replace(/./, '+')}`, /canonical/],
      ['header not base64url', `${h}!.${p}.${s}`, /canonical/],
      ['payload not base64url', `${h}.${p}*.${s}`, /canonical/],
      ['header not JSON', `${b64('{alg')}.${p}.${s}`, /header/],
      ['header an array', `${b64('["HS512"]')}.${p}.${s}`, /header/],
      ['alg none', signRaw({ alg: 'none' }, payload), /HS512/],
      ['alg hs512', signRaw({ alg: 'hs512' }, payload), /HS512/],
      ['no alg', signRaw({ typ: 'JWT' }, payload), /HS512/],
      ['payload an array', signRaw(header, [1]), /payload/],
      ['payload a string', signRaw(header, '"sub"'), /payload/],
      ['payload a number', signRaw(header, '42'), /payload/],
      ['payload null', signRaw(header, 'null'), /payload/],
      ['payload not JSON', signRaw(header, '{"exp":'), /payload/],
    ]
    for (const [name, token, reason] of cases) {
      const result = precheckToken(token)
      t.type(result, 'string', name)
      t.match(result, reason, name)
    }
  })

  t.test('headers that delegate trust are refused', async (t) => {
    for (const name of ['crit', 'jku', 'jwk', 'x5u', 'x5c']) {
      t.match(precheckToken(signRaw({ ...header, [name]: [] }, payload)), name, name)
    }
  })

  t.test('duplicate keys in header or payload are refused', async (t) => {
    const sig = 'A'.repeat(86)
    const headerDup = `${b64('{"alg":"HS512","alg":"HS512"}')}.${b64(JSON.stringify(payload))}.${sig}`
    t.equal(precheckToken(headerDup), 'duplicate keys in header')
    const headerSmuggle = `${b64('{"alg":"none","alg":"HS512"}')}.${b64(JSON.stringify(payload))}.${sig}`
    t.equal(precheckToken(headerSmuggle), 'duplicate keys in header')
    const payloadDup = `${b64(JSON.stringify(header))}.${b64('{"exp":1,"exp":9999999999}')}.${sig}`
    t.equal(precheckToken(payloadDup), 'duplicate keys in payload')
  })

  t.test('non-canonical base64url with the same bytes is refused', async (t) => {
    const good = signRaw(header, payload)
    const [h = '', p = '', s = ''] = good.split('.')
    // 64 bytes → 86 characters: the last one carries 2 significant bits and 4 unused ones.
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'
    const last = alphabet.indexOf(s.slice(-1))
    const twin = alphabet[last ^ 1]!
    const forged = `${h}.${p}.${s.slice(0, -1)}${twin}`
    t.same(Buffer.from(forged.split('.')[2]!, 'base64url'), Buffer.from(s, 'base64url'))
    t.equal(precheckToken(forged), 'signature is not canonical base64url')
  })

  t.test('canonical base64url is decided as decoding and encoding again would', async (t) => {
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'
    const byDefinition = (s: string): boolean =>
      /^[A-Za-z0-9_-]+$/.test(s) && Buffer.from(s, 'base64url').toString('base64url') === s
    let disagreements = 0
    let canonical = 0
    // Every last character after prefixes of each length class (4n, 4n+1, 4n+2, 4n+3).
    for (const prefix of ['', 'Q', 'QU', 'QUI', 'QUJD', 'QUJDR', 'QUJDRE', 'QUJDREV']) {
      for (const c of alphabet) {
        const s = prefix + c
        if (byDefinition(s)) canonical++
        if (isCanonicalBase64url(s) !== byDefinition(s)) disagreements++
      }
    }
    t.equal(disagreements, 0)
    // 64 + 16 + 4 per group of four lengths (a length of 4n+1 is never canonical), twice.
    t.equal(canonical, 2 * (64 + 16 + 4))
    for (const bad of ['', 'QUJD=', 'QU+I', 'QU/I', 'QU I', 'QUJD\n']) {
      t.equal(isCanonicalBase64url(bad), false, JSON.stringify(bad))
    }
  })
})

import { isIP } from 'node:net'
import convict from 'convict'
import { proxyEntryProblem } from './http/client-address.js'

/**
 * The value each custom format accepts once validated: `Config` derives a key's type from
 * its format through this map, so a new format needs an entry here and in FORMATS.
 */
export interface FormatTypes {
  'id-or-name': string | number
  'string-list': readonly string[]
  'strict-boolean': boolean
  'listen-address': string
  'positive-int': number
  'redis-url': string
  'key-prefix': string
  'nonneg-int': number
  'host-port-list': readonly string[]
  'socketio-paths': readonly string[]
  'proxy-list': readonly string[]
}

type FormatSpec = Omit<convict.Format, 'name'>

/** The custom convict formats, by the name the schema uses; registered by `registerFormats`. */
export const FORMATS: { readonly [F in keyof FormatTypes]: FormatSpec } = {
  'id-or-name': {
    validate(value: unknown) {
      if (value === '') return
      if (typeof value === 'number' && Number.isSafeInteger(value) && value >= 0) return
      if (typeof value === 'string' && /^(?:\d+|[a-z_][a-z0-9_.-]*\$?)$/i.test(value)) return
      throw new Error('must be a numeric id or a user/group name, or "" for none')
    },
  },

  'string-list': {
    validate(value: unknown) {
      if (!Array.isArray(value) || !value.every((v) => typeof v === 'string' && v !== '')) {
        throw new Error('must be an array of non-empty strings')
      }
    },
    // convict coerces every string it sees (file values too): a JSON array text becomes the
    // array (how an environment variable spells a list); any other string stays and is refused.
    coerce(value: string): unknown {
      if (!value.trimStart().startsWith('[')) return value
      try {
        return JSON.parse(value) as unknown
      } catch {
        return value
      }
    },
  },

  'strict-boolean': {
    validate(value: unknown) {
      if (typeof value !== 'boolean') throw new Error('must be true or false')
    },
    // Only "true"/"false" become booleans: convict's own Boolean coercion turns any other
    // string ("0", "no") into true, which would silently switch options on.
    coerce(value: string): unknown {
      const lower = value.trim().toLowerCase()
      return lower === 'true' ? true : lower === 'false' ? false : value
    },
  },

  'listen-address': {
    validate(value: unknown) {
      if (typeof value !== 'string' || (value !== 'localhost' && isIP(value) === 0)) {
        throw new Error('must be an IP address ("::" or "0.0.0.0" for all interfaces) or localhost')
      }
    },
  },

  'positive-int': {
    validate(value: unknown) {
      if (typeof value !== 'number' || !Number.isSafeInteger(value) || value <= 0) {
        throw new Error('must be a positive integer')
      }
    },
    // Environment variables are strings: decimal digits become the number, anything else
    // stays a string and is refused by validate.
    coerce(value: string): unknown {
      return /^\d+$/.test(value.trim()) ? Number(value) : value
    },
  },

  'redis-url': {
    validate(value: unknown) {
      let url: URL
      try {
        url = new URL(String(value))
      } catch {
        throw new Error(
          'must be a URL such as redis://127.0.0.1:6379 or rediss://:password@host:6380/0',
        )
      }
      if (url.protocol !== 'redis:' && url.protocol !== 'rediss:') {
        throw new Error('must be a redis:// or rediss:// URL')
      }
      if (url.hostname === '') throw new Error('must name a host, e.g. redis://127.0.0.1:6379')
    },
  },

  'key-prefix': {
    validate(value: unknown) {
      if (typeof value !== 'string' || !/^[\x21-\x7e]{1,64}$/.test(value)) {
        throw new Error('must be 1 to 64 printable ASCII characters without spaces')
      }
    },
  },

  'nonneg-int': {
    validate(value: unknown) {
      if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
        throw new Error('must be an integer, 0 or more')
      }
    },
    coerce(value: string): unknown {
      return /^\d+$/.test(value.trim()) ? Number(value) : value
    },
  },

  'host-port-list': {
    validate(value: unknown) {
      const ok = (v: unknown): boolean =>
        typeof v === 'string' && /^(\[[0-9a-fA-F:.]+\]|[^\s:[\]]+):\d{1,5}$/.test(v)
      if (!Array.isArray(value) || !value.every(ok)) {
        throw new Error('must be a list of host:port, e.g. ["10.0.0.1:26379","10.0.0.2:26379"]')
      }
    },
    // In the environment variable: comma-separated (a JSON array is accepted too).
    coerce(value: string): unknown {
      const text = value.trim()
      if (text.startsWith('[')) {
        try {
          return JSON.parse(text) as unknown
        } catch {
          return value
        }
      }
      return text === '' ? [] : text.split(',').map((v) => v.trim())
    },
  },

  'socketio-paths': {
    validate(value: unknown) {
      const path = /^\/[A-Za-z0-9._~-]+(?:\/[A-Za-z0-9._~-]+)*$/
      if (!Array.isArray(value) || !value.every((v) => typeof v === 'string' && path.test(v))) {
        throw new Error('must be an array of paths such as "/socket.io" (no trailing slash)')
      }
      if (value.some((v: string) => v === '/ws' || v.startsWith('/ws/'))) {
        throw new Error("must not take /ws, the relay's own endpoint")
      }
    },
    coerce(value: string): unknown {
      try {
        return JSON.parse(value) as unknown
      } catch {
        return value
      }
    },
  },

  'proxy-list': {
    validate(value: unknown) {
      if (!Array.isArray(value)) throw new Error('must be an array of addresses and CIDRs')
      for (const entry of value) {
        const problem = proxyEntryProblem(entry)
        if (problem !== null) throw new Error(problem)
      }
    },
    coerce(value: string): unknown {
      if (!value.trimStart().startsWith('[')) return value
      try {
        return JSON.parse(value) as unknown
      } catch {
        return value
      }
    },
  },
}

let registered = false

/** Add FORMATS to convict (a process-wide registry); later calls do nothing. */
export function registerFormats(): void {
  if (registered) return
  for (const [name, spec] of Object.entries(FORMATS)) convict.addFormat({ name, ...spec })
  registered = true
}

import { readFileSync } from 'node:fs'

/** The relay's version: from package.json, the nearest one above this module (src or dist/src). */
export const RELAY_VERSION: string = (() => {
  for (const up of ['../package.json', '../../package.json']) {
    try {
      const pkg = JSON.parse(readFileSync(new URL(up, import.meta.url), 'utf8')) as {
        name?: string
        version?: string
      }
      if (pkg.name === 'tuleap-realtime' && typeof pkg.version === 'string') return pkg.version
    } catch {
      // not there: the next level up
    }
  }
  return 'unknown'
})()

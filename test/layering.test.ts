/**
 * The folders of src/ read as the data path, and imports go one way along it: the broker
 * knows nothing of the hub, the hub nothing of the connections that carry its frames nor
 * of fastify, and the protocol's messages and frames sit below both hub and broker. No
 * module of src/ needs itself to load (no import cycle, type-only imports aside).
 */
import { posix } from 'node:path'
import t from 'tap'
import { sourceFiles } from './helpers/source-files.js'

/** What each folder of src/ must not import: folders of src/, or packages. */
const FORBIDDEN: Readonly<Record<string, readonly string[]>> = {
  'src/broker/': ['src/hub/', 'src/ws/', 'src/socketio/', 'src/http/'],
  'src/hub/': ['src/ws/', 'src/socketio/', 'src/http/', 'fastify', '@fastify/'],
  'src/protocol/': ['src/hub/', 'src/broker/', 'src/ws/', 'src/socketio/', 'src/http/'],
}

/** The module specifiers of a TypeScript source: static imports, re-exports, import(). */
export function specifiers(source: string): string[] {
  const found = [
    ...source.matchAll(/\bfrom\s*['"]([^'"]+)['"]/g),
    ...source.matchAll(/\bimport\s*\(?\s*['"]([^'"]+)['"]/g),
  ]
  return found.map((m) => m[1] ?? '')
}

/** A specifier as a path from the repository root (relative ones), or as written (packages). */
export function resolved(from: string, specifier: string): string {
  if (!specifier.startsWith('.')) return specifier
  return posix.normalize(posix.join(posix.dirname(from), specifier))
}

/** `path imports target`, for each import of `path` that its folder's rule forbids. */
export function violations(path: string, source: string): string[] {
  const out: string[] = []
  for (const [folder, forbidden] of Object.entries(FORBIDDEN)) {
    if (!path.startsWith(folder)) continue
    for (const target of specifiers(source).map((s) => resolved(path, s))) {
      const bare = target.replace(/^node:/, '')
      if (forbidden.some((f) => bare === f.replace(/\/$/, '') || bare.startsWith(f))) {
        out.push(`${path} imports ${target}`)
      }
    }
  }
  return out
}

/**
 * The relative imports of `path` loaded at run time (static ones, not `import type` or
 * `export type`), as paths of .ts files from the repository root.
 */
export function valueImports(path: string, source: string): string[] {
  const statements = source.matchAll(
    /^\s*(?:import|export)\s+(type\s+)?(?:[^'";]*?\bfrom\s*)?['"](\.[^'"]+)['"]/gm,
  )
  return [...statements]
    .filter((m) => m[1] === undefined)
    .map((m) => resolved(path, m[2] ?? '').replace(/\.js$/, '.ts'))
}

/** Each cycle of `graph` found by a depth-first walk, as the path that closes it. */
export function cycles(graph: ReadonlyMap<string, readonly string[]>): string[][] {
  const state = new Map<string, 'open' | 'done'>()
  const path: string[] = []
  const found: string[][] = []
  const visit = (node: string): void => {
    state.set(node, 'open')
    path.push(node)
    for (const next of graph.get(node) ?? []) {
      const seen = state.get(next)
      if (seen === 'open') found.push([...path.slice(path.indexOf(next)), next])
      else if (seen === undefined) visit(next)
    }
    path.pop()
    state.set(node, 'done')
  }
  for (const node of [...graph.keys()].sort()) if (!state.has(node)) visit(node)
  return found
}

t.test('imports follow the data path', async (t) => {
  const files = sourceFiles('src/').filter((f) => f.path.endsWith('.ts'))
  for (const folder of Object.keys(FORBIDDEN)) {
    t.ok(
      files.some((f) => f.path.startsWith(folder)),
      `${folder} has sources`,
    )
  }
  t.same(
    files.flatMap((f) => violations(f.path, f.text)),
    [],
  )
})

t.test('src/ has no import cycle', async (t) => {
  const files = sourceFiles('src/').filter((f) => f.path.endsWith('.ts'))
  const graph = new Map(files.map((f) => [f.path, valueImports(f.path, f.text)]))
  t.ok(graph.get('src/config.ts')?.includes('src/errors.ts'), 'imports are read')
  t.same(
    cycles(graph).map((c) => c.join(' → ')),
    [],
  )
})

t.test('the rule itself', async (t) => {
  t.same(
    specifiers(
      [
        "import type { Message } from '../protocol/message.js'",
        'import {\n  Hub,\n  type Room,\n} from "../hub/hub.js"',
        "export { x } from './x.js'",
        "import './side-effect.js'",
        "const m = await import('../ws/endpoint.js')",
      ].join('\n'),
    ),
    ['../protocol/message.js', '../hub/hub.js', './x.js', './side-effect.js', '../ws/endpoint.js'],
  )
  t.same(
    violations('src/broker/broker.ts', "import type { Message } from '../protocol/message.js'"),
    [],
  )
  t.same(violations('src/broker/broker.ts', "import type { Room } from '../hub/room.js'"), [
    'src/broker/broker.ts imports src/hub/room.js',
  ])
  t.same(violations('src/hub/room.ts', "import fastify from 'fastify'"), [
    'src/hub/room.ts imports fastify',
  ])
  t.same(violations('src/hub/room.ts', "import type { X } from '@fastify/websocket'"), [
    'src/hub/room.ts imports @fastify/websocket',
  ])
  t.same(violations('src/hub/room.ts', "import type { Broker } from '../broker/broker.js'"), [])
  t.same(violations('src/protocol/message.ts', "import { Hub } from '../hub/hub.js'"), [
    'src/protocol/message.ts imports src/hub/hub.js',
  ])
  t.same(violations('src/ws/endpoint.ts', "import { Hub } from '../hub/hub.js'"), [], 'ws may')
})

t.test('the cycle finder itself', async (t) => {
  t.same(
    valueImports(
      'src/a.ts',
      [
        "import { b } from './b.js'",
        "import type { C } from './c.js'",
        "export type { D } from './d.js'",
        "export { e } from '../e.js'",
        'import {\n  f,\n  type F,\n} from "./f.js"',
        "import './g.js'",
        "import fastify from 'fastify'",
        "const h = await import('./h.js')",
      ].join('\n'),
    ),
    ['src/b.ts', 'e.ts', 'src/f.ts', 'src/g.ts'],
  )
  const graph = new Map([
    ['a', ['b']],
    ['b', ['c', 'd']],
    ['c', ['a']],
    ['d', []],
  ])
  t.same(cycles(graph), [['a', 'b', 'c', 'a']])
  t.same(cycles(new Map([['a', ['a']]])), [['a', 'a']])
  graph.set('c', ['d'])
  t.same(cycles(graph), [])
})

/**
 * What each idle connection holds on the JS heap: the difference between two V8 heap
 * snapshots (before and after connecting N subscribers), grouped by constructor or kind,
 * per connection. Native memory (OpenSSL, kernel-side buffers) is not in a heap snapshot;
 * the RSS figures cover it.
 */
import { readFileSync } from 'node:fs'

interface HeapSnapshot {
  readonly snapshot: {
    readonly meta: { readonly node_fields: string[]; readonly node_types: [string[], ...unknown[]] }
  }
  readonly nodes: number[]
  readonly strings: string[]
}

type Totals = Map<string, { bytes: number; count: number }>

/** Self size and count per `type:name` (strings and code lumped by type). */
export function heapTotals(file: string): Totals {
  const h = JSON.parse(readFileSync(file, 'utf8')) as HeapSnapshot
  const fields = h.snapshot.meta.node_fields
  const types = h.snapshot.meta.node_types[0]
  const width = fields.length
  const iType = fields.indexOf('type')
  const iName = fields.indexOf('name')
  const iSize = fields.indexOf('self_size')
  const totals: Totals = new Map()
  for (let i = 0; i < h.nodes.length; i += width) {
    const type = types[h.nodes[i + iType] ?? 0] ?? '?'
    const name = h.strings[h.nodes[i + iName] ?? 0] ?? '?'
    const grouped =
      type === 'string' ||
      type === 'concatenated string' ||
      type === 'sliced string' ||
      type === 'number'
        ? `(${type})`
        : type === 'code'
          ? '(code)'
          : `${type}:${name.length > 60 ? `${name.slice(0, 57)}...` : name}`
    const t = totals.get(grouped) ?? { bytes: 0, count: 0 }
    t.bytes += h.nodes[i + iSize] ?? 0
    t.count += 1
    totals.set(grouped, t)
  }
  return totals
}

/** One kind of heap object's growth per connection. */
export interface HeapGrowth {
  readonly what: string
  readonly bytesPerConn: number
  readonly countPerConn: number
}

/** Growth from `before` to `after`, per connection, largest first. */
export function heapGrowth(before: Totals, after: Totals, connections: number): HeapGrowth[] {
  const out: HeapGrowth[] = []
  for (const [what, a] of after) {
    const b = before.get(what) ?? { bytes: 0, count: 0 }
    out.push({
      what,
      bytesPerConn: (a.bytes - b.bytes) / connections,
      countPerConn: (a.count - b.count) / connections,
    })
  }
  return out.sort((x, y) => y.bytesPerConn - x.bytesPerConn)
}

/** The growth table as text: the `top` largest, and the total. */
export function heapText(growth: readonly HeapGrowth[], top = 45): string {
  const total = growth.reduce((s, g) => s + g.bytesPerConn, 0)
  return [
    `JS heap growth per connection: ${total.toFixed(0)} bytes (sum of self sizes)`,
    '   bytes   objects  type:constructor',
    ...growth
      .slice(0, top)
      .map(
        (g) =>
          `${g.bytesPerConn.toFixed(0).padStart(8)} ${g.countPerConn.toFixed(2).padStart(9)}  ${g.what}`,
      ),
  ].join('\n')
}

/**
 * The config file as text: JSON syntax errors with their line and column, and values whose
 * JSON type is not the one the key takes. convict coerces strings ("8443" becomes 8443)
 * because environment variables are strings; a file has real numbers and booleans, and a
 * quoted one is a mistake worth naming before it hides a typo.
 */

/** A line and column, both counted from 1, of `offset` (UTF-16 units) in `text`. */
export function lineAndColumn(text: string, offset: number): { line: number; column: number } {
  const before = text.slice(0, Math.max(0, Math.min(offset, text.length)))
  const lines = before.split('\n')
  return { line: lines.length, column: (lines.at(-1)?.length ?? 0) + 1 }
}

/**
 * Parse `text` as JSON; on a syntax error, the reason as one line: "line L, column C:
 * what JSON.parse said" (the position taken out of its words, which vary across Node
 * versions). An input that ends too early points at its end.
 */
export function parseJsonText(text: string): { value: unknown } | { problem: string } {
  try {
    return { value: JSON.parse(text) as unknown }
  } catch (err) {
    const message = (err as Error).message
    const position = /at position (\d+)/.exec(message)
    const offset = position ? Number(position[1]) : text.trimEnd().length
    const { line, column } = lineAndColumn(text, offset)
    const reason = message
      .replace(/\s*\(line \d+ column \d+\)/, '')
      .replace(/\s*in JSON at position \d+/, '')
      .replace(/^Unexpected end of JSON input$/, 'the file ends before the JSON does')
    return { problem: `line ${line}, column ${column}: ${reason}` }
  }
}

/** The JSON type a schema format takes in a file, where it is not a string. */
const FILE_TYPES: Readonly<Record<string, 'number' | 'boolean'>> = {
  port: 'number',
  'positive-int': 'number',
  'nonneg-int': 'number',
  'strict-boolean': 'boolean',
}

/** The value to show in the fix: the string's own text when it is a valid literal. */
function example(type: 'number' | 'boolean', value: string): string {
  const bare = value.trim().toLowerCase()
  if (type === 'number') return /^\d+$/.test(bare) ? bare : '8443'
  return bare === 'true' || bare === 'false' ? bare : 'true'
}

/** A schema as the checks below read it: leaves have a `format`, groups hold leaves. */
type SchemaNode = { readonly format?: unknown } | { readonly [key: string]: SchemaNode }

/**
 * Keys of `values` (a parsed config file) that hold a string where `schema` takes a number
 * or a boolean, one sentence each, e.g. `port: "8443" is a string; write a number: "port": 8443`.
 */
export function quotedValueProblems(
  values: Record<string, unknown>,
  schema: Readonly<Record<string, SchemaNode>>,
  prefix = '',
): string[] {
  const problems: string[] = []
  for (const [key, value] of Object.entries(values)) {
    const node = schema[key]
    if (node === undefined) continue
    const name = `${prefix}${key}`
    if ('format' in node) {
      const type = typeof node.format === 'string' ? FILE_TYPES[node.format] : undefined
      if (type !== undefined && typeof value === 'string') {
        problems.push(
          `${name}: ${JSON.stringify(value.slice(0, 40))} is a string; write a ${type} without quotes, e.g. "${key}": ${example(type, value)}`,
        )
      }
    } else if (typeof value === 'object' && value !== null && !Array.isArray(value)) {
      problems.push(
        ...quotedValueProblems(
          value as Record<string, unknown>,
          node as Readonly<Record<string, SchemaNode>>,
          `${name}.`,
        ),
      )
    }
  }
  return problems
}

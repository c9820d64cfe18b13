/**
 * The repository's own files, read as text, for the tests that check the tree itself
 * (references, layering). Build output, dependencies and generated trees are skipped.
 */
import { readFileSync, readdirSync } from 'node:fs'
import { posix } from 'node:path'

/** The repository root. */
export const ROOT = new URL('../../', import.meta.url)

/** Directories that hold copies or output, never sources. */
const SKIPPED = new Set(['node_modules', 'dist', 'build', '.tap', 'coverage', 'bench-results'])

/** One file: its path from the repository root, and its text. */
export interface SourceFile {
  readonly path: string
  readonly text: string
}

/** Every file under `roots` (paths from the repository root; a file is taken as is), sorted. */
export function sourceFiles(...roots: string[]): SourceFile[] {
  const paths: string[] = []
  const walk = (path: string): void => {
    const entries = readdirSync(new URL(path, ROOT), { withFileTypes: true })
    for (const entry of entries) {
      const child = posix.join(path, entry.name)
      if (entry.isDirectory()) {
        if (!SKIPPED.has(entry.name)) walk(`${child}/`)
      } else if (entry.isFile()) {
        paths.push(child)
      }
    }
  }
  for (const root of roots) {
    if (root.endsWith('/')) walk(root)
    else paths.push(root)
  }
  return paths.sort().map((path) => ({ path, text: readFileSync(new URL(path, ROOT), 'utf8') }))
}

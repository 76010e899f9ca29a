// TOML reading with errors that name the file and the position.
import { readFileSync } from 'node:fs'

import { TomlError, parse } from 'smol-toml'

import { ConfigError } from '../errors'

export type Table = Record<string, unknown>

export function parseToml(text: string, file: string): Table {
  try {
    return parse(text) as Table
  } catch (error) {
    if (error instanceof TomlError) {
      const first = error.message.split('\n')[0] ?? error.message
      throw new ConfigError([{ file, path: '', message: `TOML syntax error at line ${error.line}, column ${error.column}: ${first}` }])
    }
    throw error
  }
}

export function readToml(file: string): Table {
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch (error) {
    throw new ConfigError([{ file, path: '', message: `cannot read file: ${(error as Error).message}` }])
  }
  return parseToml(text, file)
}

/** Sets `value` at a dotted path, creating tables on the way (a non-table in the way is replaced). */
export function setPath(root: Table, path: readonly string[], value: unknown): void {
  let node = root
  for (const segment of path.slice(0, -1)) {
    const next = node[segment]
    if (next === null || typeof next !== 'object' || Array.isArray(next)) node[segment] = {}
    node = node[segment] as Table
  }
  node[path[path.length - 1] as string] = value
}

// TOML reading with errors that name the file and the position.
import { readFileSync } from 'node:fs'

import { TomlError, parse, stringify } from 'smol-toml'

import { ConfigError, type ConfigIssue } from '../errors'

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

/** The dotted path where two parsed values first differ, or undefined when they are equal. */
function firstDifference(a: unknown, b: unknown, path: string[] = []): string[] | undefined {
  if (Object.is(a, b)) return undefined
  if (Array.isArray(a) && Array.isArray(b)) {
    if (a.length !== b.length) return path
    for (let i = 0; i < a.length; i++) {
      const d = firstDifference(a[i], b[i], [...path, String(i)])
      if (d) return d
    }
    return undefined
  }
  if (a !== null && b !== null && typeof a === 'object' && typeof b === 'object' && !Array.isArray(a) && !Array.isArray(b)) {
    const keys = new Set([...Object.keys(a), ...Object.keys(b)])
    for (const key of keys) {
      const d = firstDifference((a as Table)[key], (b as Table)[key], [...path, key])
      if (d) return d
    }
    return undefined
  }
  return path
}

/** Path of the first `null` inside an array (TOML has no null; dropping it would shift the rest). */
function nullInArray(value: unknown, path: string[] = [], inArray = false): string[] | undefined {
  if (value === null) return inArray ? path : undefined
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const found = nullInArray(value[i], [...path, String(i)], true)
      if (found) return found
    }
  } else if (typeof value === 'object' && value !== null) {
    for (const [key, v] of Object.entries(value)) {
      const found = nullInArray(v, [...path, key])
      if (found) return found
    }
  }
  return undefined
}

/**
 * TOML text for `table` that parses back to exactly `table`; otherwise a ConfigError naming the
 * key that TOML cannot hold (a null in an array, an integer beyond 64 bits), so nothing is
 * written that would stop the next start.
 */
export function toTomlText(table: Table, file: string): string {
  const fail = (path: string[] | undefined, message: string): never => {
    const issue: ConfigIssue = { file, path: (path ?? []).join('.'), message }
    throw new ConfigError([issue])
  }
  const nullAt = nullInArray(table)
  if (nullAt) fail(nullAt, 'null cannot be stored in a TOML file (arrays cannot hold it)')
  let text = ''
  try {
    text = stringify(table)
  } catch (error) {
    fail([], `cannot be written as TOML: ${(error as Error).message}`)
  }
  const diff = firstDifference(table, parseToml(text, file))
  if (diff) fail(diff, 'value cannot be stored exactly in a TOML file (e.g. an integer beyond 64 bits)')
  return text
}

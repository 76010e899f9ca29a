// Environment handling shared by the runtime config and the connector providers: upstream value
// inference, a small `.env` parser, and "did you mean" suggestions for unknown variables.
import { readFileSync } from 'node:fs'

export const ENV_PREFIX = 'IGGY_CONNECTORS_'

export type EnvValue = string | number | boolean | EnvValue[]

/** Read-only view of the environment (a plain object in tests, `process.env` otherwise). */
export type Env = Readonly<Record<string, string | undefined>>

/** Splits `a, "b, c", d` on commas outside double quotes. */
function splitArray(inner: string): string[] {
  const parts: string[] = []
  let current = ''
  let quoted = false
  for (const ch of inner) {
    if (ch === '"') quoted = !quoted
    if (ch === ',' && !quoted) {
      parts.push(current)
      current = ''
    } else {
      current += ch
    }
  }
  parts.push(current)
  return parts.map((part) => part.trim()).filter((part) => part !== '')
}

/**
 * Upstream value inference: `[a, b]` → array (recursively), `true`/`false` (any case) → bool,
 * integers and floats → number, anything else stays a string (quotes around array elements are
 * stripped).
 */
export function inferEnvValue(raw: string): EnvValue {
  const text = raw.trim()
  if (text.startsWith('[') && text.endsWith(']')) {
    return splitArray(text.slice(1, -1)).map((element) => {
      if (element.length >= 2 && element.startsWith('"') && element.endsWith('"')) return element.slice(1, -1)
      return inferEnvValue(element)
    })
  }
  const lower = text.toLowerCase()
  if (lower === 'true') return true
  if (lower === 'false') return false
  if (/^[+-]?\d+$/.test(text) || /^[+-]?(\d+\.\d*|\.\d+|\d+)([eE][+-]?\d+)?$/.test(text)) {
    const n = Number(text)
    if (Number.isFinite(n)) return n
  }
  return raw
}

/** The kinds of value a config leaf expects; decides how an env string is converted. */
export type LeafKind = 'string' | 'number' | 'boolean' | 'array' | 'any'

/**
 * Converts an env value for a leaf of known kind. Unlike upstream (which turns a numeric-looking
 * password into a number and then fails), a string field keeps the raw text.
 */
export function envValueFor(kind: LeafKind, raw: string): EnvValue {
  if (kind === 'string') return raw
  return inferEnvValue(raw)
}

/**
 * Parses `.env` text: `KEY=value` lines, optional `export `, `#` comments, single- or
 * double-quoted values (double quotes understand `\n`, `\t`, `\"`, `\\`).
 */
export function parseDotenv(text: string): Record<string, string> {
  const out: Record<string, string> = {}
  const line = /^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_.]*)\s*=\s*(.*?)\s*$/
  for (const rawLine of text.split(/\r?\n/)) {
    if (/^\s*(#|$)/.test(rawLine)) continue
    const m = line.exec(rawLine)
    if (!m) continue
    const key = m[1] as string
    let value = m[2] as string
    if (value.startsWith('"') && value.lastIndexOf('"') > 0) {
      value = value
        .slice(1, value.lastIndexOf('"'))
        .replace(/\\([nt"\\])/g, (_m, c: string) => ({ n: '\n', t: '\t', '"': '"', '\\': '\\' })[c] ?? c)
    } else if (value.startsWith("'") && value.lastIndexOf("'") > 0) {
      value = value.slice(1, value.lastIndexOf("'"))
    } else {
      const hash = value.search(/\s#/)
      if (hash >= 0) value = value.slice(0, hash).trimEnd()
    }
    out[key] = value
  }
  return out
}

/**
 * Loads a `.env` file into `target` without overriding variables that are already set (as
 * dotenvy does). Returns the names it set, or an error message when the file cannot be read.
 */
export function loadDotenv(path: string, target: Record<string, string | undefined>): string[] | Error {
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch (error) {
    return error instanceof Error ? error : new Error(String(error))
  }
  const set: string[] = []
  for (const [key, value] of Object.entries(parseDotenv(text))) {
    if (target[key] === undefined) {
      target[key] = value
      set.push(key)
    }
  }
  return set
}

export function levenshtein(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, i) => i)
  for (let i = 1; i <= a.length; i++) {
    const row = [i]
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1
      row.push(Math.min((prev[j] as number) + 1, (row[j - 1] as number) + 1, (prev[j - 1] as number) + cost))
    }
    prev = row
  }
  return prev[b.length] as number
}

/** Up to three known names close to `name` (edit distance ≤ 3, or a tenth of its length when longer). */
export function suggest(name: string, known: Iterable<string>): string[] {
  const limit = Math.max(3, Math.floor(name.length / 10))
  return [...known]
    .map((candidate) => ({ candidate, distance: levenshtein(name, candidate) }))
    .filter(({ distance }) => distance <= limit)
    .toSorted((a, b) => a.distance - b.distance || a.candidate.localeCompare(b.candidate))
    .slice(0, 3)
    .map(({ candidate }) => candidate)
}

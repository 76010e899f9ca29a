// Runs a zod schema over parsed TOML and turns its issues into ConfigIssues: one per problem,
// naming the file and key path. Unknown keys are warnings, not errors.
import type { z } from 'zod'

import type { ConfigIssue } from '../errors'

export interface Validated<T> {
  readonly data?: T
  readonly errors: ConfigIssue[]
  readonly warnings: ConfigIssue[]
}

export function keyPath(path: readonly PropertyKey[]): string {
  return path.map((segment) => String(segment)).join('.')
}

function valueAt(root: unknown, path: readonly PropertyKey[]): unknown {
  let node = root
  for (const segment of path) {
    if (node === null || typeof node !== 'object') return undefined
    node = (node as Record<PropertyKey, unknown>)[segment]
  }
  return node
}

function describe(issue: z.core.$ZodIssue, input: unknown): string {
  const message = issue.message.replace(/^Invalid input: /, '')
  if (issue.code === 'invalid_type' && issue.message.endsWith('received undefined')) {
    return `missing required key (expected ${issue.expected})`
  }
  if (input !== undefined && issue.path.length > 0 && issue.code !== 'custom' && valueAt(input, issue.path) === undefined) {
    // Unions and enums do not say that nothing was given; the input does.
    const expected = issue.code === 'invalid_union' ? 'string' : describe(issue, undefined)
    return `missing required key (${expected.startsWith('expected') ? expected : `expected ${expected}`})`
  }
  if (issue.code === 'invalid_union' && 'options' in issue && Array.isArray(issue.options)) {
    return `expected one of ${issue.options.map((o) => JSON.stringify(o)).join('|')}`
  }
  if (issue.code === 'invalid_value') return message.replace(/^Invalid option: /, '')
  if (issue.code === 'too_small' || issue.code === 'too_big') return message.replace(/^Too (small|big): /, '')
  return message
}

function deletePath(root: unknown, path: readonly PropertyKey[], keys: readonly string[]): void {
  let node: unknown = root
  for (const segment of path) {
    if (node === null || typeof node !== 'object') return
    node = (node as Record<PropertyKey, unknown>)[segment]
  }
  if (node === null || typeof node !== 'object') return
  for (const key of keys) delete (node as Record<string, unknown>)[key]
}

/**
 * Validates `input` (which is not modified) against a schema built from strict objects. Unknown
 * keys become warnings and are stripped before the data is produced.
 */
export function validate<S extends z.ZodType>(schema: S, input: unknown, file: string, prefix: readonly PropertyKey[] = []): Validated<z.output<S>> {
  const clone: unknown = structuredClone(input)
  const warnings: ConfigIssue[] = []
  let result = schema.safeParse(clone)
  if (!result.success) {
    const errors: ConfigIssue[] = []
    let unknown = false
    for (const issue of result.error.issues) {
      const path = keyPath([...prefix, ...issue.path])
      if (issue.code === 'unrecognized_keys') {
        unknown = true
        for (const key of issue.keys) warnings.push({ file, path: path ? `${path}.${key}` : key, message: 'unknown key, ignored' })
        deletePath(clone, issue.path, issue.keys)
      } else if (!errors.some((e) => e.path === path)) {
        // One problem per key: the first failed check says enough.
        errors.push({ file, path, message: describe(issue, clone) })
      }
    }
    if (errors.length > 0) return { errors, warnings }
    if (unknown) result = schema.safeParse(clone)
    if (!result.success) {
      return { errors: result.error.issues.map((issue) => ({ file, path: keyPath([...prefix, ...issue.path]), message: describe(issue, clone) })), warnings }
    }
  }
  return { data: result.data, errors: [], warnings }
}

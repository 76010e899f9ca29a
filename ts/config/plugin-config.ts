// Checks a connector's `[plugin_config]` against the JSON Schema its plugin exports
// (`iggy_connector_config_schema`, see docs/native-api.md), so `validate` and `run` refuse what
// the plugin's `open` would refuse before anything starts. Plugins without the symbol (0.4.0
// plugins) are not checked: they see their config at open, as before.
import Ajv2020, { type ErrorObject, type ValidateFunction } from 'ajv/dist/2020'

import type { ConfigIssue } from '../errors'
import { native } from '../native'
import type { StoredConfig } from './provider'

/** JSON Schema 2020-12, as schemars (the SDK's derive) writes it. */
export type JsonSchema = Record<string, unknown>

// schemars tags integers with their Rust width; serde refuses values outside it, so we do too.
const INTEGER_FORMATS: Record<string, readonly [number, number]> = {
  uint8: [0, 0xff],
  uint16: [0, 0xffff],
  uint32: [0, 0xffff_ffff],
  uint64: [0, Number.MAX_SAFE_INTEGER],
  uint: [0, Number.MAX_SAFE_INTEGER],
  int8: [-0x80, 0x7f],
  int16: [-0x8000, 0x7fff],
  int32: [-0x8000_0000, 0x7fff_ffff],
  int64: [Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER],
  int: [Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER],
}

function newAjv(): Ajv2020 {
  // verbose: errors carry their schema, which says what a key expects.
  const ajv = new Ajv2020({ allErrors: true, strict: false, verbose: true })
  for (const [name, [min, max]] of Object.entries(INTEGER_FORMATS)) {
    ajv.addFormat(name, { type: 'number', validate: (n: number) => Number.isInteger(n) && n >= min && n <= max })
  }
  for (const name of ['float', 'double']) ajv.addFormat(name, { type: 'number', validate: (n: number) => Number.isFinite(n) })
  return ajv
}

let shared: Ajv2020 | undefined
// One compiled validator per schema text: every connector of a plugin shares it.
const compiled = new Map<string, ValidateFunction>()

/** Parses and compiles a plugin's schema text; throws with the reason when it is not one. */
export function compilePluginSchema(text: string): ValidateFunction {
  const cached = compiled.get(text)
  if (cached) return cached
  const schema = JSON.parse(text) as JsonSchema
  shared ??= newAjv()
  const validate = shared.compile(schema)
  compiled.set(text, validate)
  return validate
}

function joinPath(base: string, pointer: string): string {
  const segments = pointer
    .split('/')
    .slice(1)
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'))
  return [base, ...segments].join('.')
}

function typeName(schema: unknown): string | undefined {
  if (schema === null || typeof schema !== 'object') return undefined
  const type = (schema as JsonSchema).type
  // TOML has no null: `Option<T>` is just "T, or leave the key out".
  const names = (Array.isArray(type) ? type : [type]).filter((t): t is string => typeof t === 'string' && t !== 'null')
  return names.length > 0 ? names.join(' or ') : undefined
}

function received(value: unknown): string {
  if (Array.isArray(value)) return 'array'
  if (value === null) return 'null'
  return typeof value === 'object' ? 'table' : typeof value
}

function valueAt(root: unknown, pointer: string): unknown {
  let node = root
  for (const segment of pointer.split('/').slice(1)) {
    if (node === null || typeof node !== 'object') return undefined
    node = (node as Record<string, unknown>)[segment.replace(/~1/g, '/').replace(/~0/g, '~')]
  }
  return node
}

/** The `null` branch of an `Option`: says nothing to a TOML user (TOML has no null). */
function nullBranch(e: ErrorObject): boolean {
  return e.keyword === 'type' && (e.params as { type: unknown }).type === 'null'
}

function describe(error: ErrorObject, input: unknown): { pointer: string; message: string } {
  const parent = error.parentSchema as JsonSchema | undefined
  // The SDK's schema types name what they expect under `x-expected` (doc comments replace descriptions).
  const expected = parent?.['x-expected'] ?? parent?.description
  const description = typeof expected === 'string' ? expected : undefined
  switch (error.keyword) {
    case 'required': {
      const key = (error.params as { missingProperty: string }).missingProperty
      const properties = parent?.properties as Record<string, unknown> | undefined
      const type = typeName(properties?.[key])
      return { pointer: `${error.instancePath}/${key}`, message: `missing required key${type ? ` (expected ${type})` : ''}` }
    }
    case 'additionalProperties':
    case 'unevaluatedProperties': {
      const params = error.params as { additionalProperty?: string; unevaluatedProperty?: string }
      const key = params.additionalProperty ?? params.unevaluatedProperty ?? ''
      return { pointer: `${error.instancePath}/${key}`, message: 'unknown key (the plugin refuses keys it does not know)' }
    }
    case 'type':
      return { pointer: error.instancePath, message: `expected ${typeName(parent) ?? String((error.params as { type: unknown }).type)}, received ${received(valueAt(input, error.instancePath))}` }
    case 'pattern':
      return { pointer: error.instancePath, message: `expected ${description ?? `a string matching ${(error.params as { pattern: string }).pattern}`}, received ${JSON.stringify(valueAt(input, error.instancePath))}` }
    case 'enum':
    case 'const': {
      const params = error.params as { allowedValues?: unknown[]; allowedValue?: unknown }
      const allowed = params.allowedValues ?? [params.allowedValue]
      return { pointer: error.instancePath, message: `expected one of ${allowed.map((v) => JSON.stringify(v)).join('|')}` }
    }
    case 'minItems':
    case 'maxItems': {
      const [min, max] = [parent?.minItems, parent?.maxItems]
      const count = (valueAt(input, error.instancePath) as unknown[] | undefined)?.length ?? 0
      const items = min !== undefined && min === max ? `${String(min)} items` : error.keyword === 'minItems' ? `at least ${String(min)} items` : `at most ${String(max)} items`
      return { pointer: error.instancePath, message: `expected ${items}, received ${count}` }
    }
    case 'format': {
      const format = (error.params as { format: string }).format
      const range = INTEGER_FORMATS[format]
      return { pointer: error.instancePath, message: range ? `expected an integer from ${range[0]} to ${range[1]} (${format})` : `expected ${format}` }
    }
    default:
      return { pointer: error.instancePath, message: error.message ?? `fails ${error.keyword}` }
  }
}

// anyOf/oneOf (how schemars writes `Option<Struct>` and enums) report every branch; the branch
// errors under the same key say more, so the combinator's own line is dropped when they exist.
const COMBINATORS = new Set(['anyOf', 'oneOf', 'if', 'not'])

/**
 * The problems of `pluginConfig` (the `[plugin_config]` table, `null` when absent) under a
 * plugin's schema, as ConfigIssues at `plugin_config.<key path>`, one per key.
 */
export function pluginConfigIssues(schemaText: string, pluginConfig: unknown, file: string): ConfigIssue[] {
  let validate: ValidateFunction
  try {
    validate = compilePluginSchema(schemaText)
  } catch (error) {
    return [{ file, path: 'plugin_config', message: `the plugin exports an unusable config schema: ${(error as Error).message}` }]
  }
  let input = pluginConfig ?? null
  // As the SDK's parse_config: a missing [plugin_config] is `null`, else `{}` when null fails.
  if (input === null) {
    if (validate(null)) return []
    input = {}
  }
  if (validate(input)) return []
  const errors = validate.errors ?? []
  const specific = errors.filter((e) => !COMBINATORS.has(e.keyword) && !nullBranch(e))
  const issues: ConfigIssue[] = []
  for (const error of specific.length > 0 ? specific : errors) {
    const { pointer, message } = describe(error, input)
    const path = joinPath('plugin_config', pointer)
    if (!issues.some((i) => i.path === path)) issues.push({ file, path, message })
  }
  return issues
}

/** What `checkPluginConfigs` needs of the native binding (a double in tests). */
export type InspectPlugin = (kind: 'source' | 'sink', path: string, configDir: string | null) => { configSchema?: string | null }

/**
 * Checks the `[plugin_config]` of every enabled connector whose plugin exports a schema. A
 * plugin that cannot be loaded is skipped here: `validate` reports it from its own inspection,
 * and the engine refuses it at start.
 */
export function checkPluginConfigs(connectors: readonly StoredConfig[], inspect: InspectPlugin = (k, p, d) => native().inspectPlugin(k, p, d)): ConfigIssue[] {
  const issues: ConfigIssue[] = []
  for (const stored of connectors) {
    // A TypeScript connector (`module`) has no plugin library, so no exported schema.
    if (!stored.config.enabled || stored.config.module !== undefined) continue
    let schema: string | null | undefined
    try {
      schema = inspect(stored.kind, stored.config.path, stored.configDir ?? null).configSchema
    } catch {
      continue
    }
    if (schema) issues.push(...pluginConfigIssues(schema, stored.config.plugin_config, stored.origin))
  }
  return issues
}

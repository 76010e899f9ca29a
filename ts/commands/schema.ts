// `iggy-connectors schema [--connector <file>]`: the JSON Schema (draft 2020-12) of the runtime
// config, or of one connector file with its plugin's `[plugin_config]` schema in place, for TOML
// editors (Taplo: see the README). Derived from the same zod schemas the loader validates with.
import { readFileSync } from 'node:fs'
import { dirname, resolve } from 'node:path'

import { z } from 'zod'

import { sinkConfigSchema, sourceConfigSchema } from '../config/connector-schema'
import type { InspectPlugin, JsonSchema } from '../config/plugin-config'
import { runtimeConfigSchema } from '../config/runtime-schema'
import { parseToml } from '../config/toml'
import { native } from '../native'

/** The zod schema as editors should see it: what may be written, not what it becomes. */
function toJsonSchema(schema: z.ZodType): JsonSchema {
  return z.toJSONSchema(schema, {
    io: 'input',
    // Preprocessing (case-insensitive enums, number → string) has no JSON Schema form.
    unrepresentable: 'any',
    override: (ctx) => {
      const source = ctx.zodSchema as unknown as z.ZodType
      if (source instanceof z.ZodPipe && source.out instanceof z.ZodEnum) {
        ctx.jsonSchema.type = 'string'
        ctx.jsonSchema.enum = [...source.out.options]
      }
      // zod names its own string checks as formats ("starts_with"); the pattern says it all.
      if (ctx.jsonSchema.format === 'starts_with') delete ctx.jsonSchema.format
    },
  }) as JsonSchema
}

export function runtimeConfigJsonSchema(): JsonSchema {
  const schema = toJsonSchema(runtimeConfigSchema)
  // `[connectors]` without `config_type` is the local provider (the loader fills it in first).
  const connectors = (schema.properties as Record<string, JsonSchema> | undefined)?.connectors
  for (const branch of (connectors?.oneOf as JsonSchema[] | undefined) ?? []) {
    const configType = (branch.properties as Record<string, JsonSchema> | undefined)?.config_type
    if (configType?.const === 'local' && Array.isArray(branch.required)) branch.required = branch.required.filter((key) => key !== 'config_type')
  }
  return { title: 'iggy-connectors runtime config (config.toml)', ...schema }
}

/** The plugin schema with its `$defs` renamed `plugin.<name>` (and its `$ref`s with them), to sit in the root's `$defs`. */
function prefixDefs(plugin: JsonSchema): { body: JsonSchema; defs: JsonSchema } {
  const prefix = 'plugin.'
  const rename = (node: unknown): unknown => {
    if (Array.isArray(node)) return node.map(rename)
    if (node === null || typeof node !== 'object') return node
    const out: JsonSchema = {}
    for (const [key, value] of Object.entries(node)) {
      out[key] = key === '$ref' && typeof value === 'string' && value.startsWith('#/$defs/') ? `#/$defs/${prefix}${value.slice('#/$defs/'.length)}` : rename(value)
    }
    return out
  }
  const { $defs, $schema: _dialect, ...body } = rename(plugin) as JsonSchema
  const defs: JsonSchema = {}
  for (const [name, def] of Object.entries(($defs as JsonSchema | undefined) ?? {})) defs[`${prefix}${name}`] = def
  return { body, defs }
}

/**
 * The schema of the connector file `file` (source or sink, from its `type`) with `plugin_config`
 * replaced by the schema its plugin exports. `pluginSchema` is undefined when the plugin could
 * not be loaded or exports none; the reason is in `note`.
 */
export function connectorJsonSchema(file: string, inspect: InspectPlugin = (k, p, d) => native().inspectPlugin(k, p, d)): { schema: JsonSchema; note?: string } {
  const path = resolve(file)
  const table = parseToml(readFileSync(path, 'utf8'), path) as Record<string, unknown>
  const kind = table.type === 'sink' ? 'sink' : table.type === 'source' ? 'source' : undefined
  if (kind === undefined) throw new Error(`${path}: type: expected "source" or "sink"`)
  const schema: JsonSchema = { title: `iggy-connectors ${kind} connector config`, ...toJsonSchema(kind === 'source' ? sourceConfigSchema : sinkConfigSchema) }
  if (typeof table.path !== 'string') return { schema, note: `${path}: path: missing, plugin_config is not described` }
  let pluginSchema: string | null | undefined
  try {
    pluginSchema = inspect(kind, table.path, dirname(path)).configSchema
  } catch (error) {
    return { schema, note: `${path}: path: ${(error as Error).message}; plugin_config is not described` }
  }
  if (!pluginSchema) return { schema, note: `${path}: the plugin at ${table.path} exports no config schema; plugin_config is not described` }
  const { body, defs } = prefixDefs(JSON.parse(pluginSchema) as JsonSchema)
  const properties = { ...(schema.properties as JsonSchema), plugin_config: body }
  const allDefs = { ...(schema.$defs as JsonSchema | undefined), ...defs }
  return { schema: { ...schema, properties, ...(Object.keys(allDefs).length > 0 ? { $defs: allDefs } : {}) } }
}

export function runSchema(connector: string | undefined, io: { stdout: NodeJS.WritableStream; stderr: NodeJS.WritableStream }): number {
  if (connector === undefined) {
    io.stdout.write(`${JSON.stringify(runtimeConfigJsonSchema(), null, 2)}\n`)
    return 0
  }
  let result
  try {
    result = connectorJsonSchema(connector)
  } catch (error) {
    io.stderr.write(`iggy-connectors schema: ${(error as Error).message}\n`)
    return 2
  }
  if (result.note) io.stderr.write(`iggy-connectors schema: ${result.note}\n`)
  io.stdout.write(`${JSON.stringify(result.schema, null, 2)}\n`)
  return 0
}

// Rendering of config objects and plugin configs for API responses.
import { stringify as toToml } from 'smol-toml'
import { stringify as toYaml } from 'yaml'

import type { PluginConfigFormat } from '../config/connector-schema'

/** TOML cannot hold nulls; drop them before rendering. */
function dropNulls(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(dropNulls)
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== null && v !== undefined).map(([k, v]) => [k, dropNulls(v)]))
  }
  return value
}

const CONTENT_TYPES: Readonly<Record<PluginConfigFormat, string>> = {
  json: 'application/json',
  yaml: 'application/yaml',
  toml: 'application/toml',
  text: 'text/plain',
}

/** Renders plugin_config as upstream: json | yaml | toml | text (text renders JSON). */
export function renderPluginConfig(config: unknown, format: PluginConfigFormat): { contentType: string; body: string } {
  let body: string
  switch (format) {
    case 'yaml':
      body = toYaml(config)
      break
    case 'toml':
      body = config !== null && typeof config === 'object' && !Array.isArray(config) ? toToml(dropNulls(config) as Record<string, unknown>) : JSON.stringify(config)
      break
    default:
      body = JSON.stringify(config)
  }
  return { contentType: CONTENT_TYPES[format], body }
}

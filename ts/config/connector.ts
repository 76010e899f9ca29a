// Parsing one connector config (a TOML table or an API object): per-connector env overrides,
// schema validation, transform validation.
import { ENV_PREFIX, type Env, type EnvValue, type LeafKind, envValueFor, suggest } from '../env'
import type { ConfigIssue } from '../errors'
import { redact } from '../redact'
import { validateTransforms } from '../transforms/validate'
import {
  CONNECTOR_ENV_FIELDS,
  type ConnectorConfig,
  type ConnectorKind,
  connectorConfigSchema,
  toConnectorConfig,
} from './connector-schema'
import type { Table } from './toml'
import { validate } from './validate'

export interface ParsedConnector {
  readonly kind: ConnectorKind
  readonly config: ConnectorConfig
}

export interface ConnectorParseResult {
  readonly parsed?: ParsedConnector
  readonly errors: ConfigIssue[]
  readonly warnings: ConfigIssue[]
  /** Env overrides applied, for logging (secrets masked). */
  readonly overrides: { variable: string; display: string }[]
}

/** The env prefix of one connector: IGGY_CONNECTORS_SINK_MY_KEY_. */
export function connectorEnvPrefix(kind: ConnectorKind, key: string): string {
  // Characters a shell variable name cannot hold become `_` (upstream only upper-cases).
  return `${ENV_PREFIX}${kind.toUpperCase()}_${key.toUpperCase().replace(/[^A-Z0-9_]/g, '_')}_`
}

function knownConnectorVars(kind: ConnectorKind): string[] {
  const names: string[] = Object.keys(CONNECTOR_ENV_FIELDS.common)
  const stream = kind === 'source' ? CONNECTOR_ENV_FIELDS.sourceStream : CONNECTOR_ENV_FIELDS.sinkStream
  for (let i = 0; i <= 9; i++) for (const field of Object.keys(stream)) names.push(`STREAMS_${i}_${field}`)
  names.push('PLUGIN_CONFIG_<FIELD>')
  return names
}

/**
 * Applies IGGY_CONNECTORS_{SINK|SOURCE}_{KEY}_* to a raw table in place. Stream fields
 * (`STREAMS_<i>_<FIELD>`, i in 0..9) are merged into element i (created when missing; unlike
 * upstream, the other elements and fields from the file are kept). `PLUGIN_CONFIG_<FIELD>` sets a
 * top-level, lower-cased plugin_config key with upstream value inference.
 */
export function applyConnectorEnv(raw: Table, kind: ConnectorKind, key: string, env: Env, file: string): Pick<ConnectorParseResult, 'warnings' | 'overrides'> {
  const prefix = connectorEnvPrefix(kind, key)
  const warnings: ConfigIssue[] = []
  const overrides: { variable: string; display: string }[] = []
  const streamFields: Readonly<Record<string, LeafKind>> = kind === 'source' ? CONNECTOR_ENV_FIELDS.sourceStream : CONNECTOR_ENV_FIELDS.sinkStream
  const common: Readonly<Record<string, LeafKind>> = CONNECTOR_ENV_FIELDS.common
  for (const [variable, value] of Object.entries(env)) {
    if (value === undefined || value === '' || !variable.toUpperCase().startsWith(prefix)) continue
    const rest = variable.slice(prefix.length)
    const upper = rest.toUpperCase()
    let display = value
    if (upper.startsWith('PLUGIN_CONFIG_') && upper !== 'PLUGIN_CONFIG_FORMAT') {
      const field = rest.slice('PLUGIN_CONFIG_'.length).toLowerCase()
      const current = raw.plugin_config
      const table: Record<string, EnvValue> =
        current !== null && typeof current === 'object' && !Array.isArray(current) ? (current as Record<string, EnvValue>) : {}
      table[field] = envValueFor('any', value)
      raw.plugin_config = table
      display = redact({ [field]: value })[field] ?? value
    } else if (common[upper] !== undefined) {
      raw[upper.toLowerCase()] = envValueFor(common[upper] as LeafKind, value)
    } else {
      const m = /^STREAMS_(\d)_(.+)$/.exec(upper)
      const fieldKind = m ? streamFields[m[2] as string] : undefined
      if (!m || fieldKind === undefined) {
        const hints = suggest(upper, knownConnectorVars(kind)).map((name) => prefix + name)
        warnings.push({
          file: 'env',
          path: variable,
          message: `unknown variable for ${kind} "${key}" (from ${file}), ignored${hints.length ? `; did you mean ${hints.join(', ')}?` : ''}`,
        })
        continue
      }
      const index = Number(m[1])
      const streams = Array.isArray(raw.streams) ? (raw.streams as unknown[]) : []
      while (streams.length <= index) streams.push({})
      const element = streams[index]
      const target: Table = element !== null && typeof element === 'object' ? (element as Table) : {}
      target[(m[2] as string).toLowerCase()] = envValueFor(fieldKind, value)
      streams[index] = target
      raw.streams = streams
    }
    overrides.push({ variable, display })
  }
  return { warnings, overrides }
}

/**
 * Parses a connector table. `kind` is taken from the table's `type` (files) or forced (HTTP
 * provider objects, which carry no `type`). Env overrides apply only when `env` is given.
 */
export function parseConnector(raw: Table, file: string, options: { env?: Env; kind?: ConnectorKind } = {}): ConnectorParseResult {
  const table = structuredClone(raw)
  if (options.kind !== undefined && table.type === undefined) table.type = options.kind
  // Upstream API objects use null for absent optional fields; TOML never has nulls.
  for (const [k, v] of Object.entries(table)) if (v === null) delete table[k]
  const warnings: ConfigIssue[] = []
  let overrides: { variable: string; display: string }[] = []
  const type = table.type
  if ((type === 'source' || type === 'sink') && typeof table.key === 'string' && options.env !== undefined) {
    const applied = applyConnectorEnv(table, type, table.key, options.env, file)
    warnings.push(...applied.warnings)
    overrides = applied.overrides
  }
  const result = validate(connectorConfigSchema, table, file)
  warnings.push(...result.warnings)
  if (result.data === undefined) return { errors: result.errors, warnings, overrides }
  const parsed = toConnectorConfig(result.data)
  const transforms = validateTransforms(parsed.config.transforms, file)
  warnings.push(...transforms.warnings)
  if (transforms.errors.length > 0) return { errors: transforms.errors, warnings, overrides }
  return { parsed, errors: [], warnings, overrides }
}

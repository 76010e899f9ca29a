// Connector config files (one TOML file per connector version), upstream fields plus our
// extensions: per-stream create_stream/create_topic/topic_partitions/partitioning for sources,
// [retry] and [dead_letter] for sources and sinks.
import { z } from 'zod'

import { ciEnum, duration, positiveU32, stringish, u32, u64 } from './schema-common'

export const SCHEMAS = ['json', 'raw', 'text', 'proto', 'flat_buffer'] as const
export type StreamSchema = (typeof SCHEMAS)[number]
export const PLUGIN_CONFIG_FORMATS = ['json', 'yaml', 'toml', 'text'] as const
export type PluginConfigFormat = (typeof PLUGIN_CONFIG_FORMATS)[number]
export type ConnectorKind = 'source' | 'sink'
export const ISOLATIONS = ['none', 'worker'] as const
export type Isolation = (typeof ISOLATIONS)[number]

const schema = ciEnum(SCHEMAS)

const sourceStream = z.strictObject({
  stream: stringish,
  topic: stringish,
  schema,
  batch_length: positiveU32.default(1000),
  linger_time: duration.default('5ms'),
  create_stream: z.boolean().optional(),
  create_topic: z.boolean().optional(),
  topic_partitions: positiveU32.optional(),
  partitioning: z
    .string()
    .regex(/^(balanced|messages_key|partition_id:\d+)$/, 'expected "balanced", "messages_key" or "partition_id:<n>"')
    .optional(),
})

const sinkStream = z.strictObject({
  stream: stringish,
  topics: z.array(stringish).min(1, 'expected at least one topic'),
  schema,
  batch_length: positiveU32.default(1000),
  poll_interval: duration.default('5ms'),
  consumer_group: z.string().nullish(),
})

const retry = z.strictObject({
  initial_backoff: duration.default('100ms'),
  max_backoff: duration.default('30s'),
  multiplier: z.number().min(1).default(2),
  max_attempts: u32.default(0),
})

const deadLetter = z.strictObject({ stream: stringish, topic: stringish })

const transformTable = z.record(z.string(), z.record(z.string(), z.unknown()).nullable())

const common = {
  // Keys name state files and API paths: no whitespace or path separators.
  key: z.string().regex(/^[^\s/\\\p{Cc}]+$/u, 'expected a non-empty key without whitespace, control characters, "/" or "\\"'),
  enabled: z.boolean(),
  version: u64,
  name: z.string(),
  path: z.string().min(1, 'expected a plugin library path').optional(),
  // Ours: a connector written in TypeScript/JavaScript instead of a plugin library.
  module: z.string().min(1, 'expected a module path or package name').optional(),
  isolation: ciEnum(ISOLATIONS).optional(),
  plugin_config_format: ciEnum(PLUGIN_CONFIG_FORMATS).nullish(),
  plugin_config: z.unknown().optional(),
  transforms: transformTable.nullish(),
  verbose: z.boolean().nullish(),
  retry: retry.nullish(),
}

export const sourceConfigSchema = z.strictObject({
  type: z.literal('source'),
  ...common,
  // With no stream a source would read (and Ack, and maybe delete) rows it sends nowhere.
  streams: z.array(sourceStream).min(1, 'expected at least one [[streams]] entry: a source without one would discard everything it reads'),
  dead_letter: deadLetter.nullish(),
})

export const sinkConfigSchema = z.strictObject({
  type: z.literal('sink'),
  ...common,
  streams: z.array(sinkStream),
  dead_letter: deadLetter.nullish(),
})

/** Exactly one of `path` (a plugin library) and `module` (a TypeScript/JavaScript connector). */
function onePlugin(config: { path?: string | undefined; module?: string | undefined; isolation?: string | undefined }, ctx: z.core.$RefinementCtx): void {
  // Runs even when other keys failed (so a missing path is reported with them): the value may
  // not be an object at all.
  if (typeof config !== 'object' || config === null) return
  if (config.path !== undefined && config.module !== undefined) {
    ctx.addIssue({ code: 'custom', path: ['module'], message: 'give either path (a plugin library) or module (a TypeScript/JavaScript connector), not both' })
  } else if (config.path === undefined && config.module === undefined) {
    ctx.addIssue({ code: 'custom', path: ['path'], message: 'missing required key: give path (a plugin library) or module (a TypeScript/JavaScript connector)' })
  } else if (config.isolation !== undefined && config.module === undefined) {
    ctx.addIssue({ code: 'custom', path: ['isolation'], message: 'isolation applies to module connectors only; a plugin library runs in the engine' })
  }
}

export const connectorConfigSchema = z.discriminatedUnion('type', [sourceConfigSchema.superRefine(onePlugin, { when: () => true }), sinkConfigSchema.superRefine(onePlugin, { when: () => true })])

export type SourceStreamConfig = z.output<typeof sourceStream>
export type SinkStreamConfig = z.output<typeof sinkStream>
export type ParsedSourceConfig = z.output<typeof sourceConfigSchema>
export type ParsedSinkConfig = z.output<typeof sinkConfigSchema>
export type ParsedConnectorConfig = z.output<typeof connectorConfigSchema>
/** A connector as written: the keys of a connector file (`type`, `key`, `streams`, `plugin_config`…). */
export type ConnectorConfigInput = z.input<typeof connectorConfigSchema>

/** A transform table as written in the file (`enabled` included). */
export type TransformTable = Record<string, unknown>

interface ConnectorConfigBase {
  key: string
  enabled: boolean
  version: number
  name: string
  /** The plugin library; '' for a module connector. */
  path: string
  /** A TypeScript/JavaScript connector module (relative to the connector file) or package, instead of `path`. */
  module?: string
  /** `worker`: run the module connector in a worker_threads worker. */
  isolation?: Isolation
  /** `[transforms.<name>]` tables in file order; `null` when there are none. */
  transforms: Record<string, TransformTable | null> | null
  plugin_config_format: PluginConfigFormat | null
  /** The `[plugin_config]` table, `null` when absent (the plugin then receives `null`). */
  plugin_config: unknown
  verbose: boolean
  retry?: { initial_backoff: string; max_backoff: string; multiplier: number; max_attempts: number }
}

/** A source connector config as the API and providers show it (upstream field names). */
export interface SourceConfig extends ConnectorConfigBase {
  streams: SourceStreamConfig[]
  dead_letter?: { stream: string; topic: string }
}

/** A sink connector config as the API and providers show it (upstream field names). */
export interface SinkConfig extends ConnectorConfigBase {
  streams: SinkStreamConfig[]
  dead_letter?: { stream: string; topic: string }
}

export type ConnectorConfig = SourceConfig | SinkConfig

/** Normalises a parsed file into the config object shape (nulls for absent optional fields). */
export function toConnectorConfig(parsed: ParsedConnectorConfig): { kind: ConnectorKind; config: ConnectorConfig } {
  const base: ConnectorConfigBase = {
    key: parsed.key,
    enabled: parsed.enabled,
    version: parsed.version,
    name: parsed.name,
    path: parsed.path ?? '',
    ...(parsed.module === undefined ? {} : { module: parsed.module }),
    ...(parsed.isolation === undefined ? {} : { isolation: parsed.isolation }),
    transforms: parsed.transforms ?? null,
    plugin_config_format: parsed.plugin_config_format ?? null,
    plugin_config: parsed.plugin_config ?? null,
    verbose: parsed.verbose ?? false,
    ...(parsed.retry ? { retry: parsed.retry } : {}),
  }
  const deadLetterTable = parsed.dead_letter ? { dead_letter: parsed.dead_letter } : {}
  if (parsed.type === 'source') return { kind: 'source', config: { ...base, streams: parsed.streams, ...deadLetterTable } }
  return {
    kind: 'sink',
    config: { ...base, streams: parsed.streams, ...deadLetterTable },
  }
}

/** Per-connector env leaves (below IGGY_CONNECTORS_{SINK|SOURCE}_{KEY}_) and their kinds. */
export const CONNECTOR_ENV_FIELDS = {
  common: { KEY: 'string', ENABLED: 'boolean', VERSION: 'number', NAME: 'string', PATH: 'string', MODULE: 'string', ISOLATION: 'string', PLUGIN_CONFIG_FORMAT: 'string', VERBOSE: 'boolean' },
  sourceStream: {
    STREAM: 'string',
    TOPIC: 'string',
    SCHEMA: 'string',
    BATCH_LENGTH: 'number',
    LINGER_TIME: 'string',
    CREATE_STREAM: 'boolean',
    CREATE_TOPIC: 'boolean',
    TOPIC_PARTITIONS: 'number',
    PARTITIONING: 'string',
  },
  sinkStream: { STREAM: 'string', TOPICS: 'array', SCHEMA: 'string', BATCH_LENGTH: 'number', POLL_INTERVAL: 'string', CONSUMER_GROUP: 'string' },
} as const

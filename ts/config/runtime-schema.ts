// The runtime config (`config.toml`): every upstream section and key with upstream defaults,
// plus `[logging]` (as at upstream HEAD, with a `level` of ours).
import { z } from 'zod'

import { ciEnum, duration, u32 } from './schema-common'

const HTTP_METHODS = ['GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'HEAD', 'OPTIONS', 'CONNECT', 'TRACE'] as const

const cors = z
  .strictObject({
    enabled: z.boolean().default(false),
    allowed_methods: z
      .array(z.preprocess((v) => (typeof v === 'string' ? v.toUpperCase() : v), z.enum(HTTP_METHODS)))
      .default(['GET', 'POST', 'PUT', 'DELETE']),
    allowed_origins: z.array(z.string()).default(['*']),
    allowed_headers: z.array(z.string()).default(['content-type']),
    exposed_headers: z.array(z.string()).default(['']),
    allow_credentials: z.boolean().default(false),
    allow_private_network: z.boolean().default(false),
  })
  .prefault({})

const http = z
  .strictObject({
    enabled: z.boolean().default(true),
    address: z.string().default('127.0.0.1:8081'),
    api_key: z.string().default(''),
    // Extra names a client may send in the Host header (ext); see the API's DNS-rebinding check.
    allowed_hosts: z.array(z.string().min(1, 'expected a host name')).default([]),
    cors,
    metrics: z
      .strictObject({ enabled: z.boolean().default(false), endpoint: z.string().startsWith('/').default('/metrics') })
      .prefault({}),
    tls: z
      .strictObject({
        enabled: z.boolean().default(false),
        cert_file: z.string().default('core/certs/iggy_cert.pem'),
        key_file: z.string().default('core/certs/iggy_key.pem'),
      })
      .prefault({}),
  })
  .prefault({})

const iggy = z
  .strictObject({
    address: z.string().default('localhost:8090'),
    username: z.string().default('iggy'),
    password: z.string().default('iggy'),
    token: z.string().default(''),
    tls: z
      .strictObject({
        enabled: z.boolean().default(false),
        ca_file: z.string().default('core/certs/iggy_ca_cert.pem'),
        domain: z.string().default(''),
      })
      .prefault({}),
  })
  .prefault({})

const retry = z.strictObject({
  enabled: z.boolean(),
  max_attempts: u32,
  initial_backoff: duration,
  max_backoff: duration,
  backoff_multiplier: z.number().positive(),
})

const URL_TEMPLATE_KEYS = [
  'create_sink',
  'create_source',
  'get_active_configs',
  'get_active_versions',
  'set_active_sink',
  'set_active_source',
  'get_sink_configs',
  'get_source_configs',
  'get_sink_config',
  'get_source_config',
  'get_active_sink_config',
  'get_active_source_config',
  'delete_sink_config',
  'delete_source_config',
] as const
export type UrlTemplateKey = (typeof URL_TEMPLATE_KEYS)[number]

const localProvider = z.strictObject({
  config_type: z.literal('local'),
  config_dir: z.string().default(''),
})

const httpProvider = z.strictObject({
  config_type: z.literal('http'),
  base_url: z.string().url(),
  timeout: duration.default('10s'),
  request_headers: z.record(z.string(), z.string()).default({}),
  url_templates: z.partialRecord(z.enum(URL_TEMPLATE_KEYS), z.string()).default({}),
  response: z.strictObject({ data_path: z.string().optional(), error_path: z.string().optional() }).default({}),
  retry: retry.default({ enabled: true, max_attempts: 3, initial_backoff: '1s', max_backoff: '30s', backoff_multiplier: 2 }),
})

const connectors = z.preprocess(
  (value) =>
    value !== null && typeof value === 'object' && !('config_type' in value) ? { config_type: 'local', ...value } : value,
  z.discriminatedUnion('config_type', [localProvider, httpProvider]),
)

const otlp = z
  .strictObject({ transport: ciEnum(['grpc', 'http']).default('grpc'), endpoint: z.string().default('http://localhost:4317') })
  .prefault({})

export const runtimeConfigSchema = z.strictObject({
  http,
  iggy,
  state: z.strictObject({ path: z.string().default('local_state') }).prefault({}),
  connectors: connectors.default({ config_type: 'local', config_dir: '' }),
  logging: z
    .strictObject({ format: ciEnum(['text', 'json']).default('text'), level: ciEnum(['trace', 'debug', 'info', 'warn', 'error']).optional() })
    .prefault({}),
  telemetry: z
    .strictObject({
      enabled: z.boolean().default(false),
      service_name: z.string().default('iggy-connectors'),
      logs: otlp,
      traces: otlp,
    })
    .prefault({}),
})

/** The validated runtime config, upstream key names, defaults filled in. */
export type RuntimeConfig = z.output<typeof runtimeConfigSchema>
/** What a user may write: every section and key optional. */
export type RuntimeConfigInput = z.input<typeof runtimeConfigSchema>
export type LocalProviderConfig = z.output<typeof localProvider>
export type HttpProviderConfig = z.output<typeof httpProvider>

/** Leaves settable from IGGY_CONNECTORS_* variables, with the kind of value each expects. */
export const RUNTIME_ENV_LEAVES: ReadonlyArray<readonly [string, 'string' | 'number' | 'boolean' | 'array']> = [
  ['http.enabled', 'boolean'],
  ['http.address', 'string'],
  ['http.api_key', 'string'],
  ['http.allowed_hosts', 'array'],
  ['http.cors.enabled', 'boolean'],
  ['http.cors.allowed_methods', 'array'],
  ['http.cors.allowed_origins', 'array'],
  ['http.cors.allowed_headers', 'array'],
  ['http.cors.exposed_headers', 'array'],
  ['http.cors.allow_credentials', 'boolean'],
  ['http.cors.allow_private_network', 'boolean'],
  ['http.tls.enabled', 'boolean'],
  ['http.tls.cert_file', 'string'],
  ['http.tls.key_file', 'string'],
  ['http.metrics.enabled', 'boolean'],
  ['http.metrics.endpoint', 'string'],
  ['iggy.address', 'string'],
  ['iggy.username', 'string'],
  ['iggy.password', 'string'],
  ['iggy.token', 'string'],
  ['iggy.tls.enabled', 'boolean'],
  ['iggy.tls.ca_file', 'string'],
  ['iggy.tls.domain', 'string'],
  ['state.path', 'string'],
  ['connectors.config_type', 'string'],
  ['connectors.config_dir', 'string'],
  ['connectors.base_url', 'string'],
  ['connectors.timeout', 'string'],
  ['connectors.response.data_path', 'string'],
  ['connectors.response.error_path', 'string'],
  ['connectors.retry.enabled', 'boolean'],
  ['connectors.retry.max_attempts', 'number'],
  ['connectors.retry.initial_backoff', 'string'],
  ['connectors.retry.max_backoff', 'string'],
  ['connectors.retry.backoff_multiplier', 'number'],
  ['logging.format', 'string'],
  ['logging.level', 'string'],
  ['telemetry.enabled', 'boolean'],
  ['telemetry.service_name', 'string'],
  ['telemetry.logs.transport', 'string'],
  ['telemetry.logs.endpoint', 'string'],
  ['telemetry.traces.transport', 'string'],
  ['telemetry.traces.endpoint', 'string'],
]

/** Env leaves whose values are masked in logs. */
export const SECRET_ENV_LEAVES = new Set(['http.api_key', 'iggy.password', 'iggy.token'])

// Turns the validated config into the native EngineOptions: durations → ms, plugin_config → JSON,
// transforms in file order, token `file:` resolved, paths absolute.
import { readFileSync } from 'node:fs'
import { homedir } from 'node:os'
import { resolve } from 'node:path'

import { parseDurationMs } from '../duration'
import { ConfigError, type ConfigIssue } from '../errors'
import type { EngineOptions, IggyConnectionOptions, RetryOptions, SinkConnectorOptions, SourceConnectorOptions, TransformOptions } from '../native'
import { validateTransforms } from '../transforms/validate'
import type { ConnectorConfig, SinkConfig, SourceConfig } from './connector-schema'
import type { StoredConfig } from './provider'
import type { RuntimeConfig } from './runtime-schema'

const ms = (text: string): number => parseDurationMs(text) ?? 0

/** Resolves `iggy.token`: `file:<path>` (with `~/` expanded) is read and trimmed; must not be empty. */
export function resolveToken(token: string): string {
  if (!token.startsWith('file:')) return token.trim()
  let path = token.slice('file:'.length).trim()
  if (path === '~' || path.startsWith('~/')) path = `${homedir()}${path.slice(1)}`
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch (error) {
    throw new ConfigError([{ file: 'runtime config', path: 'iggy.token', message: `cannot read token file ${path}: ${(error as Error).message}` }])
  }
  const value = text.trim()
  if (value === '') throw new ConfigError([{ file: 'runtime config', path: 'iggy.token', message: `token file ${path} is empty` }])
  return value
}

export function bindingifyIggy(iggy: RuntimeConfig['iggy']): IggyConnectionOptions {
  const options: IggyConnectionOptions = { address: iggy.address }
  const token = resolveToken(iggy.token)
  if (token !== '') options.token = token
  else if (iggy.username === '' || iggy.password === '') {
    throw new ConfigError([{ file: 'runtime config', path: 'iggy', message: 'missing Iggy credentials: set token, or username and password' }])
  } else {
    options.username = iggy.username
    options.password = iggy.password
  }
  if (iggy.tls.enabled) {
    if (iggy.tls.ca_file === '') throw new ConfigError([{ file: 'runtime config', path: 'iggy.tls.ca_file', message: 'required when TLS is enabled' }])
    options.tlsEnabled = true
    options.tlsCaFile = iggy.tls.ca_file
    if (iggy.tls.domain !== '') options.tlsDomain = iggy.tls.domain
  }
  return options
}

function bindingifyRetry(retry: ConnectorConfig['retry']): RetryOptions | undefined {
  if (!retry) return undefined
  return { initialBackoffMs: ms(retry.initial_backoff), maxBackoffMs: ms(retry.max_backoff), multiplier: retry.multiplier, maxAttempts: retry.max_attempts }
}

/** Custom transforms a connector needs bound before it starts: name, table, module base dir. */
export interface CustomTransformBinding {
  readonly kind: 'source' | 'sink'
  readonly key: string
  readonly name: string
  readonly config: Record<string, unknown>
  readonly baseDir: string
}

function bindingifyTransforms(stored: StoredConfig, isRegistered: (name: string) => boolean, custom: CustomTransformBinding[], issues: ConfigIssue[]): TransformOptions[] {
  const { transforms, errors } = validateTransforms(stored.config.transforms, stored.origin)
  issues.push(...errors)
  const out: TransformOptions[] = []
  for (const t of transforms) {
    if (!t.builtin) {
      if (t.module === undefined && !isRegistered(t.type)) {
        issues.push({
          file: stored.origin,
          path: `transforms.${t.type}`,
          message: `unknown transform "${t.type}": not built in (add_fields, delete_fields, filter_fields, update_fields), not registered with registerTransform(), and no module = "<path>" given`,
        })
        continue
      }
      custom.push({ kind: stored.kind, key: stored.config.key, name: t.type, config: t.config, baseDir: stored.configDir ?? process.cwd() })
    }
    out.push({ type: t.type, configJson: JSON.stringify(t.config) })
  }
  return out
}

export function bindingifySource(stored: StoredConfig<SourceConfig>, isRegistered: (name: string) => boolean, custom: CustomTransformBinding[], issues: ConfigIssue[]): SourceConnectorOptions {
  const c = stored.config
  const options: SourceConnectorOptions = {
    key: c.key,
    name: c.name,
    path: c.path,
    version: c.version,
    pluginConfigJson: JSON.stringify(c.plugin_config ?? null),
    transforms: bindingifyTransforms(stored, isRegistered, custom, issues),
    verbose: c.verbose,
    streams: c.streams.map((s) => ({
      stream: s.stream,
      topic: s.topic,
      schema: s.schema,
      batchLength: s.batch_length,
      lingerTimeMs: ms(s.linger_time),
      ...(s.partitioning === undefined ? {} : { partitioning: s.partitioning }),
      ...(s.create_stream === undefined ? {} : { createStream: s.create_stream }),
      ...(s.create_topic === undefined ? {} : { createTopic: s.create_topic }),
      ...(s.topic_partitions === undefined ? {} : { topicPartitions: s.topic_partitions }),
    })),
  }
  if (stored.configDir !== undefined) options.configDir = stored.configDir
  const retry = bindingifyRetry(c.retry)
  if (retry) options.retry = retry
  if (c.dead_letter) options.deadLetter = { stream: c.dead_letter.stream, topic: c.dead_letter.topic }
  return options
}

export function bindingifySink(stored: StoredConfig<SinkConfig>, isRegistered: (name: string) => boolean, custom: CustomTransformBinding[], issues: ConfigIssue[]): SinkConnectorOptions {
  const c = stored.config
  const options: SinkConnectorOptions = {
    key: c.key,
    name: c.name,
    path: c.path,
    version: c.version,
    pluginConfigJson: JSON.stringify(c.plugin_config ?? null),
    transforms: bindingifyTransforms(stored, isRegistered, custom, issues),
    verbose: c.verbose,
    streams: c.streams.map((s) => ({
      stream: s.stream,
      topics: s.topics,
      schema: s.schema,
      batchLength: s.batch_length,
      pollIntervalMs: ms(s.poll_interval),
      consumerGroup: s.consumer_group ?? `iggy-connect-sink-${c.key}`,
    })),
  }
  if (stored.configDir !== undefined) options.configDir = stored.configDir
  const retry = bindingifyRetry(c.retry)
  if (retry) options.retry = retry
  if (c.dead_letter) options.deadLetter = { stream: c.dead_letter.stream, topic: c.dead_letter.topic }
  return options
}

export interface BindingifyResult {
  readonly options: EngineOptions
  readonly custom: CustomTransformBinding[]
}

/** Builds EngineOptions from the enabled active configs. Throws one ConfigError for every problem. */
export function bindingify(
  runtime: RuntimeConfig,
  active: { sources: StoredConfig<SourceConfig>[]; sinks: StoredConfig<SinkConfig>[] },
  isRegistered: (name: string) => boolean = () => false,
): BindingifyResult {
  const issues: ConfigIssue[] = []
  const custom: CustomTransformBinding[] = []
  let iggy: IggyConnectionOptions = { address: runtime.iggy.address }
  try {
    iggy = bindingifyIggy(runtime.iggy)
  } catch (error) {
    if (error instanceof ConfigError) issues.push(...error.issues)
    else throw error
  }
  const sources = active.sources.filter((s) => s.config.enabled).map((s) => bindingifySource(s, isRegistered, custom, issues))
  const sinks = active.sinks.filter((s) => s.config.enabled).map((s) => bindingifySink(s, isRegistered, custom, issues))
  if (issues.length > 0) throw new ConfigError(issues)
  return { options: { iggy, statePath: resolve(runtime.state.path), sources, sinks }, custom }
}

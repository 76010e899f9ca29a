// Public API of the iggy-connectors package.
import { native } from './native'

export { VERSION } from './version'
export {
  ConnectorsRuntime,
  type ConnectorsRuntimeOptions,
  type EngineFactory,
  type EngineLike,
  type RunningConnector,
  type RuntimeEvents,
  type RuntimeState,
  type StatusEvent,
} from './runtime'
export type {
  BatchTransform,
  BatchTransformFunction,
  MessageTransform,
  Transform,
  TransformContext,
  TransformFunction,
  TransformModule,
} from './transforms/registry'
export { Batch, BatchMessage, BatchResultBuilder, type BatchResult, type MessageMeta } from './batch'
export type {
  ConnectorContext,
  ConnectorModule,
  ConsumeResult,
  PollResult,
  Rejection,
  SinkBatch,
  SinkConnector,
  SinkFactory,
  SinkMessage,
  SourceConnector,
  SourceFactory,
  SourceMessage,
} from './connectors/types'
export type { SinkImpl, SourceImpl } from './connectors/host'
export { idToUuid, messageIdFromKey } from './connectors/ids'
export { ApiError, ConfigError, ProviderError, type ConfigIssue } from './errors'
export type { LogFormat, LogLevel, LogRecord, LogSink } from './logger'
export { createLogWriter, formatRecord } from './logger'
export type { RuntimeConfig, RuntimeConfigInput } from './config/runtime-schema'
export type { ConnectorConfig, ConnectorConfigInput, ConnectorKind, SinkConfig, SourceConfig } from './config/connector-schema'
export type { ConnectorConfigProvider, StoredConfig } from './config/provider'
export { LocalConfigProvider } from './config/local-provider'
export { HttpConfigProvider } from './config/http-provider'
export { loadConfiguration, type LoadedConfiguration } from './config/index'
export { bindingify } from './config/bindingify'
export type { BatchColumns, BatchResultColumns, ConnectorStats, EngineOptions, JsBatch, JsMessage, LogEntry, PluginInfo, TestBrokerOptions } from './native'

/** The version of the native engine compiled into the addon. */
export function engineVersion(): string {
  return native().engineVersion()
}

/** The plugin ABI the native engine speaks. */
export function pluginAbi(): string {
  return native().pluginAbi()
}

/**
 * Starts the embedded development/test broker (NOT for production): an in-process Iggy-compatible
 * server. `address` defaults to 127.0.0.1:0 (a random port); read the bound one from `.address`.
 */
export async function startTestBroker(options?: import('./native').TestBrokerOptions): Promise<import('./native').NativeTestBroker> {
  return native().TestBroker.start(options ?? null)
}

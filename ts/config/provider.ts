// The connector config provider interface (local directory or remote HTTP API).
import type { ConnectorConfig, ConnectorKind, SinkConfig, SourceConfig } from './connector-schema'

/** A config version as stored by a provider. */
export interface StoredConfig<C extends ConnectorConfig = ConnectorConfig> {
  readonly kind: ConnectorKind
  readonly config: C
  /** Where it came from: a file path or a URL. */
  readonly origin: string
  /** Directory relative plugin paths are also resolved against (local provider). */
  readonly configDir?: string
  readonly createdAt: Date
}

export interface ActiveConfigs {
  readonly sources: StoredConfig<SourceConfig>[]
  readonly sinks: StoredConfig<SinkConfig>[]
}

/** Body of POST /{kind}/{key}/configs (upstream CreateSinkConfig / CreateSourceConfig). */
export interface CreateConnectorConfig {
  enabled: boolean
  name: string
  path: string
  streams: unknown[]
  transforms?: Record<string, Record<string, unknown> | null> | null
  plugin_config_format?: string | null
  plugin_config?: unknown
  verbose?: boolean | null
  [extension: string]: unknown
}

export interface ConnectorConfigProvider {
  /** The active config of every connector (disabled ones included; the runtime skips them). */
  getActiveConfigs(): Promise<ActiveConfigs>
  getConfigs(kind: ConnectorKind, key: string): Promise<StoredConfig[]>
  /** A version, or without one: the highest version (local) / the active one (HTTP). */
  getConfig(kind: ConnectorKind, key: string, version?: number): Promise<StoredConfig | undefined>
  createConfig(kind: ConnectorKind, key: string, body: CreateConnectorConfig): Promise<StoredConfig>
  setActiveVersion(kind: ConnectorKind, key: string, version: number): Promise<void>
  deleteConfig(kind: ConnectorKind, key: string, version?: number): Promise<void>
}

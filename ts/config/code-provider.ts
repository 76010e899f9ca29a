// Connectors defined in the embedding program (`new ConnectorsRuntime({ connectors: [...] })`):
// the same keys as a connector file, validated the same way, served next to the configured
// provider's. They have one version and change only with the program, so the config routes
// refuse to edit them (naming the key) instead of writing a file nobody reads.
import type { Env } from '../env'
import { ApiError, ConfigError, type ConfigIssue } from '../errors'
import { parseConnector } from './connector'
import type { ConnectorConfigInput, ConnectorKind, SinkConfig, SourceConfig } from './connector-schema'
import type { ActiveConfigs, ConnectorConfigProvider, CreateConnectorConfig, StoredConfig } from './provider'
import type { Table } from './toml'

/** Where the n-th connector of the `connectors` option comes from, in messages. */
export function codeOrigin(index: number): string {
  return `connectors[${index}] (code)`
}

/** Parses the `connectors` option; every problem of every entry is collected, any error throws. */
export function parseCodeConnectors(
  inputs: readonly ConnectorConfigInput[],
  env: Env,
  cwd: string,
): { stored: StoredConfig[]; warnings: ConfigIssue[]; overrides: { variable: string; display: string }[] } {
  const errors: ConfigIssue[] = []
  const warnings: ConfigIssue[] = []
  const overrides: { variable: string; display: string }[] = []
  const stored: StoredConfig[] = []
  const seen = new Map<string, string>()
  const createdAt = new Date()
  inputs.forEach((input, index) => {
    const origin = codeOrigin(index)
    if (input === null || typeof input !== 'object' || Array.isArray(input)) {
      errors.push({ file: origin, path: '', message: 'expected a connector object (the keys of a connector file)' })
      return
    }
    const result = parseConnector(input as unknown as Table, origin, { env })
    errors.push(...result.errors)
    warnings.push(...result.warnings)
    overrides.push(...result.overrides)
    if (result.parsed === undefined) return
    const { kind, config } = result.parsed
    const id = `${kind}:${config.key}`
    const earlier = seen.get(id)
    if (earlier !== undefined) {
      errors.push({ file: origin, path: 'key', message: `${kind} "${config.key}" is already defined by ${earlier}` })
      return
    }
    seen.set(id, origin)
    // Relative `module`/`path` values resolve against the program's working directory.
    stored.push({ kind, config, origin, configDir: cwd, createdAt })
  })
  if (errors.length > 0) throw new ConfigError(errors)
  return { stored, warnings, overrides }
}

/** The configured provider plus the connectors defined in code. */
export class CodeConnectorsProvider implements ConnectorConfigProvider {
  readonly #inner: ConnectorConfigProvider
  readonly #code: Map<string, StoredConfig>

  constructor(inner: ConnectorConfigProvider, code: readonly StoredConfig[]) {
    this.#inner = inner
    this.#code = new Map(code.map((c) => [`${c.kind}:${c.config.key}`, c]))
  }

  #find(kind: ConnectorKind, key: string): StoredConfig | undefined {
    return this.#code.get(`${kind}:${key}`)
  }

  #refuseEdit(kind: ConnectorKind, key: string): void {
    const defined = this.#find(kind, key)
    if (defined === undefined) return
    throw new ApiError(409, `${kind}_defined_in_code`, `${kind} "${key}" is defined in code (${defined.origin}); change it in the program that starts the runtime`)
  }

  /** The provider's active configs plus the code ones; a key defined in both is an error. */
  async getActiveConfigs(): Promise<ActiveConfigs> {
    const active = await this.#inner.getActiveConfigs()
    const clashes: ConfigIssue[] = []
    for (const list of [active.sources, active.sinks] as StoredConfig[][]) {
      for (const c of list) {
        const code = this.#find(c.kind, c.config.key)
        if (code !== undefined) clashes.push({ file: code.origin, path: 'key', message: `${c.kind} "${c.config.key}" is also defined by ${c.origin}; keys must be unique` })
      }
    }
    if (clashes.length > 0) throw new ConfigError(clashes)
    const code = [...this.#code.values()]
    return {
      sources: [...active.sources, ...(code.filter((c) => c.kind === 'source') as StoredConfig<SourceConfig>[])],
      sinks: [...active.sinks, ...(code.filter((c) => c.kind === 'sink') as StoredConfig<SinkConfig>[])],
    }
  }

  async getConfigs(kind: ConnectorKind, key: string): Promise<StoredConfig[]> {
    const code = this.#find(kind, key)
    return code === undefined ? this.#inner.getConfigs(kind, key) : [code]
  }

  async getConfig(kind: ConnectorKind, key: string, version?: number): Promise<StoredConfig | undefined> {
    const code = this.#find(kind, key)
    if (code === undefined) return this.#inner.getConfig(kind, key, version)
    return version === undefined || version === code.config.version ? code : undefined
  }

  async createConfig(kind: ConnectorKind, key: string, body: CreateConnectorConfig): Promise<StoredConfig> {
    this.#refuseEdit(kind, key)
    return this.#inner.createConfig(kind, key, body)
  }

  async setActiveVersion(kind: ConnectorKind, key: string, version: number): Promise<void> {
    this.#refuseEdit(kind, key)
    return this.#inner.setActiveVersion(kind, key, version)
  }

  async deleteConfig(kind: ConnectorKind, key: string, version?: number): Promise<void> {
    this.#refuseEdit(kind, key)
    return this.#inner.deleteConfig(kind, key, version)
  }
}

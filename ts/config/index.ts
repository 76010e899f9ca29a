// One entry point that turns "a config file or object + the environment" into everything the
// runtime needs: the runtime config, the connector provider and the active connector configs.
import { ENV_PREFIX, type Env, suggest } from '../env'
import type { ConfigIssue } from '../errors'
import { CodeConnectorsProvider, parseCodeConnectors } from './code-provider'
import type { ConnectorConfigInput, ConnectorKind } from './connector-schema'
import { connectorEnvPrefix } from './connector'
import { HttpConfigProvider } from './http-provider'
import { LocalConfigProvider } from './local-provider'
import type { ActiveConfigs, ConnectorConfigProvider } from './provider'
import { type ConfigLocation, loadRuntimeConfig, resolveRuntimeConfig, runtimeEnvNames } from './runtime'
import type { RuntimeConfig, RuntimeConfigInput } from './runtime-schema'
import type { Table } from './toml'

export interface LoadedConfiguration {
  readonly config: RuntimeConfig
  readonly location?: ConfigLocation
  readonly provider: ConnectorConfigProvider
  readonly active: ActiveConfigs
  readonly warnings: ConfigIssue[]
  /** Env overrides applied (secrets masked), for the startup log. */
  readonly overrides: { variable: string; display: string }[]
}

/** Warnings for IGGY_CONNECTORS_* variables nothing understood, with up to 3 suggestions. */
export function unknownEnvWarnings(env: Env, connectors: ReadonlyArray<{ kind: ConnectorKind; key: string }>): ConfigIssue[] {
  const known = runtimeEnvNames()
  const knownSet = new Set(known)
  const prefixes = connectors.map((c) => connectorEnvPrefix(c.kind, c.key))
  const warnings: ConfigIssue[] = []
  for (const variable of Object.keys(env)) {
    if (!variable.startsWith(ENV_PREFIX) || knownSet.has(variable)) continue
    const rest = variable.slice(ENV_PREFIX.length)
    if (rest.startsWith('SOURCE_') || rest.startsWith('SINK_')) {
      // Variables of known connectors were checked (and warned about) by their provider.
      if (prefixes.some((p) => variable.toUpperCase().startsWith(p))) continue
      warnings.push({ file: 'env', path: variable, message: 'no enabled or disabled connector matches this variable, ignored' })
      continue
    }
    const hints = suggest(variable, known)
    warnings.push({ file: 'env', path: variable, message: `unknown variable, ignored${hints.length ? `; did you mean ${hints.join(', ')}?` : ''}` })
  }
  return warnings
}

/**
 * Loads the runtime config (from `configPath`/env/default file, or from a `config` object), then
 * the connector configs through the configured provider. Throws ConfigError on any problem.
 */
export async function loadConfiguration(options: {
  configPath?: string
  config?: RuntimeConfigInput
  /** Connectors defined in code, next to the provider's (see code-provider.ts). */
  connectors?: readonly ConnectorConfigInput[]
  env: Env
  cwd?: string
}): Promise<LoadedConfiguration> {
  let config: RuntimeConfig
  let location: ConfigLocation | undefined
  const warnings: ConfigIssue[] = []
  const overrides: { variable: string; display: string }[] = []
  if (options.config !== undefined) {
    const resolved = resolveRuntimeConfig(options.config as Table, 'config object', options.env)
    config = resolved.config
    warnings.push(...resolved.warnings)
    overrides.push(...resolved.overrides)
  } else {
    const loaded = loadRuntimeConfig({ ...(options.configPath === undefined ? {} : { cliPath: options.configPath }), env: options.env, ...(options.cwd === undefined ? {} : { cwd: options.cwd }) })
    config = loaded.config
    location = loaded.location
    warnings.push(...loaded.warnings)
    overrides.push(...loaded.overrides)
  }
  let provider: ConnectorConfigProvider
  if (config.connectors.config_type === 'local') {
    const local = new LocalConfigProvider(config.connectors.config_dir, options.env)
    const loaded = local.load()
    warnings.push(...loaded.warnings)
    overrides.push(...loaded.overrides)
    provider = local
  } else {
    provider = new HttpConfigProvider(config.connectors)
  }
  if (options.connectors !== undefined && options.connectors.length > 0) {
    const code = parseCodeConnectors(options.connectors, options.env, options.cwd ?? process.cwd())
    warnings.push(...code.warnings)
    overrides.push(...code.overrides)
    provider = new CodeConnectorsProvider(provider, code.stored)
  }
  const active = await provider.getActiveConfigs()
  const connectors = [...active.sources, ...active.sinks].map((s) => ({ kind: s.kind, key: s.config.key }))
  warnings.push(...unknownEnvWarnings(options.env, connectors))
  return { config, ...(location === undefined ? {} : { location }), provider, active, warnings, overrides }
}

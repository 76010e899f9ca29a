// Loading the runtime config: .env, config path, TOML, IGGY_CONNECTORS_* overrides, validation.
import { existsSync, statSync } from 'node:fs'
import { dirname, isAbsolute, join, resolve } from 'node:path'

import { ENV_PREFIX, type Env, envValueFor, loadDotenv } from '../env'
import { ConfigError, type ConfigIssue } from '../errors'
import { MASK } from '../redact'
import { isLoopbackHost, parseHostPort } from './http-address'
import { RUNTIME_ENV_LEAVES, type RuntimeConfig, SECRET_ENV_LEAVES, runtimeConfigSchema } from './runtime-schema'
import { type Table, readToml, setPath } from './toml'
import { validate } from './validate'

/** The file searched for when neither `--config` nor IGGY_CONNECTORS_CONFIG_PATH is given. */
export const DEFAULT_CONFIG_FILE = 'config.toml'

/** Finds `name` in `start` or the nearest parent directory that has it. */
export function findUp(name: string, start: string): string | undefined {
  let dir = resolve(start)
  for (;;) {
    const candidate = join(dir, name)
    if (existsSync(candidate) && statSync(candidate).isFile()) return candidate
    const parent = dirname(dir)
    if (parent === dir) return undefined
    dir = parent
  }
}

export interface ConfigLocation {
  /** Absolute path of the config file, when one was found. */
  readonly path?: string
  readonly origin: 'cli' | 'env' | 'default'
  /** The path as requested (before the parent-directory search). */
  readonly requested: string
}

/**
 * `--config` is taken as given (relative to the cwd) and must exist. IGGY_CONNECTORS_CONFIG_PATH
 * and the default `config.toml` are searched in the cwd and then each parent directory, like
 * upstream; when nothing is found the built-in defaults apply.
 */
export function locateConfig(options: { cliPath?: string; env: Env; cwd?: string }): ConfigLocation {
  const cwd = options.cwd ?? process.cwd()
  if (options.cliPath !== undefined) {
    const path = resolve(cwd, options.cliPath)
    if (!existsSync(path)) throw new ConfigError([{ file: options.cliPath, path: '', message: 'config file not found' }])
    return { path, origin: 'cli', requested: options.cliPath }
  }
  const fromEnv = options.env[`${ENV_PREFIX}CONFIG_PATH`]
  const requested = fromEnv !== undefined && fromEnv !== '' ? fromEnv : DEFAULT_CONFIG_FILE
  const origin = requested === fromEnv ? 'env' : 'default'
  if (isAbsolute(requested)) return existsSync(requested) ? { path: requested, origin, requested } : { origin, requested }
  const found = findUp(requested, cwd)
  return found === undefined ? { origin, requested } : { path: found, origin, requested }
}

/**
 * Loads `.env` into `env` (a mutable copy or process.env): IGGY_CONNECTORS_ENV_PATH when set (a
 * failure is reported, with no fallback), else `.env` in the cwd or a parent. Existing variables win.
 */
export function loadEnvFile(env: Record<string, string | undefined>, cwd = process.cwd()): { file?: string; error?: string } {
  const explicit = env[`${ENV_PREFIX}ENV_PATH`]
  const file = explicit !== undefined && explicit !== '' ? resolve(cwd, explicit) : findUp('.env', cwd)
  if (file === undefined) return {}
  const result = loadDotenv(file, env)
  return result instanceof Error ? { file, error: result.message } : { file }
}

export interface EnvOverride {
  readonly variable: string
  readonly path: string
  /** The value as it may be logged (secrets masked). */
  readonly display: string
}

const RUNTIME_VARS = new Map(RUNTIME_ENV_LEAVES.map(([path, kind]) => [`${ENV_PREFIX}${path.replaceAll('.', '_').toUpperCase()}`, { path, kind }]))

/** Every IGGY_CONNECTORS_* name the runtime config understands (for suggestions). */
export function runtimeEnvNames(): string[] {
  return [...RUNTIME_VARS.keys(), `${ENV_PREFIX}CONFIG_PATH`, `${ENV_PREFIX}ENV_PATH`]
}

/** Applies IGGY_CONNECTORS_<SECTION>_<KEY> variables to the raw table (in place). Empty values are ignored. */
export function applyRuntimeEnv(raw: Table, env: Env): EnvOverride[] {
  const applied: EnvOverride[] = []
  for (const [variable, leaf] of RUNTIME_VARS) {
    const value = env[variable]
    if (value === undefined || value === '') continue
    setPath(raw, leaf.path.split('.'), envValueFor(leaf.kind, value))
    applied.push({ variable, path: leaf.path, display: SECRET_ENV_LEAVES.has(leaf.path) ? MASK : value })
  }
  return applied
}

export interface LoadedRuntimeConfig {
  readonly config: RuntimeConfig
  readonly location: ConfigLocation
  readonly overrides: EnvOverride[]
  readonly warnings: ConfigIssue[]
}

/**
 * The management API may only listen beyond loopback with an api_key: it can load plugin code
 * (a config's `path`, a transform's `module`), so an open port must not be an open door.
 */
export function httpExposureIssues(http: RuntimeConfig['http'], file: string): ConfigIssue[] {
  const bound = parseHostPort(http.address)
  if (bound === undefined) return [{ file, path: 'http.address', message: `expected host:port (e.g. "127.0.0.1:8081" or "[::1]:8081"), got "${http.address}"` }]
  if (isLoopbackHost(bound.host) || http.api_key !== '') return []
  return [
    {
      file,
      path: 'http.api_key',
      message: `required when http.address (${http.address}) is not a loopback address: set an api_key (or IGGY_CONNECTORS_HTTP_API_KEY), or bind 127.0.0.1`,
    },
  ]
}

/** Validates a raw runtime config table (from TOML or an object) after env overrides. */
export function resolveRuntimeConfig(raw: Table, file: string, env: Env): { config: RuntimeConfig; overrides: EnvOverride[]; warnings: ConfigIssue[] } {
  const table = structuredClone(raw)
  const overrides = applyRuntimeEnv(table, env)
  const result = validate(runtimeConfigSchema, table, file)
  if (result.data === undefined) throw new ConfigError(result.errors)
  if (result.data.http.enabled) {
    const exposure = httpExposureIssues(result.data.http, file)
    if (exposure.length > 0) throw new ConfigError(exposure)
  }
  const warnings = [...result.warnings]
  if (result.data.telemetry.enabled) {
    warnings.push({ file, path: 'telemetry.enabled', message: 'OpenTelemetry (OTLP) export is not supported by this runtime; logs go to stdout only' })
  }
  return { config: result.data, overrides, warnings }
}

/** Locates, reads, overrides and validates the runtime config. Throws ConfigError. */
export function loadRuntimeConfig(options: { cliPath?: string; env: Env; cwd?: string }): LoadedRuntimeConfig {
  const location = locateConfig(options)
  const raw: Table = location.path === undefined ? {} : readToml(location.path)
  const file = location.path ?? `${location.requested} (not found, defaults)`
  const { config, overrides, warnings } = resolveRuntimeConfig(raw, file, options.env)
  if (location.path === undefined) {
    warnings.unshift({ file: location.requested, path: '', message: 'config file not found; using built-in defaults' })
  }
  return { config, location, overrides, warnings }
}

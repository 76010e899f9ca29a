// The local connector config provider: one TOML file per connector version in a directory.
import { mkdirSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { join, resolve } from 'node:path'

import { stringify } from 'smol-toml'

import type { Env } from '../env'
import { ConfigError, type ConfigIssue, ProviderError } from '../errors'
import type { ConnectorConfig, ConnectorKind, SinkConfig, SourceConfig } from './connector-schema'
import { parseConnector } from './connector'
import type { ActiveConfigs, ConnectorConfigProvider, CreateConnectorConfig, StoredConfig } from './provider'
import { type Table, parseToml, toTomlText } from './toml'

export const ACTIVE_VERSIONS_FILE = '.active_versions.toml'

type Pins = Record<'sources' | 'sinks', Record<string, number>>

const plural = (kind: ConnectorKind) => (kind === 'source' ? 'sources' : 'sinks')

/** Drops nulls (TOML has none) so a config object can be written as TOML. */
function tomlSafe(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(tomlSafe)
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {}
    for (const [k, v] of Object.entries(value)) if (v !== null && v !== undefined) out[k] = tomlSafe(v)
    return out
  }
  return value
}

export interface LocalProviderLoad {
  readonly warnings: ConfigIssue[]
  readonly overrides: { variable: string; display: string }[]
}

export class LocalConfigProvider implements ConnectorConfigProvider {
  readonly dir: string
  #configs = new Map<string, Map<number, StoredConfig>>()

  /** `configDir` is resolved against the cwd (no parent search, like upstream). */
  constructor(
    configDir: string,
    private readonly env: Env = {},
  ) {
    if (configDir === '') {
      throw new ConfigError([{ file: 'runtime config', path: 'connectors.config_dir', message: 'connectors configuration directory not provided' }])
    }
    this.dir = resolve(configDir)
  }

  #id(kind: ConnectorKind, key: string): string {
    return `${kind}:${key}`
  }

  /**
   * Scans the directory: every `*.toml` regular file except dotfiles and Cargo.toml. A missing
   * directory is created. Every problem in every file is collected; any error throws ConfigError.
   */
  load(): LocalProviderLoad {
    mkdirSync(this.dir, { recursive: true })
    const errors: ConfigIssue[] = []
    const warnings: ConfigIssue[] = []
    const overrides: { variable: string; display: string }[] = []
    const configs = new Map<string, Map<number, StoredConfig>>()
    const files = readdirSync(this.dir, { withFileTypes: true })
      .filter((e) => e.isFile() && e.name.endsWith('.toml') && !e.name.startsWith('.') && e.name.toLowerCase() !== 'cargo.toml')
      .map((e) => e.name)
      .toSorted()
    for (const name of files) {
      const file = join(this.dir, name)
      let raw: Table
      try {
        raw = parseToml(readFileSync(file, 'utf8'), file)
      } catch (error) {
        if (error instanceof ConfigError) errors.push(...error.issues)
        else errors.push({ file, path: '', message: String(error) })
        continue
      }
      const result = parseConnector(raw, file, { env: this.env })
      errors.push(...result.errors)
      warnings.push(...result.warnings)
      overrides.push(...result.overrides)
      if (!result.parsed) continue
      const { kind, config } = result.parsed
      const id = this.#id(kind, config.key)
      const versions = configs.get(id) ?? new Map<number, StoredConfig>()
      if (versions.has(config.version)) {
        warnings.push({ file, path: 'version', message: `duplicate ${kind} "${config.key}" version ${config.version}; this file wins (${versions.get(config.version)?.origin})` })
      }
      const stat = statSync(file)
      const created = stat.birthtimeMs > 0 ? stat.birthtime : stat.mtime
      versions.set(config.version, { kind, config, origin: file, configDir: this.dir, createdAt: created })
      configs.set(id, versions)
    }
    if (errors.length > 0) throw new ConfigError(errors)
    this.#configs = configs
    return { warnings, overrides }
  }

  /** The pins in `.active_versions.toml`; an unreadable file counts as empty. */
  readPins(): Pins {
    const pins: Pins = { sources: {}, sinks: {} }
    try {
      const table = parseToml(readFileSync(join(this.dir, ACTIVE_VERSIONS_FILE), 'utf8'), ACTIVE_VERSIONS_FILE)
      for (const section of ['sources', 'sinks'] as const) {
        const entries = table[section]
        if (entries === null || typeof entries !== 'object') continue
        for (const [key, version] of Object.entries(entries)) if (typeof version === 'number') pins[section][key] = version
      }
    } catch {
      // missing or unreadable: no pins
    }
    return pins
  }

  #writePins(pins: Pins): void {
    writeFileSync(join(this.dir, ACTIVE_VERSIONS_FILE), stringify(pins))
  }

  #versions(kind: ConnectorKind, key: string): Map<number, StoredConfig> {
    return this.#configs.get(this.#id(kind, key)) ?? new Map()
  }

  #highest(kind: ConnectorKind, key: string): StoredConfig | undefined {
    const versions = [...this.#versions(kind, key).keys()]
    return versions.length === 0 ? undefined : this.#versions(kind, key).get(Math.max(...versions))
  }

  /** The pinned version when it exists, else the highest. */
  #active(kind: ConnectorKind, key: string, pins: Pins = this.readPins()): StoredConfig | undefined {
    const pinned = pins[plural(kind)][key]
    return (pinned !== undefined ? this.#versions(kind, key).get(pinned) : undefined) ?? this.#highest(kind, key)
  }

  async getActiveConfigs(): Promise<ActiveConfigs> {
    const pins = this.readPins()
    const sources: StoredConfig<SourceConfig>[] = []
    const sinks: StoredConfig<SinkConfig>[] = []
    for (const versions of this.#configs.values()) {
      const any = versions.values().next().value as StoredConfig
      const active = this.#active(any.kind, any.config.key, pins)
      if (active === undefined) continue
      if (active.kind === 'source') sources.push(active as StoredConfig<SourceConfig>)
      else sinks.push(active as StoredConfig<SinkConfig>)
    }
    return { sources, sinks }
  }

  async getConfigs(kind: ConnectorKind, key: string): Promise<StoredConfig[]> {
    return [...this.#versions(kind, key).values()].toSorted((a, b) => a.config.version - b.config.version)
  }

  /**
   * Without a version: the active one, pinned or else the highest (the restart path). Upstream
   * returned the highest, ignoring the pin, so a POSTed config went live on the next restart.
   */
  async getConfig(kind: ConnectorKind, key: string, version?: number): Promise<StoredConfig | undefined> {
    return version === undefined ? this.#active(kind, key) : this.#versions(kind, key).get(version)
  }

  /**
   * Writes `<dir>/<kind>_<key>_<version>.toml` with version max+1 (0 for a new key). It never
   * changes which version is active: a key that has versions but no pin gets its current active
   * (highest) version pinned first, so only `PUT …/configs/active` activates the new one.
   */
  async createConfig(kind: ConnectorKind, key: string, body: CreateConnectorConfig): Promise<StoredConfig> {
    const versions = [...this.#versions(kind, key).keys()]
    const version = versions.length === 0 ? 0 : Math.max(...versions) + 1
    const file = join(this.dir, `${kind}_${key}_${version}.toml`)
    const raw = { ...(tomlSafe(body) as Table), type: kind, key, version }
    const result = parseConnector(raw, file, { kind })
    if (!result.parsed) throw new ConfigError(result.errors)
    const config: ConnectorConfig = result.parsed.config
    const { key: _k, version: _v, ...rest } = tomlSafe(config) as Table
    const text = toTomlText({ type: kind, key, version, ...rest }, file)
    const pins = this.readPins()
    const current = this.#active(kind, key, pins)
    if (current !== undefined && pins[plural(kind)][key] === undefined) {
      pins[plural(kind)][key] = current.config.version
      this.#writePins(pins)
    }
    writeFileSync(file, text)
    const stored: StoredConfig = { kind, config, origin: file, configDir: this.dir, createdAt: new Date() }
    const map = this.#versions(kind, key)
    map.set(version, stored)
    this.#configs.set(this.#id(kind, key), map)
    return stored
  }

  async setActiveVersion(kind: ConnectorKind, key: string, version: number): Promise<void> {
    if (!this.#versions(kind, key).has(version)) {
      throw new ProviderError(`${kind}_config_not_found`, `${kind} config not found for key: ${key}, version: ${version}`)
    }
    const pins = this.readPins()
    pins[plural(kind)][key] = version
    this.#writePins(pins)
  }

  /**
   * Deletes a version: the given one, else the pinned one, else version 0 (no fallback to the
   * latest, like upstream). A deleted pin moves to the highest remaining version or is removed.
   */
  async deleteConfig(kind: ConnectorKind, key: string, version?: number): Promise<void> {
    const pins = this.readPins()
    const section = plural(kind)
    const target = version ?? pins[section][key] ?? 0
    const stored = this.#versions(kind, key).get(target)
    if (stored === undefined) {
      throw new ProviderError(`${kind}_config_not_found`, `${kind} config not found for key: ${key}, version: ${target}`)
    }
    rmSync(stored.origin, { force: true })
    this.#versions(kind, key).delete(target)
    if (pins[section][key] === target) {
      const next = this.#highest(kind, key)
      if (next === undefined) delete pins[section][key]
      else pins[section][key] = next.config.version
      this.#writePins(pins)
    }
  }
}

// The embedding API: a connectors runtime inside a Node process.
import { EventEmitter } from 'node:events'

import type { FastifyInstance } from 'fastify'

import { type CustomTransformBinding, bindingify, bindingifySink, bindingifySource } from './config/bindingify'
import type { ConnectorConfigInput, ConnectorKind, SinkConfig, SourceConfig } from './config/connector-schema'
import { type LoadedConfiguration, loadConfiguration } from './config/index'
import { checkPluginConfigs } from './config/plugin-config'
import type { ConnectorConfigProvider, StoredConfig } from './config/provider'
import type { RuntimeConfig, RuntimeConfigInput } from './config/runtime-schema'
import type { Env } from './env'
import { ApiError, ConfigError, type ConfigIssue, formatIssue } from './errors'
import { type LogRecord, type LogSink, Logger, nowMicros, toLogLevel } from './logger'
import { type OperatorTools, operatorToolsOf } from './operator'
import { ConnectorHost, type SinkImpl, type SourceImpl } from './connectors/host'
import { type BatchColumns, type BatchResultColumns, type ConnectorStats, type EngineOptions, type JsConnectorCall, type JsConnectorReply, type LogEntry, native } from './native'
import { redact } from './redact'
import { type Transform, type TransformFunction, TransformRegistry } from './transforms/registry'

function withParsedPluginConfig<T extends { pluginConfigJson: string }>(c: T): Omit<T, 'pluginConfigJson'> & { pluginConfig: unknown } {
  const { pluginConfigJson, ...rest } = c
  return { ...rest, pluginConfig: JSON.parse(pluginConfigJson) as unknown }
}

/** EngineOptions with secrets masked, plugin configs included (they are JSON strings there). */
export function loggableOptions(options: EngineOptions): unknown {
  return redact({ ...options, sources: options.sources.map(withParsedPluginConfig), sinks: options.sinks.map(withParsedPluginConfig) })
}

/** The part of the native Engine the runtime uses (a fake can stand in for tests). */
export interface EngineLike {
  onLog(listener: (entry: LogEntry) => void): void
  onTransformBatch(handler: (batch: BatchColumns) => Promise<BatchResultColumns>): void
  /** Connectors written in TypeScript (absent in engines that cannot run them). */
  onConnectorCall?(handler: (call: JsConnectorCall) => Promise<JsConnectorReply>): void
  setExternalConnector?(kind: string, key: string, module?: string | null): void
  start(): Promise<ConnectorStats[]>
  stop(timeoutMs?: number): Promise<void>
  restartSource(key: string, options?: EngineOptions['sources'][number]): Promise<void>
  restartSink(key: string, options?: EngineOptions['sinks'][number]): Promise<void>
  stats(): ConnectorStats[]
}

export type EngineFactory = (options: EngineOptions) => EngineLike

export interface ConnectorsRuntimeOptions {
  /** Path of a runtime config TOML file. Without it and without `config`: IGGY_CONNECTORS_CONFIG_PATH, else `config.toml` in the cwd or a parent. */
  configPath?: string
  /** The runtime config as an object (same sections and keys as the TOML file). Wins over `configPath`. */
  config?: RuntimeConfigInput
  /**
   * Connectors defined here instead of in connector files: each object has the keys of a
   * connector file (`type`, `key`, `name`, `path` or `module`, `streams`, `plugin_config`…) and
   * is validated the same way. They run next to the provider's connectors (a key may not be in
   * both) and cannot be edited through the config API. Pair `module: "<name>"` with
   * `registerSource`/`registerSink` for a connector that needs no file at all.
   */
  connectors?: ConnectorConfigInput[]
  /** Environment used for IGGY_CONNECTORS_* overrides (default `process.env`). */
  env?: Env
  /** Serve the HTTP management API (default: `[http] enabled`, which defaults to true). */
  http?: boolean
  /** Receives every log record (also emitted as `log` events). */
  logSink?: LogSink
  /** Graceful stop timeout for `stop()` in ms (default 10 000). */
  stopTimeoutMs?: number
  /** How often connector statuses are polled for `status` events, ms (default 500). */
  statusIntervalMs?: number
  /** Replaces the native engine (tests). */
  engineFactory?: EngineFactory
}

/** A connector changed status (`starting | running | stopping | stopped | error`). */
export interface StatusEvent {
  kind: ConnectorKind
  key: string
  status: string
  previous?: string
  lastError?: { message: string; timestampMicros: number }
}

/** Events of {@link ConnectorsRuntime}. */
export interface RuntimeEvents {
  log: [record: LogRecord]
  status: [event: StatusEvent]
  started: [stats: ConnectorStats[]]
  stopped: []
  warning: [issue: ConfigIssue]
}

/** A running connector as the runtime tracks it. */
export interface RunningConnector {
  /** Numeric id, stable for the process lifetime (upstream's plugin id). */
  readonly id: number
  readonly kind: ConnectorKind
  readonly stored: StoredConfig
}

export type RuntimeState = 'new' | 'starting' | 'running' | 'stopping' | 'stopped'

/**
 * A connectors runtime: loads the config, starts the native engine with every enabled connector,
 * serves the HTTP management API and exposes stats, restarts and TS transforms.
 *
 * @example
 * const runtime = new ConnectorsRuntime({ configPath: 'config.toml' })
 * runtime.on('log', (r) => console.log(r.level, r.message))
 * runtime.registerTransform('upper', (messages) => messages)
 * await runtime.start()
 * // …
 * await runtime.stop()
 */
export class ConnectorsRuntime extends EventEmitter<RuntimeEvents> {
  readonly #options: ConnectorsRuntimeOptions
  readonly #transforms = new TransformRegistry()
  readonly #connectorHost = new ConnectorHost(
    (key, level, message) => this.#emitLog({ level, target: 'iggy_connectors::typescript', message, timestampMicros: nowMicros(), connectorKey: key }),
    (kind, key, error) => this.#restartCrashed(kind, key, error),
  )
  readonly #connectors = new Map<string, RunningConnector>()
  readonly #restarting = new Set<string>()
  readonly #statuses = new Map<string, string>()
  readonly logger: Logger
  #state: RuntimeState = 'new'
  #engine: EngineLike | undefined
  #loaded: LoadedConfiguration | undefined
  #server: FastifyInstance | undefined
  #statusTimer: NodeJS.Timeout | undefined
  #startTimeMicros = 0
  #nextId = 1

  constructor(options: ConnectorsRuntimeOptions = {}) {
    super()
    this.#options = options
    this.logger = new Logger((record) => this.#emitLog(record), 'iggy_connectors::runtime')
  }

  #emitLog(record: LogRecord): void {
    this.#options.logSink?.(record)
    if (this.listenerCount('log') > 0) this.emit('log', record)
  }

  /** Registers a TS transform usable as `[transforms.<name>]` in connector configs. Call before `start()`. */
  registerTransform(name: string, transform: Transform | TransformFunction): this {
    this.#transforms.register(name, transform)
    return this
  }

  /**
   * Registers a source written in TypeScript under `name`: a connector file with
   * `module = "<name>"` runs it (a connector object, or a factory called on every start).
   * Call before `start()`.
   */
  registerSource(name: string, source: SourceImpl): this {
    this.#connectorHost.registerSource(name, source)
    return this
  }

  /** Registers a sink written in TypeScript under `name` (see {@link registerSource}). */
  registerSink(name: string, sink: SinkImpl): this {
    this.#connectorHost.registerSink(name, sink)
    return this
  }

  get state(): RuntimeState {
    return this.#state
  }

  /** The validated runtime config (after `start()`). */
  get config(): RuntimeConfig | undefined {
    return this.#loaded?.config
  }

  get provider(): ConnectorConfigProvider | undefined {
    return this.#loaded?.provider
  }

  /** Unix µs when `start()` finished. */
  get startTimeMicros(): number {
    return this.#startTimeMicros
  }

  /** The address the HTTP API listens on (`host:port`), when it runs. */
  get httpAddress(): string | undefined {
    const address = this.#server?.server.address()
    if (address === null || address === undefined || typeof address === 'string') return address ?? undefined
    return `${address.family === 'IPv6' ? `[${address.address}]` : address.address}:${address.port}`
  }

  /** Connectors that were enabled at startup (the only ones the API lists and can restart). */
  connectors(kind?: ConnectorKind): RunningConnector[] {
    return [...this.#connectors.values()].filter((c) => kind === undefined || c.kind === kind)
  }

  connector(kind: ConnectorKind, key: string): RunningConnector | undefined {
    return this.#connectors.get(`${kind}:${key}`)
  }

  /** All active configs including disabled ones (upstream `*_total`). */
  totals(): { sources: number; sinks: number } {
    return { sources: this.#loaded?.active.sources.length ?? 0, sinks: this.#loaded?.active.sinks.length ?? 0 }
  }

  /** Dead letters, replay, tap and lag of the running engine (undefined before start). */
  operatorTools(): OperatorTools | undefined {
    return operatorToolsOf(this.#engine)
  }

  /** Per-connector stats from the engine (empty before start). */
  stats(): ConnectorStats[] {
    return this.#engine?.stats() ?? []
  }

  /**
   * Loads and validates the config (throws {@link ConfigError}), starts every enabled connector
   * (a failing one gets status `error`, the rest run) and the HTTP API.
   */
  async start(): Promise<ConnectorStats[]> {
    if (this.#state !== 'new' && this.#state !== 'stopped') throw new Error(`cannot start: runtime is ${this.#state}`)
    this.#state = 'starting'
    try {
      return await this.#start()
    } catch (error) {
      // E.g. the API address is taken after the engine started: leave nothing running.
      clearInterval(this.#statusTimer)
      await this.#engine?.stop(this.#options.stopTimeoutMs ?? 10_000).catch(() => undefined)
      this.#engine = undefined
      await this.#server?.close().catch(() => undefined)
      this.#server = undefined
      this.#state = 'stopped'
      throw error
    }
  }

  async #start(): Promise<ConnectorStats[]> {
    const env = this.#options.env ?? process.env
    const loaded = await loadConfiguration({
      ...(this.#options.configPath === undefined ? {} : { configPath: this.#options.configPath }),
      ...(this.#options.config === undefined ? {} : { config: this.#options.config }),
      ...(this.#options.connectors === undefined ? {} : { connectors: this.#options.connectors }),
      env,
    })
    this.#loaded = loaded
    const seen = new Set<string>()
    for (const issue of loaded.warnings) {
      const line = formatIssue(issue)
      if (seen.has(line)) continue
      seen.add(line)
      this.logger.warn(line)
      this.emit('warning', issue)
    }
    for (const o of loaded.overrides) this.logger.info(`${o.variable} value changed to: ${o.display} from environment variable`)
    if (loaded.location?.path) this.logger.info(`config loaded from ${loaded.location.path}`)
    // Every problem in one error, as `validate` lists them: engine options, then each plugin's
    // [plugin_config] against the schema the plugin exports (nothing is started before).
    const issues: ConfigIssue[] = []
    let bound: ReturnType<typeof bindingify> | undefined
    try {
      bound = bindingify(loaded.config, loaded.active, (name) => this.#transforms.has(name))
    } catch (error) {
      if (!(error instanceof ConfigError)) throw error
      issues.push(...error.issues)
    }
    issues.push(...checkPluginConfigs([...loaded.active.sources, ...loaded.active.sinks]))
    if (bound === undefined || issues.length > 0) throw new ConfigError(issues)
    const { options, custom } = bound
    this.#bindCustom(custom, [...options.sources.map((s) => ({ kind: 'source' as const, key: s.key })), ...options.sinks.map((s) => ({ kind: 'sink' as const, key: s.key }))])
    this.#statuses.clear()
    this.#connectors.clear()
    for (const s of loaded.active.sources) if (s.config.enabled) this.#connectors.set(`source:${s.config.key}`, { id: this.#nextId++, kind: 'source', stored: s })
    for (const s of loaded.active.sinks) if (s.config.enabled) this.#connectors.set(`sink:${s.config.key}`, { id: this.#nextId++, kind: 'sink', stored: s })
    this.logger.info(`starting ${options.sources.length} source(s) and ${options.sinks.length} sink(s); Iggy at ${options.iggy.address}`)
    this.logger.debug(`engine options: ${JSON.stringify(loggableOptions(options))}`)

    const factory: EngineFactory = this.#options.engineFactory ?? ((o) => new (native().Engine)(o))
    const engine = factory(options)
    engine.onLog((entry) =>
      this.#emitLog({
        level: toLogLevel(entry.level),
        target: entry.target,
        message: entry.message,
        timestampMicros: entry.timestampMicros,
        ...(entry.connectorKey === undefined || entry.connectorKey === null ? {} : { connectorKey: entry.connectorKey }),
      }),
    )
    engine.onTransformBatch((batch) => this.#transforms.dispatch(batch))
    this.#bindModules(engine, [...loaded.active.sources, ...loaded.active.sinks].filter((s) => s.config.enabled))
    this.#engine = engine
    const stats = await engine.start()
    this.#startTimeMicros = nowMicros()

    const http = this.#options.http ?? loaded.config.http.enabled
    if (http) {
      const { createApiServer, listen } = await import('./api/server')
      this.#server = await createApiServer(this, loaded.config.http)
      await listen(this.#server, loaded.config.http.address)
      this.logger.info(`HTTP API listening on ${loaded.config.http.tls.enabled ? 'https' : 'http'}://${this.httpAddress}`)
    }
    this.#state = 'running'
    this.#pollStatuses(stats)
    const interval = this.#options.statusIntervalMs ?? 500
    this.#statusTimer = setInterval(() => this.#pollStatuses(), interval)
    this.#statusTimer.unref()
    this.emit('started', stats)
    return stats
  }

  /** Binds the TS transforms of the given connectors (all of each connector's, replacing old ones). */
  #bindCustom(custom: CustomTransformBinding[], connectors: ReadonlyArray<{ kind: ConnectorKind; key: string }>): void {
    // Resolve (load modules) for every connector first: a failure leaves the old bindings intact.
    const issues: ConfigIssue[] = []
    const resolved = connectors.map(({ kind, key }) => ({
      kind,
      key,
      entries: custom
        .filter((c) => c.kind === kind && c.key === key)
        .flatMap((c) => {
          try {
            return [{ name: c.name, config: c.config, transform: this.#transforms.resolve(c.name, c.config, c.baseDir) }]
          } catch (error) {
            issues.push({ file: `${kind} "${key}"`, path: `transforms.${c.name}`, message: (error as Error).message })
            return []
          }
        }),
    }))
    if (issues.length > 0) throw new ConfigError(issues)
    for (const r of resolved) this.#transforms.bindConnector(r.kind, r.key, r.entries)
  }

  /** Tells the engine which connectors are TypeScript modules and binds them in the host. */
  #bindModules(engine: EngineLike, stored: readonly StoredConfig[]): void {
    const issues: ConfigIssue[] = []
    const modules = stored.filter((s) => s.config.module !== undefined)
    if (modules.length > 0) {
      if (engine.onConnectorCall === undefined || engine.setExternalConnector === undefined) {
        throw new ConfigError(modules.map((s) => ({ file: s.origin, path: 'module', message: 'this engine cannot run TypeScript connectors' })))
      }
      engine.onConnectorCall((call) => this.#connectorHost.dispatch(call))
    }
    for (const s of stored) {
      const module = s.config.module
      if (module === undefined) {
        this.#connectorHost.unbind(s.kind, s.config.key)
        engine.setExternalConnector?.(s.kind, s.config.key, null)
        continue
      }
      try {
        this.#connectorHost.bind(s.kind, s.config.key, { module, baseDir: s.configDir ?? process.cwd(), isolation: s.config.isolation ?? 'none' })
        engine.setExternalConnector?.(s.kind, s.config.key, module)
      } catch (error) {
        issues.push({ file: s.origin, path: 'isolation', message: (error as Error).message })
      }
    }
    if (issues.length > 0) throw new ConfigError(issues)
  }

  /** A crashed isolation worker: restart that connector alone (its state and offsets make it resume). */
  #restartCrashed(kind: ConnectorKind, key: string, error: Error): void {
    this.logger.error(`${error.message}; restarting ${kind} "${key}"`, key)
    if (this.#state !== 'running') return
    this.restart(kind, key).then(
      (restarted) => {
        if (!restarted) this.logger.warn(`${kind} "${key}" is already restarting`, key)
      },
      (failure: unknown) => this.logger.error(`restart of ${kind} "${key}" after a worker crash failed: ${(failure as Error).message}`, key),
    )
  }

  #pollStatuses(snapshot?: ConnectorStats[]): void {
    let stats: ConnectorStats[]
    try {
      stats = snapshot ?? this.stats()
    } catch {
      return
    }
    for (const s of stats) {
      const id = `${s.kind}:${s.key}`
      const previous = this.#statuses.get(id)
      if (previous === s.status) continue
      this.#statuses.set(id, s.status)
      const kind: ConnectorKind = s.kind === 'sink' ? 'sink' : 'source'
      const event: StatusEvent = { kind, key: s.key, status: s.status }
      if (previous !== undefined) event.previous = previous
      if (s.lastError) event.lastError = { message: s.lastError.message, timestampMicros: s.lastError.timestampMicros }
      this.emit('status', event)
    }
  }

  /**
   * Restarts one connector with its active config (local provider: the pinned version, else the
   * highest; HTTP provider: the active one). Returns false without doing anything when a restart
   * of the same connector is already running (upstream try-lock semantics).
   */
  async restart(kind: ConnectorKind, key: string): Promise<boolean> {
    const id = `${kind}:${key}`
    const running = this.#connectors.get(id)
    if (running === undefined) throw new ApiError(404, `${kind}_not_found`, `${kind} with key: ${key} was not found.`)
    if (this.#restarting.has(id)) return false
    this.#restarting.add(id)
    try {
      const engine = this.#engine
      const loaded = this.#loaded
      if (engine === undefined || loaded === undefined) throw new Error('runtime is not running')
      const stored = await loaded.provider.getConfig(kind, key)
      if (stored === undefined) throw new ApiError(500, `${kind}_config_not_found`, `${kind} config not found for key: ${key}`)
      const custom: CustomTransformBinding[] = []
      const issues: ConfigIssue[] = []
      const isRegistered = (name: string) => this.#transforms.has(name)
      this.logger.info(`restarting ${kind} "${key}" with config version ${stored.config.version}`, key)
      issues.push(...checkPluginConfigs([stored]))
      if (kind === 'source') {
        const options = bindingifySource(stored as StoredConfig<SourceConfig>, isRegistered, custom, issues)
        if (issues.length > 0) throw new ConfigError(issues)
        this.#bindCustom(custom, [{ kind, key }])
        this.#bindModules(engine, [stored])
        await engine.restartSource(key, options)
      } else {
        const options = bindingifySink(stored as StoredConfig<SinkConfig>, isRegistered, custom, issues)
        if (issues.length > 0) throw new ConfigError(issues)
        this.#bindCustom(custom, [{ kind, key }])
        this.#bindModules(engine, [stored])
        await engine.restartSink(key, options)
      }
      this.#connectors.set(id, { id: running.id, kind, stored })
      this.#pollStatuses()
      return true
    } finally {
      this.#restarting.delete(id)
    }
  }

  /** Gracefully stops every connector (waiting at most `timeoutMs`), then the HTTP API. */
  async stop(timeoutMs = this.#options.stopTimeoutMs ?? 10_000): Promise<void> {
    if (this.#state !== 'running') return
    this.#state = 'stopping'
    clearInterval(this.#statusTimer)
    this.logger.info('stopping connectors')
    try {
      await this.#engine?.stop(timeoutMs)
    } finally {
      this.#pollStatuses()
      await this.#server?.close().catch(() => undefined)
      this.#server = undefined
      this.#engine = undefined
      this.#state = 'stopped'
      this.logger.info('stopped')
      this.emit('stopped')
    }
  }

  /** `await using runtime = new ConnectorsRuntime(...)` stops it at scope exit. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop()
  }
}

// The HTTP management API (upstream-compatible routes and shapes) on fastify.
import { readFileSync } from 'node:fs'
import os from 'node:os'

import cors from '@fastify/cors'
import Fastify, { type FastifyError, type FastifyInstance, type FastifyReply } from 'fastify'

import { type ConnectorKind, PLUGIN_CONFIG_FORMATS, type PluginConfigFormat } from '../config/connector-schema'
import type { ConnectorConfigProvider, CreateConnectorConfig, StoredConfig } from '../config/provider'
import { parseHostPort } from '../config/http-address'
import { httpExposureIssues } from '../config/runtime'
import type { RuntimeConfig } from '../config/runtime-schema'
import { ApiError, ConfigError, ProviderError, formatIssue } from '../errors'
import { createMetricsRegistry } from '../metrics'
import type { ConnectorStats } from '../native'
import type { OperatorTools } from '../operator'
import { redact } from '../redact'
import type { RunningConnector } from '../runtime'
import { VERSION } from '../version'
import { apiKeyGuard, hostGuard, mutationGuard } from './guards'
import { registerOperatorRoutes } from './operator-routes'
import { renderPluginConfig } from './render'

export { apiKeyMatches } from './guards'

/** What the API needs from the runtime. */
export interface ApiRuntime {
  readonly provider: ConnectorConfigProvider | undefined
  readonly startTimeMicros: number
  connectors(kind?: ConnectorKind): RunningConnector[]
  connector(kind: ConnectorKind, key: string): RunningConnector | undefined
  stats(): ConnectorStats[]
  totals(): { sources: number; sinks: number }
  restart(kind: ConnectorKind, key: string): Promise<boolean>
  /** Dead letters, replay, tap and lag (absent on a runtime without them). */
  operatorTools?(): OperatorTools | undefined
}

const KINDS: ReadonlyArray<readonly [string, ConnectorKind]> = [
  ['sinks', 'sink'],
  ['sources', 'source'],
]

/** Major followed by zero-padded minor and patch: 0.4.0 → 4000, 1.2.3 → 1002003. */
export function semverNumber(version: string): number | undefined {
  const m = /^(\d+)\.(\d+)\.(\d+)/.exec(version)
  if (!m) return undefined
  return Number(m[1]) * 1_000_000 + Number(m[2]) * 1000 + Number(m[3])
}

function configObject(stored: StoredConfig, active: boolean): Record<string, unknown> {
  const c = stored.config
  return redact({
    key: c.key,
    enabled: c.enabled,
    version: c.version,
    name: c.name,
    path: c.path,
    ...(c.module === undefined ? {} : { module: c.module }),
    ...(c.isolation === undefined ? {} : { isolation: c.isolation }),
    transforms: c.transforms,
    streams: c.streams,
    plugin_config_format: c.plugin_config_format,
    plugin_config: c.plugin_config,
    verbose: c.verbose,
    ...(c.retry ? { retry: c.retry } : {}),
    ...('dead_letter' in c && c.dead_letter ? { dead_letter: c.dead_letter } : {}),
    active,
  })
}

function lastError(stats: ConnectorStats | undefined): { message: string; timestamp: number } | undefined {
  return stats?.lastError ? { message: stats.lastError.message, timestamp: stats.lastError.timestampMicros } : undefined
}

function connectorInfo(connector: RunningConnector, stats: ConnectorStats | undefined): Record<string, unknown> {
  const c = connector.stored.config
  const info: Record<string, unknown> = {
    id: connector.id,
    key: c.key,
    name: c.name,
    path: c.path,
    enabled: c.enabled,
    status: stats?.status ?? 'stopped',
  }
  const error = lastError(stats)
  if (error) info.last_error = error
  if (c.plugin_config_format) info.plugin_config_format = c.plugin_config_format
  return info
}

/** Process and host usage for /stats (CPU as a percentage since the previous call). */
function usageSampler(): () => { cpu_usage: number; total_cpu_usage: number } {
  let lastProcess = process.cpuUsage()
  let lastTime = process.hrtime.bigint()
  let lastHost = os.cpus().reduce((acc, cpu) => {
    const t = cpu.times
    return { idle: acc.idle + t.idle, total: acc.total + t.idle + t.user + t.nice + t.sys + t.irq }
  }, { idle: 0, total: 0 })
  return () => {
    const now = process.hrtime.bigint()
    const usage = process.cpuUsage()
    const elapsedUs = Number(now - lastTime) / 1000
    const cpu = elapsedUs > 0 ? ((usage.user - lastProcess.user + usage.system - lastProcess.system) / elapsedUs) * 100 : 0
    const host = os.cpus().reduce((acc, c) => {
      const t = c.times
      return { idle: acc.idle + t.idle, total: acc.total + t.idle + t.user + t.nice + t.sys + t.irq }
    }, { idle: 0, total: 0 })
    const dTotal = host.total - lastHost.total
    const total = dTotal > 0 ? (1 - (host.idle - lastHost.idle) / dTotal) * 100 : 0
    lastProcess = usage
    lastTime = now
    lastHost = host
    return { cpu_usage: cpu, total_cpu_usage: total }
  }
}

function parseVersion(text: string): number {
  if (!/^\d+$/.test(text)) throw new ApiError(400, 'invalid_configuration', `invalid version: ${text}`)
  return Number(text)
}

function sendError(reply: FastifyReply, error: unknown): FastifyReply {
  if (error instanceof ApiError) return reply.code(error.status).send({ code: error.code, reason: error.message })
  if (error instanceof ConfigError) {
    return reply.code(400).send({ code: 'invalid_configuration', reason: error.issues.map(formatIssue).join('; ') })
  }
  if (error instanceof ProviderError) return reply.code(500).send({ code: error.code, reason: error.message })
  return reply.code(500).send({ code: 'error', reason: error instanceof Error ? error.message : String(error) })
}

/**
 * `Content-Type: application/json` with no body means "no body" (a bodiless POST …/restart sent
 * with the header the mutation guard asks for); anything else goes to fastify's JSON parser,
 * which refuses `__proto__` / `constructor` poisoning.
 */
function acceptEmptyJsonBodies(app: FastifyInstance): void {
  const parse = app.getDefaultJsonParser('error', 'error')
  app.removeContentTypeParser('application/json')
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
    const text = typeof body === 'string' ? body : body.toString('utf8')
    if (text.trim() === '') {
      done(null, undefined)
      return
    }
    parse(request, text, done)
  })
}

/** Builds the fastify app (not listening). Use `app.inject()` in tests or {@link listen}. */
export async function createApiServer(runtime: ApiRuntime, http: RuntimeConfig['http']): Promise<FastifyInstance> {
  // Also checked by config validation; repeated for embedders that build the API themselves.
  const exposure = httpExposureIssues(http, 'runtime config')
  if (exposure.length > 0) throw new ConfigError(exposure)
  // Routes do not depend on the transport; one instance type keeps the handlers typed.
  const app = (
    http.tls.enabled ? Fastify({ https: { cert: readFileSync(http.tls.cert_file), key: readFileSync(http.tls.key_file) } }) : Fastify()
  ) as unknown as FastifyInstance

  // Before CORS, so a preflight from a rebinding page is refused too.
  app.addHook('onRequest', hostGuard(http))
  acceptEmptyJsonBodies(app)
  app.setNotFoundHandler((request, reply) =>
    reply.code(404).send({ code: 'not_found', reason: `no route ${request.method} ${request.url.split('?')[0]}` }),
  )
  app.setErrorHandler((error: FastifyError, _request, reply) => {
    // Body parser and framework errors (bad JSON, too large, unsupported type) in the upstream shape.
    const status = error.statusCode !== undefined && error.statusCode >= 400 ? error.statusCode : 500
    return reply.code(status).send({ code: status === 500 ? 'error' : 'invalid_request', reason: error.message })
  })

  if (http.cors.enabled) {
    const origins = http.cors.allowed_origins
    await app.register(cors, {
      origin: origins.length === 0 ? false : origins[0] === '*' ? '*' : origins,
      methods: http.cors.allowed_methods,
      allowedHeaders: http.cors.allowed_headers.filter((h) => h !== ''),
      exposedHeaders: http.cors.exposed_headers.filter((h) => h !== ''),
      credentials: http.cors.allow_credentials,
      // Preflights are answered here, before the auth hook (CORS is the outermost layer upstream).
      hook: 'onRequest',
    })
    if (http.cors.allow_private_network) {
      app.addHook('onSend', async (request, reply) => {
        if (request.headers['access-control-request-private-network'] === 'true') reply.header('access-control-allow-private-network', 'true')
      })
    }
  }

  if (http.api_key !== '') app.addHook('onRequest', apiKeyGuard(http.api_key))
  app.addHook('onRequest', mutationGuard)

  app.get('/', async (_request, reply) => reply.type('text/plain').send('Connector Runtime API'))
  app.get('/health', async () => ({ status: 'healthy' }))

  const sample = usageSampler()
  app.get('/stats', async () => {
    const stats = runtime.stats()
    const byId = new Map(stats.map((s) => [`${s.kind}:${s.key}`, s]))
    const totals = runtime.totals()
    const now = Date.now() * 1000
    const semver = semverNumber(VERSION)
    const connectors = runtime.connectors().map((c) => {
      const s = byId.get(`${c.kind}:${c.stored.config.key}`)
      const pluginVersion = s?.pluginVersion ?? ''
      const pluginSemver = semverNumber(pluginVersion)
      return {
        key: c.stored.config.key,
        name: c.stored.config.name,
        connector_type: c.kind,
        version: pluginVersion,
        ...(pluginSemver === undefined ? {} : { version_semver: pluginSemver }),
        status: s?.status ?? 'stopped',
        enabled: c.stored.config.enabled,
        ...(c.kind === 'source'
          ? { messages_produced: s?.messagesIn ?? 0, messages_sent: s?.messagesOut ?? 0 }
          : { messages_consumed: s?.messagesIn ?? 0, messages_processed: s?.messagesOut ?? 0 }),
        errors: s?.errors ?? 0,
      }
    })
    const running = (kind: string) => stats.filter((s) => s.kind === kind && s.status === 'running').length
    return {
      connectors_runtime_version: VERSION,
      ...(semver === undefined ? {} : { connectors_runtime_version_semver: semver }),
      process_id: process.pid,
      ...sample(),
      memory_usage: process.memoryUsage().rss,
      total_memory: os.totalmem(),
      available_memory: os.freemem(),
      run_time: runtime.startTimeMicros > 0 ? now - runtime.startTimeMicros : 0,
      start_time: runtime.startTimeMicros,
      sources_total: totals.sources,
      sources_running: running('source'),
      sinks_total: totals.sinks,
      sinks_running: running('sink'),
      connectors,
    }
  })

  if (http.metrics.enabled) {
    const registry = createMetricsRegistry(runtime)
    app.get(http.metrics.endpoint, async (_request, reply) => reply.type(registry.contentType).send(await registry.metrics()))
  }

  registerOperatorRoutes(app, runtime)

  const provider = (): ConnectorConfigProvider => {
    if (runtime.provider === undefined) throw new ApiError(500, 'error', 'the runtime is not started')
    return runtime.provider
  }
  const running = (kind: ConnectorKind, key: string): RunningConnector => {
    const connector = runtime.connector(kind, key)
    if (connector === undefined) throw new ApiError(404, `${kind}_not_found`, `${kind} with key: ${key} was not found.`)
    return connector
  }
  const statsOf = (kind: ConnectorKind, key: string) => runtime.stats().find((s) => s.kind === kind && s.key === key)

  for (const [plural, kind] of KINDS) {
    type KeyParams = { Params: { key: string } }

    app.get(`/${plural}`, async () => {
      const stats = runtime.stats()
      return runtime.connectors(kind).map((c) => connectorInfo(c, stats.find((s) => s.kind === kind && s.key === c.stored.config.key)))
    })

    app.get<KeyParams>(`/${plural}/:key`, async (request, reply) => {
      try {
        const c = running(kind, request.params.key)
        return { ...connectorInfo(c, statsOf(kind, c.stored.config.key)), streams: redact(c.stored.config.streams) }
      } catch (error) {
        return sendError(reply, error)
      }
    })

    app.get<KeyParams>(`/${plural}/:key/configs`, async (request, reply) => {
      try {
        const c = running(kind, request.params.key)
        const configs = await provider().getConfigs(kind, request.params.key)
        return configs.map((s) => configObject(s, s.config.version === c.stored.config.version))
      } catch (error) {
        return sendError(reply, error)
      }
    })

    app.post<KeyParams & { Body: CreateConnectorConfig }>(`/${plural}/:key/configs`, async (request, reply) => {
      try {
        const body = request.body
        if (body === null || typeof body !== 'object' || Array.isArray(body)) throw new ApiError(400, 'invalid_configuration', 'expected a JSON object body')
        const stored = await provider().createConfig(kind, request.params.key, body)
        return configObject(stored, false)
      } catch (error) {
        return sendError(reply, error)
      }
    })

    app.delete<KeyParams & { Querystring: { version?: string } }>(`/${plural}/:key/configs`, async (request, reply) => {
      try {
        const version = request.query.version === undefined ? undefined : parseVersion(request.query.version)
        await provider().deleteConfig(kind, request.params.key, version)
        return reply.code(204).send()
      } catch (error) {
        return sendError(reply, error)
      }
    })

    app.get<KeyParams>(`/${plural}/:key/configs/active`, async (request, reply) => {
      try {
        return configObject(running(kind, request.params.key).stored, true)
      } catch (error) {
        return sendError(reply, error)
      }
    })

    app.put<KeyParams & { Body: { version?: unknown } }>(`/${plural}/:key/configs/active`, async (request, reply) => {
      try {
        const version = request.body?.version
        if (typeof version !== 'number' || !Number.isInteger(version) || version < 0) {
          throw new ApiError(400, 'invalid_configuration', 'expected body {"version": <non-negative integer>}')
        }
        await provider().setActiveVersion(kind, request.params.key, version)
        return reply.code(204).send()
      } catch (error) {
        return sendError(reply, error)
      }
    })

    app.get<KeyParams & { Querystring: { format?: string } }>(`/${plural}/:key/configs/plugin`, async (request, reply) => {
      try {
        const c = running(kind, request.params.key).stored.config
        if (c.plugin_config === null || c.plugin_config === undefined) return reply.code(404).send()
        const requested = request.query.format?.toLowerCase()
        if (requested !== undefined && !(PLUGIN_CONFIG_FORMATS as readonly string[]).includes(requested)) {
          throw new ApiError(400, 'invalid_configuration', `unknown format "${request.query.format}" (json, yaml, toml, text)`)
        }
        const format = (requested as PluginConfigFormat | undefined) ?? c.plugin_config_format ?? 'toml'
        const rendered = renderPluginConfig(redact(c.plugin_config), format)
        return reply.type(rendered.contentType).send(rendered.body)
      } catch (error) {
        return sendError(reply, error)
      }
    })

    app.get<KeyParams & { Params: { key: string; version: string } }>(`/${plural}/:key/configs/:version`, async (request, reply) => {
      try {
        const version = parseVersion(request.params.version)
        const stored = await provider().getConfig(kind, request.params.key, version)
        if (stored === undefined) {
          throw new ApiError(500, `${kind}_config_not_found`, `${kind} config not found for key: ${request.params.key}, version: ${version}`)
        }
        return configObject(stored, runtime.connector(kind, request.params.key)?.stored.config.version === version)
      } catch (error) {
        return sendError(reply, error)
      }
    })

    app.get<KeyParams>(`/${plural}/:key/transforms`, async (request, reply) => {
      try {
        const transforms = running(kind, request.params.key).stored.config.transforms ?? {}
        return Object.entries(transforms)
          .filter(([, config]) => config !== null)
          .map(([type, config]) => ({ type, config: redact(config) }))
      } catch (error) {
        return sendError(reply, error)
      }
    })

    app.post<KeyParams>(`/${plural}/:key/restart`, async (request, reply) => {
      try {
        await runtime.restart(kind, request.params.key)
        return reply.code(204).send()
      } catch (error) {
        return sendError(reply, error)
      }
    })
  }

  return app
}

/** Listens on `host:port` (IPv6 as `[::1]:port`). */
export async function listen(app: FastifyInstance, address: string): Promise<void> {
  const bound = parseHostPort(address)
  if (!bound) throw new ConfigError([{ file: 'runtime config', path: 'http.address', message: `expected host:port, got "${address}"` }])
  await app.listen({ host: bound.host, port: bound.port })
}

// The HTTP connector config provider: configs live behind a remote API (upstream-compatible
// URL templates, data_path/error_path extraction, retries on transient failures).
import { parseDurationMs } from '../duration'
import { ConfigError, ProviderError } from '../errors'
import { redactConnectionString } from '../redact'
import type { ConnectorKind, SinkConfig, SourceConfig } from './connector-schema'
import { parseConnector } from './connector'
import type { ActiveConfigs, ConnectorConfigProvider, CreateConnectorConfig, StoredConfig } from './provider'
import type { HttpProviderConfig, UrlTemplateKey } from './runtime-schema'
import type { Table } from './toml'

export const DEFAULT_URL_TEMPLATES: Readonly<Record<UrlTemplateKey, string>> = {
  create_sink: '/sinks/{key}/configs',
  create_source: '/sources/{key}/configs',
  get_active_configs: '/configs/active',
  get_active_versions: '/configs/active/versions',
  set_active_sink: '/sinks/{key}/configs/active',
  set_active_source: '/sources/{key}/configs/active',
  get_sink_configs: '/sinks/{key}/configs',
  get_source_configs: '/sources/{key}/configs',
  get_sink_config: '/sinks/{key}/configs/{version}',
  get_source_config: '/sources/{key}/configs/{version}',
  get_active_sink_config: '/sinks/{key}/configs/active',
  get_active_source_config: '/sources/{key}/configs/active',
  delete_sink_config: '/sinks/{key}/configs',
  delete_source_config: '/sources/{key}/configs',
}

/**
 * `base_url + template` with `{key}`/`{version}` substituted as plain text (no encoding, like
 * upstream) and query parameters appended (with `&` when the template has its own query).
 */
export function buildUrl(baseUrl: string, template: string, vars: { key?: string; version?: number } = {}, query: Record<string, string> = {}): string {
  let path = template
  if (vars.key !== undefined) path = path.replaceAll('{key}', vars.key)
  if (vars.version !== undefined) path = path.replaceAll('{version}', String(vars.version))
  const params = Object.entries(query).map(([k, v]) => `${k}=${v}`)
  const url = `${baseUrl.replace(/\/+$/, '')}${path}`
  if (params.length === 0) return url
  return `${url}${url.includes('?') ? '&' : '?'}${params.join('&')}`
}

function navigate(body: unknown, path: string): { found: boolean; value: unknown } {
  let node = body
  for (const segment of path.split('.')) {
    if (Array.isArray(node) && /^\d+$/.test(segment) && Number(segment) < node.length) node = node[Number(segment)]
    else if (node !== null && typeof node === 'object' && !Array.isArray(node) && Object.hasOwn(node, segment)) node = (node as Table)[segment]
    else return { found: false, value: undefined }
  }
  return { found: true, value: node }
}

/** Applies `error_path` (a non-null value there is an error) then `data_path` to a parsed body. */
export function extractResponse(body: unknown, paths: { data_path?: string | undefined; error_path?: string | undefined }): unknown {
  if (paths.error_path) {
    const error = navigate(body, paths.error_path)
    if (error.found && error.value !== null && error.value !== undefined) {
      throw new ProviderError('http_request_failed', `API returned error: ${typeof error.value === 'string' ? error.value : JSON.stringify(error.value)}`)
    }
  }
  if (!paths.data_path) return body
  const data = navigate(body, paths.data_path)
  if (!data.found) {
    const keys = body !== null && typeof body === 'object' && !Array.isArray(body) ? Object.keys(body).slice(0, 5) : []
    throw new ProviderError('http_request_failed', `data_path "${paths.data_path}" not found in response (top-level keys: ${keys.length ? keys.join(', ') : 'none'})`)
  }
  return data.value
}

const TRANSIENT_STATUS = new Set([408, 429])
const isTransient = (status: number) => status >= 500 || TRANSIENT_STATUS.has(status)

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

export class HttpConfigProvider implements ConnectorConfigProvider {
  readonly #config: HttpProviderConfig
  readonly #timeoutMs: number

  constructor(config: HttpProviderConfig) {
    this.#config = config
    this.#timeoutMs = parseDurationMs(config.timeout) ?? 10_000
  }

  #url(op: UrlTemplateKey, vars: { key?: string; version?: number } = {}, query: Record<string, string> = {}): string {
    return buildUrl(this.#config.base_url, this.#config.url_templates[op] ?? DEFAULT_URL_TEMPLATES[op], vars, query)
  }

  /** Backoff before retry n (1-based): initial × multiplier^(n-1), capped, with ±25 % jitter. */
  #backoffMs(attempt: number): number {
    const { initial_backoff, max_backoff, backoff_multiplier } = this.#config.retry
    const base = Math.min((parseDurationMs(initial_backoff) ?? 1000) * backoff_multiplier ** (attempt - 1), parseDurationMs(max_backoff) ?? 30_000)
    return base * (0.75 + Math.random() * 0.5)
  }

  /**
   * One request with retries on 5xx/408/429 and connection errors or timeouts: up to
   * `max_attempts` retries after the first try. Returns undefined for 404 when `allow404`.
   */
  async #request(method: string, url: string, body?: unknown, allow404 = false): Promise<{ status: number; json: unknown } | undefined> {
    const retries = this.#config.retry.enabled ? this.#config.retry.max_attempts : 0
    for (let attempt = 0; ; attempt++) {
      let response: Response
      try {
        const init: RequestInit = {
          method,
          headers: { ...this.#config.request_headers, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
          signal: AbortSignal.timeout(this.#timeoutMs),
        }
        if (body !== undefined) init.body = JSON.stringify(body)
        response = await fetch(url, init)
      } catch (error) {
        if (attempt < retries) {
          await sleep(this.#backoffMs(attempt + 1))
          continue
        }
        throw new ProviderError('http_request_failed', `${method} ${redactConnectionString(url)} failed: ${(error as Error).message}`, { cause: error })
      }
      if (isTransient(response.status) && attempt < retries) {
        await response.arrayBuffer().catch(() => undefined)
        await sleep(this.#backoffMs(attempt + 1))
        continue
      }
      const text = await response.text()
      if (response.status === 404 && allow404) return undefined
      if (response.status < 200 || response.status > 299) {
        throw new ProviderError('http_request_failed', `HTTP ${response.status} - ${text}`)
      }
      if (text.trim() === '') return { status: response.status, json: null }
      let json: unknown
      try {
        json = JSON.parse(text)
      } catch (error) {
        throw new ProviderError('http_request_failed', `${method} ${redactConnectionString(url)}: response is not JSON: ${(error as Error).message}`)
      }
      return { status: response.status, json: extractResponse(json, this.#config.response) }
    }
  }

  #toStored(kind: ConnectorKind, value: unknown, url: string): StoredConfig {
    // The origin names the config in errors and logs: a `?token=…` in base_url stays out of them.
    const origin = redactConnectionString(url)
    if (value === null || typeof value !== 'object' || Array.isArray(value)) {
      throw new ConfigError([{ file: origin, path: '', message: `expected a ${kind} config object` }])
    }
    const result = parseConnector(value as Table, origin, { kind })
    if (!result.parsed) throw new ConfigError(result.errors)
    return { kind, config: result.parsed.config, origin, createdAt: new Date() }
  }

  async getActiveConfigs(): Promise<ActiveConfigs> {
    const url = this.#url('get_active_configs')
    const response = await this.#request('GET', url)
    const body = (response?.json ?? {}) as { sources?: Record<string, unknown> | null; sinks?: Record<string, unknown> | null }
    const sources = Object.values(body.sources ?? {}).map((c) => this.#toStored('source', c, url) as StoredConfig<SourceConfig>)
    const sinks = Object.values(body.sinks ?? {}).map((c) => this.#toStored('sink', c, url) as StoredConfig<SinkConfig>)
    return { sources, sinks }
  }

  async getConfigs(kind: ConnectorKind, key: string): Promise<StoredConfig[]> {
    const url = this.#url(kind === 'sink' ? 'get_sink_configs' : 'get_source_configs', { key })
    const response = await this.#request('GET', url)
    const list = response?.json
    if (!Array.isArray(list)) throw new ProviderError('http_request_failed', `${redactConnectionString(url)}: expected an array of configs`)
    return list.map((c) => this.#toStored(kind, c, url))
  }

  async getConfig(kind: ConnectorKind, key: string, version?: number): Promise<StoredConfig | undefined> {
    const op: UrlTemplateKey =
      version === undefined ? (kind === 'sink' ? 'get_active_sink_config' : 'get_active_source_config') : kind === 'sink' ? 'get_sink_config' : 'get_source_config'
    const url = this.#url(op, version === undefined ? { key } : { key, version })
    const response = await this.#request('GET', url, undefined, true)
    return response === undefined || response.json === null ? undefined : this.#toStored(kind, response.json, url)
  }

  async createConfig(kind: ConnectorKind, key: string, body: CreateConnectorConfig): Promise<StoredConfig> {
    const url = this.#url(kind === 'sink' ? 'create_sink' : 'create_source', { key })
    const response = await this.#request('POST', url, body)
    return this.#toStored(kind, response?.json, url)
  }

  async setActiveVersion(kind: ConnectorKind, key: string, version: number): Promise<void> {
    await this.#request('PUT', this.#url(kind === 'sink' ? 'set_active_sink' : 'set_active_source', { key }), { version })
  }

  async deleteConfig(kind: ConnectorKind, key: string, version?: number): Promise<void> {
    const op = kind === 'sink' ? 'delete_sink_config' : 'delete_source_config'
    await this.#request('DELETE', this.#url(op, { key }, version === undefined ? {} : { version: String(version) }))
  }
}

// The HTTP client of the operator commands (dlq, tap, status): they talk to a running runtime
// through its management API, found from --url or the runtime config's [http] section.
import { parseHostPort } from '../config/http-address'
import { loadRuntimeConfig } from '../config/runtime'
import type { Env } from '../env'

export interface Io {
  stdout: NodeJS.WritableStream
  stderr: NodeJS.WritableStream
}

/** A problem the command reports in one line (exit code 1, or 2 for usage). */
export class CommandError extends Error {
  constructor(
    message: string,
    readonly exitCode = 1,
  ) {
    super(message)
  }
}

export interface ApiTarget {
  /** Base URL without a trailing slash. */
  url: string
  apiKey: string | undefined
}

/** Options every operator command takes. */
export const CLIENT_OPTIONS = {
  config: { type: 'string', short: 'c' },
  url: { type: 'string' },
  'api-key': { type: 'string' },
} as const

/**
 * `--url` (and `--api-key`, else IGGY_CONNECTORS_HTTP_API_KEY), or the address, TLS and
 * api_key of the runtime config (`--config`, with the same env overrides as `run`).
 */
export function apiTarget(values: { config?: string | undefined; url?: string | undefined; 'api-key'?: string | undefined }, env: Env): ApiTarget {
  const envKey = env.IGGY_CONNECTORS_HTTP_API_KEY
  if (values.url !== undefined) {
    return { url: values.url.replace(/\/+$/, ''), apiKey: values['api-key'] ?? (envKey === '' ? undefined : envKey) }
  }
  const { config } = loadRuntimeConfig({ ...(values.config === undefined ? {} : { cliPath: values.config }), env })
  const bound = parseHostPort(config.http.address)
  if (bound === undefined) throw new CommandError(`runtime config: http.address: expected host:port, got "${config.http.address}"`, 2)
  // A wildcard bind is reached on loopback from this machine.
  const host = bound.host === '0.0.0.0' ? '127.0.0.1' : bound.host === '::' ? '::1' : bound.host
  const hostPart = host.includes(':') ? `[${host}]` : host
  const scheme = config.http.tls.enabled ? 'https' : 'http'
  const apiKey = values['api-key'] ?? (config.http.api_key === '' ? undefined : config.http.api_key)
  return { url: `${scheme}://${hostPart}:${bound.port}`, apiKey }
}

/** Sends a request; a non-2xx answer becomes a CommandError with the API's reason. */
export async function request(target: ApiTarget, method: 'GET' | 'POST', path: string, body?: unknown): Promise<Response> {
  const headers: Record<string, string> = {}
  if (target.apiKey !== undefined) headers['api-key'] = target.apiKey
  if (body !== undefined) headers['content-type'] = 'application/json'
  let response: Response
  try {
    response = await fetch(`${target.url}${path}`, { method, headers, ...(body === undefined ? {} : { body: JSON.stringify(body) }) })
  } catch (error) {
    const cause = (error as { cause?: { message?: string } }).cause?.message
    throw new CommandError(`cannot reach the runtime API at ${target.url}: ${cause ?? (error as Error).message} (is the runtime running? see --url / --config)`)
  }
  if (response.ok) return response
  if (response.status === 401) throw new CommandError(`${method} ${path}: 401 unauthorized: pass the runtime's api key (--api-key, IGGY_CONNECTORS_HTTP_API_KEY or [http] api_key in --config)`)
  const text = await response.text()
  let reason = text
  try {
    reason = (JSON.parse(text) as { reason?: string }).reason ?? text
  } catch {
    // not JSON: the raw text
  }
  throw new CommandError(`${method} ${path}: ${response.status} ${reason}`)
}

export async function getJson<T>(target: ApiTarget, path: string): Promise<T> {
  return (await (await request(target, 'GET', path)).json()) as T
}

/** Yields the lines of a streamed body as they arrive. */
export async function* lines(response: Response): AsyncGenerator<string> {
  if (response.body === null) return
  const decoder = new TextDecoder()
  let buffered = ''
  for await (const chunk of response.body) {
    buffered += decoder.decode(chunk as Uint8Array, { stream: true })
    let newline = buffered.indexOf('\n')
    while (newline >= 0) {
      yield buffered.slice(0, newline)
      buffered = buffered.slice(newline + 1)
      newline = buffered.indexOf('\n')
    }
  }
  if (buffered !== '') yield buffered
}

/** `[#####-----]` for a fraction in 0..1. */
export function bar(fraction: number, width = 20): string {
  const f = Math.max(0, Math.min(1, Number.isFinite(fraction) ? fraction : 0))
  const filled = Math.round(f * width)
  return `[${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${Math.floor(f * 100)}%`
}

/** Which kind a connector key is, asked from the API (sinks first), unless `kind` says. */
export async function connectorKind(target: ApiTarget, key: string, kind: string | undefined): Promise<'source' | 'sink'> {
  if (kind !== undefined) {
    if (kind !== 'source' && kind !== 'sink') throw new CommandError(`--kind: expected "source" or "sink", got "${kind}"`, 2)
    return kind
  }
  for (const candidate of ['sink', 'source'] as const) {
    const response = await fetch(`${target.url}/${candidate}s/${encodeURIComponent(key)}`, {
      headers: target.apiKey === undefined ? {} : { 'api-key': target.apiKey },
    }).catch((error: unknown) => {
      throw new CommandError(`cannot reach the runtime API at ${target.url}: ${(error as Error).message}`)
    })
    if (response.status === 401) throw new CommandError('401 unauthorized: pass the runtime\'s api key (--api-key, IGGY_CONNECTORS_HTTP_API_KEY or [http] api_key in --config)')
    if (response.ok) return candidate
  }
  throw new CommandError(`no connector with key "${key}" in the running runtime`)
}

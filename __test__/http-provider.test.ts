import { type IncomingMessage, type Server, type ServerResponse, createServer } from 'node:http'
import { type AddressInfo, createServer as createTcpServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

import { afterEach, describe, expect, it, vi } from 'vitest'

import { HttpConfigProvider, buildUrl, extractResponse } from '../ts/config/http-provider'
import { resolveRuntimeConfig } from '../ts/config/runtime'
import type { HttpProviderConfig } from '../ts/config/runtime-schema'

interface Seen {
  method: string
  url: string
  headers: IncomingMessage['headers']
  body: string
}

type Handler = (req: Seen, res: ServerResponse) => void

const servers: Server[] = []
afterEach(async () => {
  vi.restoreAllMocks()
  for (const server of servers) server.closeAllConnections()
  await Promise.all(servers.splice(0).map((s) => new Promise((resolve) => s.close(resolve))))
})

/** Counts the requests the provider makes (each attempt is one fetch), whatever the server saw. */
function countFetches(): { readonly count: number } {
  const spy = vi.spyOn(globalThis, 'fetch')
  return {
    get count() {
      return spy.mock.calls.length
    },
  }
}

async function serve(handler: Handler): Promise<{ url: string; seen: Seen[] }> {
  const seen: Seen[] = []
  const server = createServer((req, res) => {
    let body = ''
    req.on('data', (chunk: Buffer) => (body += chunk.toString()))
    req.on('end', () => {
      const entry = { method: req.method ?? '', url: req.url ?? '', headers: req.headers, body }
      seen.push(entry)
      handler(entry, res)
    })
  })
  servers.push(server)
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, seen }
}

function json(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' })
  res.end(JSON.stringify(body))
}

function providerConfig(baseUrl: string, extra: Record<string, unknown> = {}): HttpProviderConfig {
  const { config } = resolveRuntimeConfig(
    {
      connectors: {
        config_type: 'http',
        base_url: baseUrl,
        timeout: '2s',
        request_headers: { 'x-api-token': 'tok' },
        retry: { enabled: true, max_attempts: 3, initial_backoff: '10ms', max_backoff: '40ms', backoff_multiplier: 2 },
        ...extra,
      },
    },
    'c.toml',
    {},
  )
  if (config.connectors.config_type !== 'http') throw new Error('expected http')
  return config.connectors
}

const sinkConfig = (version: number) => ({
  key: 'stdout',
  enabled: true,
  version,
  name: 'Stdout',
  path: 'libstdout',
  transforms: null,
  streams: [{ stream: 's', topics: ['t'], schema: 'json', batch_length: 10, poll_interval: '5ms', consumer_group: null }],
  plugin_config_format: null,
  plugin_config: { print_payload: true },
  verbose: null,
})
const sourceConfig = {
  key: 'random',
  enabled: true,
  version: 2,
  name: 'Random',
  path: 'librandom',
  transforms: { add_fields: { enabled: true, fields: [] } },
  streams: [{ stream: 's', topic: 't', schema: 'json' }],
  plugin_config_format: 'json',
  plugin_config: null,
}

function wrap(data: unknown): { data: unknown; error: null } {
  return { data, error: null }
}

describe('URL building and response extraction', () => {
  it('substitutes {key}/{version} as text and appends query parameters', () => {
    expect(buildUrl('http://h/api/', '/sinks/{key}/configs/{version}', { key: 'a b', version: 3 })).toBe('http://h/api/sinks/a b/configs/3')
    expect(buildUrl('http://h', '/sinks/{key}/configs', { key: 'k' }, { version: '1' })).toBe('http://h/sinks/k/configs?version=1')
    expect(buildUrl('http://h', '/x?tenant=1', {}, { version: '1' })).toBe('http://h/x?tenant=1&version=1')
  })

  it('navigates data_path with array indices and reports error_path values', () => {
    expect(extractResponse({ a: { b: [{ c: 1 }] } }, { data_path: 'a.b.0.c' })).toBe(1)
    expect(extractResponse({ data: 1, error: null }, { data_path: 'data', error_path: 'error' })).toBe(1)
    expect(() => extractResponse({ error: 'boom' }, { error_path: 'error' })).toThrow('API returned error: boom')
    expect(() => extractResponse({ error: { code: 7 } }, { error_path: 'error' })).toThrow('API returned error: {"code":7}')
    expect(() => extractResponse({ one: 1, two: 2 }, { data_path: 'data' })).toThrow('data_path "data" not found in response (top-level keys: one, two)')
  })
})

describe('HTTP config provider', () => {
  it('reads direct responses and sends the configured headers', async () => {
    const { url, seen } = await serve((req, res) => {
      if (req.url === '/configs/active') return json(res, 200, { sinks: { stdout: sinkConfig(1) }, sources: { random: sourceConfig } })
      if (req.url === '/sinks/stdout/configs') return json(res, 200, [sinkConfig(0), sinkConfig(1)])
      if (req.url === '/sinks/stdout/configs/1') return json(res, 200, sinkConfig(1))
      if (req.url === '/sinks/stdout/configs/active') return json(res, 200, sinkConfig(1))
      return json(res, 404, { error: 'nope' })
    })
    const provider = new HttpConfigProvider(providerConfig(url))
    const active = await provider.getActiveConfigs()
    expect(active.sinks.map((s) => [s.config.key, s.config.version, s.config.verbose])).toEqual([['stdout', 1, false]])
    expect(active.sources[0]?.config).toMatchObject({ key: 'random', version: 2, plugin_config: null, plugin_config_format: 'json' })
    expect((await provider.getConfigs('sink', 'stdout')).map((s) => s.config.version)).toEqual([0, 1])
    expect((await provider.getConfig('sink', 'stdout', 1))?.config.version).toBe(1)
    expect((await provider.getConfig('sink', 'stdout'))?.config.version).toBe(1)
    expect(await provider.getConfig('sink', 'stdout', 9)).toBeUndefined()
    expect(seen.every((s) => s.headers['x-api-token'] === 'tok')).toBe(true)
  })

  it('unwraps data_path and turns error_path into an error', async () => {
    const { url } = await serve((req, res) => {
      if (req.url === '/configs/active') return json(res, 200, { data: { sinks: { stdout: sinkConfig(0) } }, error: null })
      if (req.url === '/sinks/stdout/configs') return json(res, 200, { data: null, error: { message: 'denied' } })
      return json(res, 404, {})
    })
    const provider = new HttpConfigProvider(providerConfig(url, { response: { data_path: 'data', error_path: 'error' } }))
    const active = await provider.getActiveConfigs()
    expect(active.sinks.map((s) => s.config.key)).toEqual(['stdout'])
    expect(active.sources).toEqual([])
    await expect(provider.getConfigs('sink', 'stdout')).rejects.toThrow('API returned error: {"message":"denied"}')
  })

  it('uses url_templates, PUTs the active version and DELETEs with ?version=', async () => {
    const { url, seen } = await serve((req, res) => {
      if (req.method === 'POST') return json(res, 201, { ...sinkConfig(4), ...JSON.parse(req.body) })
      res.writeHead(204).end()
    })
    const provider = new HttpConfigProvider(providerConfig(url, { url_templates: { set_active_sink: '/v2/sink/{key}/active' } }))
    await provider.setActiveVersion('sink', 'stdout', 3)
    await provider.deleteConfig('sink', 'stdout', 2)
    await provider.deleteConfig('source', 'random')
    const created = await provider.createConfig('sink', 'stdout', { enabled: true, name: 'New', path: 'p', streams: sinkConfig(0).streams })
    expect(created.config).toMatchObject({ name: 'New', version: 4 })
    expect(seen.map((s) => `${s.method} ${s.url} ${s.body}`)).toEqual([
      'PUT /v2/sink/stdout/active {"version":3}',
      'DELETE /sinks/stdout/configs?version=2 ',
      'DELETE /sources/random/configs ',
      `POST /sinks/stdout/configs ${JSON.stringify({ enabled: true, name: 'New', path: 'p', streams: sinkConfig(0).streams })}`,
    ])
  })

  it('retries 5xx, 408 and 429 with backoff, then succeeds', async () => {
    const statuses = [503, 408, 429]
    const { url, seen } = await serve((_req, res) => {
      const status = statuses.shift()
      if (status !== undefined) return json(res, status, { error: 'busy' })
      return json(res, 200, { sinks: {}, sources: {} })
    })
    const started = Date.now()
    await expect(new HttpConfigProvider(providerConfig(url)).getActiveConfigs()).resolves.toEqual({ sources: [], sinks: [] })
    expect(seen).toHaveLength(4)
    // 10 + 20 + 40 ms nominal (±25 % jitter).
    expect(Date.now() - started).toBeGreaterThanOrEqual(50)
  })

  it('gives up after max_attempts retries with the status and body', async () => {
    const { url, seen } = await serve((_req, res) => json(res, 500, { error: 'down' }))
    await expect(new HttpConfigProvider(providerConfig(url)).getActiveConfigs()).rejects.toThrow('HTTP 500 - {"error":"down"}')
    expect(seen).toHaveLength(4)
  })

  it('does not retry other 4xx, nor anything when retry is disabled', async () => {
    const { url, seen } = await serve((_req, res) => json(res, 400, { error: 'bad' }))
    await expect(new HttpConfigProvider(providerConfig(url)).getConfigs('sink', 'x')).rejects.toThrow('HTTP 400')
    expect(seen).toHaveLength(1)
    const noRetry = providerConfig(url, { retry: { enabled: false, max_attempts: 5, initial_backoff: '1ms', max_backoff: '1ms', backoff_multiplier: 1 } })
    const down = await serve((_req, res) => json(res, 503, {}))
    await expect(new HttpConfigProvider({ ...noRetry, base_url: down.url }).getActiveConfigs()).rejects.toThrow('HTTP 503')
    expect(down.seen).toHaveLength(1)
  })

  it('retries connection errors and then reports them', async () => {
    // A real TCP server that resets every connection: each attempt is one accepted connection.
    let connections = 0
    const resetter = createTcpServer((socket) => {
      connections++
      socket.resetAndDestroy()
    })
    await new Promise<void>((resolve) => resetter.listen(0, '127.0.0.1', resolve))
    const url = `http://127.0.0.1:${(resetter.address() as AddressInfo).port}`
    const fetches = countFetches()
    try {
      await expect(new HttpConfigProvider(providerConfig(url)).getActiveConfigs()).rejects.toThrow(/GET http:\/\/127\.0\.0\.1:\d+\/configs\/active failed/)
    } finally {
      await new Promise((resolve) => resetter.close(resolve))
    }
    // The first try and max_attempts (3) retries.
    expect(fetches.count).toBe(4)
    expect(connections).toBe(4)
  })

  it('times out slow answers and retries them', async () => {
    // The server never answers: only the client's timeout ends each attempt. Attempts are
    // counted at the client, since an attempt may time out before the server sees it.
    const { url } = await serve(() => undefined)
    const fetches = countFetches()
    const config = providerConfig(url, { timeout: '50ms', retry: { enabled: true, max_attempts: 1, initial_backoff: '1ms', max_backoff: '1ms', backoff_multiplier: 1 } })
    await expect(new HttpConfigProvider(config).getActiveConfigs()).rejects.toThrow(/GET http:\/\/127\.0\.0\.1:\d+\/configs\/active failed: .*(timeout|aborted)/i)
    expect(fetches.count).toBe(2)
  })

  it('backs the management API like the upstream wiremock test (wrapped responses)', async () => {
    const { url } = await serve((req, res) => {
      if (req.url === '/configs/active') return json(res, 200, wrap({ sinks: { stdout: sinkConfig(1) }, sources: {} }))
      if (req.url === '/sinks/stdout/configs') return json(res, 200, wrap([sinkConfig(0), sinkConfig(1)]))
      if (req.url === '/sinks/stdout/configs/0') return json(res, 200, wrap(sinkConfig(0)))
      return json(res, 404, wrap(null))
    })
    const { ConnectorsRuntime } = await import('../ts/runtime')
    const { createApiServer } = await import('../ts/api/server')
    const { FakeEngine } = await import('./helpers/fake-engine')
    const runtime = new ConnectorsRuntime({
      config: { http: { enabled: false }, state: { path: join(tmpdir(), 'iggy-connectors-http-provider-state') }, connectors: { config_type: 'http', base_url: url, response: { data_path: 'data', error_path: 'error' } } },
      env: {},
      engineFactory: (o) => new FakeEngine(o),
    })
    await runtime.start()
    if (runtime.config === undefined) throw new Error('runtime did not load its config')
    const app = await createApiServer(runtime, runtime.config.http)
    try {
      const list = (await app.inject({ url: '/sinks/stdout/configs' })).json()
      expect(list.map((c: { version: number; active: boolean }) => [c.version, c.active])).toEqual([
        [0, false],
        [1, true],
      ])
      expect(list[0]).toEqual({ ...sinkConfig(0), verbose: false, active: false, streams: [{ stream: 's', topics: ['t'], schema: 'json', batch_length: 10, poll_interval: '5ms', consumer_group: null }] })
      expect((await app.inject({ url: '/sinks/stdout/configs/0' })).json()).toMatchObject({ version: 0, active: false })
      expect((await app.inject({ url: '/sinks/stdout/configs/active' })).json()).toMatchObject({ version: 1, active: true })
      const missing = await app.inject({ url: '/sinks/stdout/configs/7' })
      expect(missing.statusCode).toBe(500)
      expect(missing.json().code).toBe('sink_config_not_found')
    } finally {
      await app.close()
      await runtime.stop()
    }
  })

  it('validates remote configs like files', async () => {
    const { url } = await serve((_req, res) => json(res, 200, { sinks: { bad: { ...sinkConfig(0), streams: [{ stream: 's', schema: 'json' }] } } }))
    await expect(new HttpConfigProvider(providerConfig(url)).getActiveConfigs()).rejects.toThrow(/\/configs\/active: streams\.0\.topics: missing required key/)
  })
})

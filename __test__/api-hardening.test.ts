// The management API against DNS rebinding, cross-site requests and open binds (issue 15), and
// the api-key check on every mutating route (issue 22).
import { createHash } from 'node:crypto'
import { readdirSync, readFileSync } from 'node:fs'
import { request as httpRequest } from 'node:http'
import { connect } from 'node:net'
import { join } from 'node:path'

import { describe, expect, it, vi } from 'vitest'

import { apiKeyMatches, createApiServer } from '../ts/api/server'
import { resolveRuntimeConfig } from '../ts/config/runtime'
import { ConfigError } from '../ts/errors'
import { ConnectorsRuntime } from '../ts/runtime'
import { SINK, started, track } from './helpers/api-runtime'
import { FakeEngine } from './helpers/fake-engine'
import { tmpDir } from './helpers/tmp'

// The real timingSafeEqual, observed: the test checks what the key comparison hands it.
const crypto = vi.hoisted(() => ({ calls: [] as Array<[Buffer, Buffer]> }))
vi.mock('node:crypto', async (importOriginal) => {
  const actual = await importOriginal<typeof import('node:crypto')>()
  const timingSafeEqual = (a: NodeJS.ArrayBufferView, b: NodeJS.ArrayBufferView): boolean => {
    crypto.calls.push([Buffer.from(a.buffer, a.byteOffset, a.byteLength), Buffer.from(b.buffer, b.byteOffset, b.byteLength)])
    return actual.timingSafeEqual(a, b)
  }
  return { ...actual, default: { ...actual, timingSafeEqual }, timingSafeEqual }
})

const JSON_TYPE = { 'content-type': 'application/json' }
const KEY = 'k3y-Secret'
const NEW_SINK = { enabled: true, name: 'S', path: 'lib', streams: [{ stream: 's', topics: ['t'], schema: 'json' }] }
const NEW_SOURCE = { enabled: true, name: 'R', path: 'lib', streams: [{ stream: 's', topic: 't', schema: 'json' }] }

/** Every mutating route, for both kinds, with a body that succeeds when the request is let through. */
function mutatingRoutes() {
  return (['sources', 'sinks'] as const).flatMap((plural) => {
    const key = plural === 'sources' ? 'random' : 'stdout'
    return [
      { method: 'POST' as const, url: `/${plural}/${key}/configs`, payload: plural === 'sources' ? NEW_SOURCE : NEW_SINK, ok: 200 },
      { method: 'PUT' as const, url: `/${plural}/${key}/configs/active`, payload: { version: 0 }, ok: 204 },
      { method: 'POST' as const, url: `/${plural}/${key}/restart`, payload: undefined, ok: 204 },
      { method: 'DELETE' as const, url: `/${plural}/${key}/configs?version=0`, payload: undefined, ok: 204 },
    ]
  })
}

const digest = (text: string) => createHash('sha256').update(text).digest()

/** What a mutating request could have changed: engine calls, config files, pins. */
function snapshot(dir: string, engine: FakeEngine): string {
  const connectors = join(dir, 'connectors')
  const files = readdirSync(connectors)
    .toSorted()
    .map((f) => `${f}:${readFileSync(join(connectors, f), 'utf8')}`)
  return JSON.stringify({ calls: engine.calls, files })
}

function payloadOf(route: { payload: unknown }): string | undefined {
  return route.payload === undefined ? undefined : JSON.stringify(route.payload)
}

describe('Host header (DNS rebinding)', () => {
  it('accepts loopback names on a loopback bind and refuses any other name on every route', async () => {
    const { app } = await started({ address: '127.0.0.1:8081' })
    for (const host of ['localhost:8081', '127.0.0.1:8081', '[::1]:8081', 'localhost', 'LOCALHOST:8081']) {
      expect((await app.inject({ url: '/stats', headers: { host } })).statusCode, host).toBe(200)
    }
    for (const host of ['attacker.example:8081', 'attacker.example', '127.0.0.1.attacker.example:8081', 'localhost.attacker.example', '10.0.0.5:8081']) {
      for (const url of ['/', '/health', '/stats', '/sinks']) {
        const res = await app.inject({ url, headers: { host } })
        expect(res.statusCode, `${host} ${url}`).toBe(403)
        expect(res.json()).toMatchObject({ code: 'host_not_allowed' })
        expect(res.json().reason).toContain('http.allowed_hosts')
      }
      const restart = await app.inject({ method: 'POST', url: '/sinks/stdout/restart', headers: { host, ...JSON_TYPE } })
      expect(restart.statusCode).toBe(403)
    }
  })

  it('refuses a preflight from a rebinding page before CORS answers it', async () => {
    const { app } = await started({ cors: { enabled: true, allowed_origins: ['*'] } })
    const res = await app.inject({
      method: 'OPTIONS',
      url: '/sinks/stdout/restart',
      headers: { host: 'attacker.example:8081', origin: 'http://attacker.example:8081', 'access-control-request-method': 'POST' },
    })
    expect(res.statusCode).toBe(403)
    expect(res.headers['access-control-allow-origin']).toBeUndefined()
  })

  it('adds http.allowed_hosts; a wildcard bind (api_key required) accepts any name unless the list is set', async () => {
    const listed = await started({ address: '127.0.0.1:8081', allowed_hosts: ['connectors.internal'] })
    expect((await listed.app.inject({ url: '/health', headers: { host: 'connectors.internal:8081' } })).statusCode).toBe(200)
    expect((await listed.app.inject({ url: '/health', headers: { host: 'other.internal:8081' } })).statusCode).toBe(403)
    const wildcard = await started({ address: '0.0.0.0:8081', api_key: KEY })
    expect((await wildcard.app.inject({ url: '/health', headers: { host: 'any.name.example' } })).statusCode).toBe(200)
    const restricted = await started({ address: '0.0.0.0:8081', api_key: KEY, allowed_hosts: ['connectors.internal'] })
    expect((await restricted.app.inject({ url: '/health', headers: { host: 'connectors.internal' } })).statusCode).toBe(200)
    expect((await restricted.app.inject({ url: '/health', headers: { host: 'localhost:8081' } })).statusCode).toBe(200)
    expect((await restricted.app.inject({ url: '/health', headers: { host: 'attacker.example' } })).statusCode).toBe(403)
  })

  it('checks the Host header on a real socket, including a request without one', async () => {
    const dir = tmpDir({ 'connectors/stdout.toml': SINK })
    const runtime = track(
      new ConnectorsRuntime({
        config: { http: { address: '127.0.0.1:0' }, connectors: { config_dir: join(dir, 'connectors') }, state: { path: join(dir, 'state') } },
        env: {},
        engineFactory: (o) => new FakeEngine(o),
      }),
    )
    await runtime.start()
    const [, port] = /:(\d+)$/.exec(runtime.httpAddress ?? '') ?? []
    const get = (host: string) =>
      new Promise<number>((resolve, reject) => {
        const req = httpRequest({ host: '127.0.0.1', port: Number(port), path: '/health', headers: { host } }, (res) => {
          res.resume()
          resolve(res.statusCode ?? 0)
        })
        req.on('error', reject)
        req.end()
      })
    expect(await get(`127.0.0.1:${port}`)).toBe(200)
    expect(await get(`localhost:${port}`)).toBe(200)
    expect(await get(`rebound.attacker.example:${port}`)).toBe(403)
    // HTTP/1.0 without a Host header: refused, not guessed.
    const raw = await new Promise<string>((resolve, reject) => {
      const socket = connect(Number(port), '127.0.0.1', () => socket.end('GET /health HTTP/1.0\r\n\r\n'))
      let text = ''
      socket.on('data', (d: Buffer) => (text += d.toString()))
      socket.on('end', () => resolve(text))
      socket.on('error', reject)
    })
    expect(raw).toMatch(/^HTTP\/1\.\d 403/)
    expect(raw).toContain('(missing)')
  })
})

describe('mutating routes need a JSON content type or a custom header (cross-site requests)', () => {
  it('refuses a bodiless or form-like request on every mutating route and changes nothing', async () => {
    const { app, dir, engine } = await started()
    for (const route of mutatingRoutes()) {
      for (const headers of [{}, { 'content-type': 'text/plain' }, { 'content-type': 'application/x-www-form-urlencoded' }, { 'content-type': 'multipart/form-data; boundary=x' }]) {
        const before = snapshot(dir, engine())
        const res = await app.inject({ method: route.method, url: route.url, headers, ...(route.payload === undefined ? {} : { payload: payloadOf(route) }) })
        expect(res.statusCode, `${route.method} ${route.url} ${JSON.stringify(headers)}`).toBe(415)
        expect(res.json()).toMatchObject({ code: 'unsupported_media_type' })
        expect(res.json().reason).toContain('Content-Type: application/json')
        expect(snapshot(dir, engine())).toBe(before)
      }
    }
  })

  it('lets the same requests through with Content-Type: application/json (empty body allowed) or X-Requested-With', async () => {
    for (const extra of [JSON_TYPE, { 'content-type': 'application/json; charset=utf-8' }, { 'x-requested-with': 'XMLHttpRequest', ...JSON_TYPE }]) {
      const { app, engine } = await started()
      for (const route of mutatingRoutes()) {
        const res = await app.inject({ method: route.method, url: route.url, headers: extra, ...(route.payload === undefined ? {} : { payload: payloadOf(route) }) })
        expect(res.statusCode, `${route.method} ${route.url} ${res.body}`).toBe(route.ok)
      }
      expect(engine().calls.filter((c) => c.startsWith('restart'))).toEqual(['restartSource random', 'restartSink stdout'])
    }
    // A custom header alone (no body) is enough for a bodiless route.
    const { app } = await started()
    expect((await app.inject({ method: 'POST', url: '/sinks/stdout/restart', headers: { 'x-requested-with': 'fetch' } })).statusCode).toBe(204)
    expect((await app.inject({ url: '/sinks' })).statusCode).toBe(200)
  })

  it('answers malformed JSON with 400 and the parser message, in the upstream error shape', async () => {
    const { app } = await started()
    const res = await app.inject({ method: 'POST', url: '/sinks/stdout/configs', headers: JSON_TYPE, payload: '{"enabled": tru' })
    expect(res.statusCode).toBe(400)
    expect(res.json()).toMatchObject({ code: 'invalid_request' })
    expect(res.json().reason).toMatch(/JSON/)
    const poisoned = await app.inject({ method: 'POST', url: '/sinks/stdout/configs', headers: JSON_TYPE, payload: '{"__proto__": {"x": 1}}' })
    expect(poisoned.statusCode).toBe(400)
  })
})

describe('binding beyond loopback', () => {
  it('refuses a non-loopback address without an api_key, naming the file and the key', () => {
    for (const address of ['0.0.0.0:8081', '[::]:8081', '10.1.2.3:8081', 'connectors.example:8081', ':8081']) {
      let error: unknown
      try {
        resolveRuntimeConfig({ http: { address } }, 'config.toml', {})
      } catch (e) {
        error = e
      }
      expect(error, address).toBeInstanceOf(ConfigError)
      expect((error as ConfigError).issues).toEqual([expect.objectContaining({ file: 'config.toml', path: 'http.api_key' })])
      expect((error as ConfigError).message).toContain(`config.toml: http.api_key: required when http.address (${address}) is not a loopback address`)
    }
    // From the environment too.
    expect(() => resolveRuntimeConfig({}, 'config.toml', { IGGY_CONNECTORS_HTTP_ADDRESS: '0.0.0.0:9' })).toThrow(/http\.api_key: required/)
    for (const address of ['127.0.0.1:8081', '127.0.0.2:0', 'localhost:8081', '[::1]:8081']) {
      expect(resolveRuntimeConfig({ http: { address } }, 'config.toml', {}).config.http.address).toBe(address)
    }
    expect(resolveRuntimeConfig({ http: { address: '0.0.0.0:8081', api_key: KEY } }, 'config.toml', {}).config.http.api_key).toBe(KEY)
    expect(resolveRuntimeConfig({ http: { address: '0.0.0.0:8081', enabled: false } }, 'config.toml', {}).config.http.enabled).toBe(false)
    expect(() => resolveRuntimeConfig({ http: { address: 'nonsense' } }, 'config.toml', {})).toThrow(/config\.toml: http\.address: expected host:port/)
  })

  it('does not start the runtime (nor the engine) and createApiServer refuses too', async () => {
    const dir = tmpDir({ 'connectors/stdout.toml': SINK })
    let engine: FakeEngine | undefined
    const runtime = new ConnectorsRuntime({
      config: { http: { address: '0.0.0.0:0' }, connectors: { config_dir: join(dir, 'connectors') }, state: { path: join(dir, 'state') } },
      env: {},
      engineFactory: (o) => (engine = new FakeEngine(o)),
    })
    await expect(runtime.start()).rejects.toThrow(/http\.api_key: required/)
    expect(engine).toBeUndefined()
    const { runtime: running } = await started()
    const http = { ...(running.config?.http as NonNullable<typeof running.config>['http']), address: '0.0.0.0:0', api_key: '' }
    await expect(createApiServer(running, http)).rejects.toThrow(/http\.api_key: required/)
  })
})

describe('api key', () => {
  it('guards every mutating route: no key or a wrong one → 401 and nothing changes; the key → done', async () => {
    const { app, dir, engine } = await started({ api_key: KEY })
    const wrong = [undefined, '', 'wrong', KEY.slice(0, -1), `${KEY}x`, KEY.toUpperCase(), ` ${KEY}`, `${KEY}\u0000`]
    for (const route of mutatingRoutes()) {
      for (const given of wrong) {
        const before = snapshot(dir, engine())
        const headers = given === undefined ? JSON_TYPE : { ...JSON_TYPE, 'api-key': given }
        const res = await app.inject({ method: route.method, url: route.url, headers, ...(route.payload === undefined ? {} : { payload: payloadOf(route) }) })
        expect(res.statusCode, `${route.method} ${route.url} ${JSON.stringify(given)}`).toBe(401)
        expect(res.body).toBe('')
        expect(snapshot(dir, engine())).toBe(before)
      }
      const res = await app.inject({ method: route.method, url: route.url, headers: { ...JSON_TYPE, 'api-key': KEY }, ...(route.payload === undefined ? {} : { payload: payloadOf(route) }) })
      expect(res.statusCode, `${route.method} ${route.url}`).toBe(route.ok)
    }
    expect(engine().calls.filter((c) => c.startsWith('restart'))).toEqual(['restartSource random', 'restartSink stdout'])
  })

  it('compares SHA-256 digests of equal length with timingSafeEqual, for every candidate', () => {
    const candidates = ['', 'k', KEY.slice(0, 1), KEY.slice(0, -1), `${KEY}x`, `${KEY}${KEY}`, KEY.toLowerCase(), `${KEY} `, `\u00e9${KEY.slice(1)}`, 'x'.repeat(10_000)]
    for (const candidate of candidates) {
      crypto.calls.length = 0
      expect(apiKeyMatches(candidate, KEY), JSON.stringify(candidate)).toBe(false)
      // One comparison, whatever the length: no early exit that would time the length or a prefix.
      expect(crypto.calls).toHaveLength(1)
      const [a, b] = crypto.calls[0] as [Buffer, Buffer]
      expect(a.length).toBe(32)
      expect(b.length).toBe(32)
      expect(a.equals(digest(candidate))).toBe(true)
      expect(b.equals(digest(KEY))).toBe(true)
    }
    crypto.calls.length = 0
    expect(apiKeyMatches(KEY, KEY)).toBe(true)
    expect(crypto.calls).toHaveLength(1)
    // A missing or repeated header is not a key at all.
    expect(apiKeyMatches(undefined, KEY)).toBe(false)
    expect(apiKeyMatches([KEY, KEY], KEY)).toBe(false)
  })

  it('runs the constant-time comparison for requests too (the guard does not short-cut)', async () => {
    const { app } = await started({ api_key: KEY })
    crypto.calls.length = 0
    expect((await app.inject({ url: '/stats', headers: { 'api-key': KEY.slice(0, 3) } })).statusCode).toBe(401)
    expect((await app.inject({ url: '/stats', headers: { 'api-key': KEY } })).statusCode).toBe(200)
    expect(crypto.calls.map(([a, b]) => [a.length, b.length])).toEqual([
      [32, 32],
      [32, 32],
    ])
  })
})

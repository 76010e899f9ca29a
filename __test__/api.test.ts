import { join } from 'node:path'

import { parse as parseToml } from 'smol-toml'
import { describe, expect, it } from 'vitest'
import { parse as parseYaml } from 'yaml'

import { semverNumber } from '../ts/api/server'
import type { LogRecord } from '../ts/logger'
import { ConnectorsRuntime, type StatusEvent } from '../ts/runtime'
import { SINK, SOURCE, setup, started, track } from './helpers/api-runtime'
import { FakeEngine } from './helpers/fake-engine'
import { parsePrometheus, sample } from './helpers/prometheus'
import { tmpDir } from './helpers/tmp'

const KEY = { 'api-key': 'test-api-key' }
/** What the mutation guard asks of every POST/PUT/DELETE. */
const JSON_TYPE = { 'content-type': 'application/json' }

describe('API authentication', () => {
  it('exempts / and /health, and answers 401 with an empty body otherwise', async () => {
    const { app } = await started({ api_key: 'test-api-key' })
    const root = await app.inject({ url: '/' })
    expect(root.statusCode).toBe(200)
    expect(root.headers['content-type']).toMatch(/^text\/plain/)
    expect(root.body).toBe('Connector Runtime API')
    expect((await app.inject({ url: '/health' })).json()).toEqual({ status: 'healthy' })
    for (const headers of [{}, { 'api-key': 'wrong' }, { 'api-key': 'test-api-key ' }]) {
      const res = await app.inject({ url: '/stats', headers })
      expect(res.statusCode).toBe(401)
      expect(res.body).toBe('')
    }
    expect((await app.inject({ url: '/sinks/stdout', headers: {} })).statusCode).toBe(401)
    expect((await app.inject({ url: '/stats', headers: KEY })).statusCode).toBe(200)
  })

  it('is off when no api_key is configured', async () => {
    const { app } = await started()
    expect((await app.inject({ url: '/stats' })).statusCode).toBe(200)
  })

  it('lets CORS preflights through before auth', async () => {
    const { app } = await started({ api_key: 'test-api-key', cors: { enabled: true, allowed_origins: ['http://ui.example'], allowed_headers: ['content-type', 'api-key'] } })
    const res = await app.inject({
      method: 'OPTIONS',
      url: '/stats',
      headers: { origin: 'http://ui.example', 'access-control-request-method': 'GET', 'access-control-request-headers': 'api-key' },
    })
    expect(res.statusCode).toBe(204)
    expect(res.headers['access-control-allow-origin']).toBe('http://ui.example')
    expect(res.headers['access-control-allow-headers']).toBe('content-type, api-key')
    const get = await app.inject({ url: '/stats', headers: { origin: 'http://ui.example', ...KEY } })
    expect(get.headers['access-control-allow-origin']).toBe('http://ui.example')
  })
})

describe('API connectors and stats', () => {
  it('reports /stats with upstream fields; totals include disabled connectors', async () => {
    const { app, engine } = await started()
    engine().set('random', { messagesIn: 10, messagesOut: 9, errors: 1 })
    const stats = (await app.inject({ url: '/stats' })).json()
    expect(stats).toMatchObject({
      connectors_runtime_version: '0.1.0',
      connectors_runtime_version_semver: 1000,
      process_id: process.pid,
      sources_total: 1,
      sources_running: 1,
      sinks_total: 2,
      sinks_running: 1,
    })
    for (const field of ['cpu_usage', 'total_cpu_usage', 'memory_usage', 'total_memory', 'available_memory', 'run_time', 'start_time']) {
      expect(typeof stats[field]).toBe('number')
    }
    expect(stats.start_time).toBeGreaterThan(1_600_000_000_000_000)
    expect(stats.connectors).toEqual([
      { key: 'random', name: 'Random', connector_type: 'source', version: '0.4.0', version_semver: 4000, status: 'running', enabled: true, messages_produced: 10, messages_sent: 9, errors: 1 },
      { key: 'stdout', name: 'Stdout', connector_type: 'sink', version: '0.4.0', version_semver: 4000, status: 'running', enabled: true, messages_consumed: 0, messages_processed: 0, errors: 0 },
    ])
    expect(semverNumber('1.2.3')).toBe(1_002_003)
  })

  it('lists only enabled connectors with status and last_error in µs', async () => {
    const { app, engine } = await started()
    engine().set('stdout', { status: 'error', lastError: { message: 'boom', timestampMicros: 1_700_000_000_000_123 } })
    expect((await app.inject({ url: '/sinks' })).json()).toEqual([
      { id: 2, key: 'stdout', name: 'Stdout', path: 'build/plugins/libiggy_connector_stdout_sink', enabled: true, status: 'error', last_error: { message: 'boom', timestamp: 1_700_000_000_000_123 } },
    ])
    const one = (await app.inject({ url: '/sources/random' })).json()
    expect(one).toMatchObject({ id: 1, key: 'random', status: 'running', plugin_config_format: 'json' })
    expect(one.streams).toEqual([{ stream: 's', topic: 't', schema: 'json', batch_length: 1000, linger_time: '5ms' }])
    const missing = await app.inject({ url: '/sinks/pg' })
    expect(missing.statusCode).toBe(404)
    expect(missing.json()).toEqual({ code: 'sink_not_found', reason: 'sink with key: pg was not found.' })
  })
})

describe('API configs', () => {
  it('lists versions with active flags and redacts secrets', async () => {
    const { app } = await started()
    const configs = (await app.inject({ url: '/sources/random/configs' })).json()
    expect(configs).toHaveLength(1)
    expect(configs[0]).toMatchObject({ key: 'random', version: 0, active: true, verbose: false, plugin_config_format: 'json' })
    expect(configs[0].plugin_config).toEqual({ interval: '1s', password: '******', database_url: 'postgres://app:******@db:5432/x' })
    expect((await app.inject({ url: '/sinks/pg/configs' })).statusCode).toBe(404)
  })

  it('creates, reads, activates and deletes versions', async () => {
    const { app } = await started()
    const body = { enabled: true, name: 'Random 2', path: 'lib', streams: [{ stream: 's', topic: 't', schema: 'text' }], plugin_config: { interval: '2s' } }
    const created = await app.inject({ method: 'POST', url: '/sources/random/configs', payload: body })
    expect(created.statusCode).toBe(200)
    expect(created.json()).toMatchObject({ key: 'random', version: 1, name: 'Random 2', active: false, transforms: null })
    expect((await app.inject({ url: '/sources/random/configs/1' })).json()).toMatchObject({ version: 1, active: false })
    expect((await app.inject({ url: '/sources/random/configs/0' })).json()).toMatchObject({ version: 0, active: true })
    const unknown = await app.inject({ url: '/sources/random/configs/9' })
    expect(unknown.statusCode).toBe(500)
    expect(unknown.json().code).toBe('source_config_not_found')
    expect((await app.inject({ url: '/sources/random/configs/active' })).json()).toMatchObject({ version: 0, active: true, name: 'Random' })
    expect((await app.inject({ method: 'PUT', url: '/sources/random/configs/active', payload: { version: 1 } })).statusCode).toBe(204)
    expect((await app.inject({ method: 'PUT', url: '/sources/random/configs/active', payload: { version: 5 } })).statusCode).toBe(500)
    expect((await app.inject({ method: 'PUT', url: '/sources/random/configs/active', payload: { version: 'x' } })).statusCode).toBe(400)
    expect((await app.inject({ method: 'DELETE', url: '/sources/random/configs?version=1', headers: JSON_TYPE })).statusCode).toBe(204)
    expect((await app.inject({ url: '/sources/random/configs' })).json().map((c: { version: number }) => c.version)).toEqual([0])
    const bad = await app.inject({ method: 'POST', url: '/sources/random/configs', payload: { enabled: true, name: 'x', path: 'p', streams: [{ stream: 's' }] } })
    expect(bad.statusCode).toBe(400)
    expect(bad.json().code).toBe('invalid_configuration')
    expect(bad.json().reason).toContain('streams.0.topic: missing required key (expected string)')
    expect(bad.json().reason).toContain('streams.0.schema: missing required key (expected one of "json"|"raw"|"text"|"proto"|"flat_buffer")')
  })

  it('renders the plugin config in each format, defaulting to plugin_config_format then TOML', async () => {
    const { app } = await started()
    const asJson = await app.inject({ url: '/sources/random/configs/plugin' })
    expect(asJson.headers['content-type']).toMatch(/^application\/json/)
    expect(asJson.json()).toEqual({ interval: '1s', password: '******', database_url: 'postgres://app:******@db:5432/x' })
    const yaml = await app.inject({ url: '/sources/random/configs/plugin?format=yaml' })
    expect(yaml.headers['content-type']).toMatch(/^application\/yaml/)
    expect(parseYaml(yaml.body)).toEqual(asJson.json())
    const toml = await app.inject({ url: '/sources/random/configs/plugin?format=toml' })
    expect(toml.headers['content-type']).toMatch(/^application\/toml/)
    expect(parseToml(toml.body)).toEqual(asJson.json())
    const text = await app.inject({ url: '/sources/random/configs/plugin?format=text' })
    expect(text.headers['content-type']).toMatch(/^text\/plain/)
    expect(JSON.parse(text.body)).toEqual(asJson.json())
    const none = await app.inject({ url: '/sinks/stdout/configs/plugin' })
    expect(none.statusCode).toBe(404)
    expect(none.body).toBe('')
  })

  it('lists transforms in file order with their tables', async () => {
    const { app } = await started()
    expect((await app.inject({ url: '/sources/random/transforms' })).json()).toEqual([
      { type: 'add_fields', config: { enabled: true, fields: [{ key: 'a', value: { static: 1 } }] } },
    ])
    expect((await app.inject({ url: '/sinks/stdout/transforms' })).json()).toEqual([])
  })
})

describe('restart', () => {
  it('restarts with the active (pinned) version, not the newest; parallel restarts all get 204 and run once', async () => {
    const { app, engine } = await started()
    const body = { enabled: true, name: 'R', path: 'lib', streams: [{ stream: 's', topic: 't', schema: 'json' }], plugin_config: { interval: '3s' } }
    expect((await app.inject({ method: 'POST', url: '/sources/random/configs', payload: body })).json()).toMatchObject({ version: 1, active: false })
    // A created version is not live: a restart keeps running version 0.
    expect((await app.inject({ method: 'POST', url: '/sources/random/restart', headers: JSON_TYPE })).statusCode).toBe(204)
    expect(engine().lastRestartOptions).toMatchObject({ key: 'random', version: 0 })
    expect((await app.inject({ url: '/sources/random/configs/active' })).json()).toMatchObject({ version: 0 })

    expect((await app.inject({ method: 'PUT', url: '/sources/random/configs/active', payload: { version: 1 } })).statusCode).toBe(204)
    // Hold the first restart inside the engine until the other four have been answered: they
    // overlap it by construction, not by a delay.
    let release: (() => void) | undefined
    const gate = new Promise<void>((resolve) => {
      release = resolve
    })
    const fake = engine()
    const restartSource = fake.restartSource.bind(fake)
    fake.restartSource = async (key, options) => {
      await gate
      return restartSource(key, options)
    }
    const answered: number[] = []
    const requests = Array.from({ length: 5 }, () =>
      app.inject({ method: 'POST', url: '/sources/random/restart', headers: JSON_TYPE }).then((r) => {
        answered.push(r.statusCode)
        if (answered.length === 4) release?.()
        return r
      }),
    )
    const results = await Promise.all(requests)
    expect(results.map((r) => r.statusCode)).toEqual([204, 204, 204, 204, 204])
    expect(engine().calls.filter((c) => c.startsWith('restart'))).toEqual(['restartSource random', 'restartSource random'])
    expect(engine().lastRestartOptions).toMatchObject({ key: 'random', version: 1, pluginConfigJson: '{"interval":"3s"}' })
    expect((await app.inject({ url: '/sources/random/configs/active' })).json()).toMatchObject({ version: 1 })
    const missing = await app.inject({ method: 'POST', url: '/sinks/pg/restart', headers: JSON_TYPE })
    expect(missing.statusCode).toBe(404)
    expect(missing.json().code).toBe('sink_not_found')
  })
})

describe('metrics', () => {
  it('exposes gauges and per-connector counters with upstream names', async () => {
    const { app, engine } = await started({ metrics: { enabled: true, endpoint: '/prom' } })
    engine().set('random', { messagesIn: 12, messagesOut: 11, bytesIn: 1200, errors: 3, decodeErrors: 1, sendErrors: 2, filtered: 4 })
    engine().set('stdout', { messagesIn: 11, messagesOut: 10, lag: 7, consumeErrors: 5, errors: 5 })
    const res = await app.inject({ url: '/prom' })
    expect(res.statusCode).toBe(200)
    expect(res.headers['content-type']).toMatch(/^text\/plain/)
    const m = parsePrometheus(res.body)
    expect(sample(m, 'iggy_connectors_sources_total')).toBe(1)
    expect(sample(m, 'iggy_connectors_sinks_total')).toBe(2)
    expect(sample(m, 'iggy_connectors_sinks_running')).toBe(1)
    const src = { connector_key: 'random', connector_type: 'Source' }
    const snk = { connector_key: 'stdout', connector_type: 'Sink' }
    expect(sample(m, 'iggy_connector_messages_produced_total', src)).toBe(12)
    expect(sample(m, 'iggy_connector_messages_sent_total', src)).toBe(11)
    expect(sample(m, 'iggy_connector_messages_consumed_total', snk)).toBe(11)
    expect(sample(m, 'iggy_connector_messages_processed_total', snk)).toBe(10)
    expect(sample(m, 'iggy_connector_errors_total', src)).toBe(3)
    expect(sample(m, 'iggy_connector_bytes_in_total', src)).toBe(1200)
    expect(sample(m, 'iggy_connector_messages_filtered_total', src)).toBe(4)
    expect(sample(m, 'iggy_connector_errors_by_kind_total', { ...src, kind: 'send' })).toBe(2)
    expect(sample(m, 'iggy_connector_errors_by_kind_total', { ...snk, kind: 'consume' })).toBe(5)
    expect(sample(m, 'iggy_connector_lag', snk)).toBe(7)
    expect(m.types.iggy_connector_messages_produced_total).toBe('counter')
    expect(m.types.iggy_connector_lag).toBe('gauge')
    expect(res.body).not.toContain('_total_total')
    expect((await app.inject({ url: '/metrics' })).statusCode).toBe(404)
  })
})

describe('runtime events and transforms', () => {
  it('emits logs tagged with the connector key and status changes', async () => {
    const ctx = await setup()
    const statuses: StatusEvent[] = []
    const logs: LogRecord[] = []
    ctx.runtime.on('status', (e) => statuses.push(e))
    ctx.runtime.on('log', (r) => logs.push(r))
    await ctx.runtime.start()
    ctx.engine().log?.({ level: 'info', connectorKey: 'stdout', target: 'iggy_connector_stdout_sink', message: 'consumed 3', timestampMicros: 5 })
    expect(logs.at(-1)).toEqual({ level: 'info', connectorKey: 'stdout', target: 'iggy_connector_stdout_sink', message: 'consumed 3', timestampMicros: 5 })
    expect(statuses.map((s) => `${s.kind}:${s.key}:${s.status}`)).toEqual(['source:random:running', 'sink:stdout:running'])
    // Wait for the status poller to see the change (no fixed sleep).
    const changed = new Promise<StatusEvent>((resolve) => ctx.runtime.once('status', resolve))
    ctx.engine().set('stdout', { status: 'error', lastError: { message: 'x', timestampMicros: 1 } })
    expect(await changed).toEqual(statuses.at(-1))
    expect(statuses.at(-1)).toEqual({ kind: 'sink', key: 'stdout', status: 'error', previous: 'running', lastError: { message: 'x', timestampMicros: 1 } })
    await ctx.runtime.stop(1234)
    expect(ctx.engine().calls).toEqual(['start', 'stop 1234'])
    expect(ctx.runtime.state).toBe('stopped')
  })

  it('runs a registered TS transform over a batch and refuses an unregistered one', async () => {
    const withTransform = SINK.replace('schema = "json"', 'schema = "json"\n\n[transforms.shout]\nenabled = true\nsuffix = "!"\n')
    const ctx = await setup({}, { 'connectors/stdout.toml': withTransform })
    await expect(ctx.runtime.start()).rejects.toThrow(/transforms\.shout: unknown transform "shout"/)

    const ok = await setup({}, { 'connectors/stdout.toml': withTransform })
    ok.runtime.registerTransform('shout', (messages, context) =>
      messages
        .filter((m) => m.payload.length > 2)
        .map((m) => ({ ...m, payload: Buffer.from(m.payload.toString().toUpperCase() + String(context.config.suffix)) })),
    )
    await ok.runtime.start()
    expect(ok.engine().options.sinks[0]?.transforms).toEqual([{ type: 'shout', configJson: '{"enabled":true,"suffix":"!"}' }])
    const out = await ok.engine().transform?.({
      connectorKey: 'stdout',
      kind: 'sink',
      transform: 'shout',
      stream: 's',
      topic: 't',
      messages: [
        { id: '1', payload: Buffer.from('"hi"') },
        { id: '2', payload: Buffer.from('1') },
      ],
    })
    expect(out?.map((m) => [m.id, m.payload.toString()])).toEqual([['1', '"HI"!']])
  })

  it('loads a transform from a module path relative to the connector file', async () => {
    const withModule = SOURCE.replace('[transforms.add_fields]', '[transforms.tag]\nenabled = true\nmodule = "./tag.js"\ntag = "T"\n\n[transforms.add_fields]')
    const ctx = await setup({}, {
      'connectors/random.toml': withModule,
      'connectors/tag.js': `exports.createTransform = (config) => ({ transform: (messages) => messages.map((m) => ({ ...m, headers: { tag: config.tag } })) })\n`,
    })
    await ctx.runtime.start()
    expect(ctx.engine().options.sources[0]?.transforms.map((t) => t.type)).toEqual(['tag', 'add_fields'])
    const out = await ctx.engine().transform?.({ connectorKey: 'random', kind: 'source', transform: 'tag', stream: 's', topic: 't', messages: [{ id: '9', payload: Buffer.from('{}') }] })
    expect(out).toEqual([{ id: '9', payload: Buffer.from('{}'), headers: { tag: 'T' } }])
  })

  it('names the transform when its module cannot be loaded', async () => {
    const broken = SOURCE.replace('[transforms.add_fields]', '[transforms.tag]\nenabled = true\nmodule = "./missing.js"\n\n[transforms.add_fields]')
    const ctx = await setup({}, { 'connectors/random.toml': broken })
    await expect(ctx.runtime.start()).rejects.toThrow(/source "random": transforms\.tag: Cannot find module/)
    expect(ctx.engine()).toBeUndefined()
  })

  it('rebinds TS transforms on restart with the new config', async () => {
    const v0 = SINK.replace('schema = "json"', 'schema = "json"\n\n[transforms.suffix]\nenabled = true\nsuffix = "-v0"\n')
    const ctx = await setup({}, { 'connectors/stdout.toml': v0 })
    ctx.runtime.registerTransform('suffix', (messages, context) => messages.map((m) => ({ ...m, payload: Buffer.from(`${m.payload}${String(context.config.suffix)}`) })))
    await ctx.runtime.start()
    const batch = { connectorKey: 'stdout', kind: 'sink', transform: 'suffix', stream: 's', topic: 't', messages: [{ id: '1', payload: Buffer.from('x') }] }
    expect((await ctx.engine().transform?.(batch))?.[0]?.payload.toString()).toBe('x-v0')
    await ctx.runtime.provider?.createConfig('sink', 'stdout', {
      enabled: true,
      name: 'Stdout',
      path: 'lib',
      streams: [{ stream: 's', topics: ['t'], schema: 'json' }],
      transforms: { suffix: { enabled: true, suffix: '-v1' } },
    })
    await ctx.runtime.provider?.setActiveVersion('sink', 'stdout', 1)
    expect(await ctx.runtime.restart('sink', 'stdout')).toBe(true)
    expect((await ctx.engine().transform?.(batch))?.[0]?.payload.toString()).toBe('x-v1')
  })

  it('serves the API on a real port when http is enabled', async () => {
    const dir = tmpDir({ 'connectors/stdout.toml': SINK })
    const runtime = new ConnectorsRuntime({
      config: { http: { address: '127.0.0.1:0', api_key: 'k' }, connectors: { config_dir: join(dir, 'connectors') }, state: { path: join(dir, 'state') } },
      env: {},
      engineFactory: (o) => new FakeEngine(o),
    })
    track(runtime)
    await runtime.start()
    const base = `http://${runtime.httpAddress}`
    expect((await fetch(`${base}/health`)).status).toBe(200)
    expect((await fetch(`${base}/sinks`)).status).toBe(401)
    const sinks = await (await fetch(`${base}/sinks`, { headers: { 'api-key': 'k' } })).json()
    expect(sinks).toMatchObject([{ key: 'stdout', status: 'running' }])
    await runtime.stop()
    await expect(fetch(`${base}/health`)).rejects.toThrow()
  })
})

describe('start failures', () => {
  it('stops the engine again when the API address is taken', async () => {
    const { createServer } = await import('node:net')
    const blocker = createServer()
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve))
    const port = (blocker.address() as { port: number }).port
    const dir = tmpDir({ 'connectors/stdout.toml': SINK })
    let engine: FakeEngine | undefined
    const runtime = new ConnectorsRuntime({
      config: { http: { address: `127.0.0.1:${port}` }, connectors: { config_dir: join(dir, 'connectors') }, state: { path: join(dir, 'state') } },
      env: {},
      engineFactory: (o) => (engine = new FakeEngine(o)),
    })
    await expect(runtime.start()).rejects.toThrow(/EADDRINUSE/)
    expect(engine?.calls).toEqual(['start', 'stop 10000'])
    expect(runtime.state).toBe('stopped')
    await new Promise((resolve) => blocker.close(resolve))
  })
})

describe('TLS', () => {
  it('serves HTTPS with the configured PEM files', async () => {
    const { request } = await import('node:https')
    const { readFileSync } = await import('node:fs')
    const tls = join(__dirname, 'fixtures/tls')
    const dir = tmpDir({ 'connectors/stdout.toml': SINK })
    const runtime = new ConnectorsRuntime({
      config: {
        http: { address: '127.0.0.1:0', tls: { enabled: true, cert_file: join(tls, 'cert.pem'), key_file: join(tls, 'key.pem') } },
        connectors: { config_dir: join(dir, 'connectors') },
        state: { path: join(dir, 'state') },
      },
      env: {},
      engineFactory: (o) => new FakeEngine(o),
    })
    track(runtime)
    await runtime.start()
    const body = await new Promise<string>((resolve, reject) => {
      const req = request(`https://${runtime.httpAddress}/health`, { ca: readFileSync(join(tls, 'cert.pem')) }, (res) => {
        let text = ''
        res.on('data', (d: Buffer) => (text += d.toString()))
        res.on('end', () => resolve(text))
      })
      req.on('error', reject)
      req.end()
    })
    expect(JSON.parse(body)).toEqual({ status: 'healthy' })
  })
})

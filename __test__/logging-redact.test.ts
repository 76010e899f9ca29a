import { PassThrough } from 'node:stream'

import { describe, expect, it } from 'vitest'

import { createLogWriter, formatRecord } from '../ts/logger'
import { MASK, redact, redactConnectionString } from '../ts/redact'

describe('redaction', () => {
  it('masks secret keys at any depth and credentials inside connection strings', () => {
    const input = {
      password: 'p',
      api_key: 'k',
      empty_token: '',
      nested: [{ auth_token: 't', client_secret: 's', user: 'bob' }],
      connection_string: 'postgresql://postgres:hunter2@localhost:5432/app',
      mongo_url: 'mongodb://admin@mongo:27017',
      dsn: 'host=db user=app password=xyz sslmode=disable',
      endpoint: 'http://plain.example/path',
      count: 3,
    }
    expect(redact(input)).toEqual({
      password: MASK,
      api_key: MASK,
      empty_token: '',
      nested: [{ auth_token: MASK, client_secret: MASK, user: 'bob' }],
      connection_string: 'postgresql://postgres:******@localhost:5432/app',
      mongo_url: 'mongodb://******@mongo:27017',
      dsn: 'host=db user=app password=****** sslmode=disable',
      endpoint: 'http://plain.example/path',
      count: 3,
    })
    // The input is not modified.
    expect(input.password).toBe('p')
  })

  it('masks query-string credentials', () => {
    expect(redactConnectionString('https://h/x?token=abc&x=1')).toBe('https://h/x?token=******&x=1')
    expect(redactConnectionString('https://h/x?email=a@b.example&token=t')).toBe('https://h/x?email=a@b.example&token=******')
  })

  it('masks a password containing @ or / whole, in URLs, node lists and DSN pairs', () => {
    expect(redactConnectionString('postgres://app:p@ss@db:5432/x')).toBe('postgres://app:******@db:5432/x')
    expect(redactConnectionString('postgresql://app:a/b@c@h1:5432,h2:5432/x?sslmode=require')).toBe('postgresql://app:******@h1:5432,h2:5432/x?sslmode=require')
    expect(redactConnectionString('mongodb://root:@@@mongo:27017')).toBe('mongodb://root:******@mongo:27017')
    expect(redactConnectionString("host=db user=app password='p w@x' sslpassword=k@y sslmode=require")).toBe(
      'host=db user=app password=****** sslpassword=****** sslmode=require',
    )
    expect(redact({ nodes: ['default:p@ss@redis:6379'], brokers: 'kafka:9092' })).toEqual({ nodes: ['default:******@redis:6379'], brokers: 'kafka:9092' })
    // Under a key that says nothing, a DSN is still recognised by its pairs.
    expect(redact({ options: 'host=db password=p@ss' })).toEqual({ options: `host=db password=${MASK}` })
  })

  it('masks sslpassword, passphrase and PEM keys whole', () => {
    const pem = '-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----'
    expect(redact({ sslpassword: 'a', SSLPASSWORD: 'b', passphrase: 'c', key_passphrase: 'd', client_key_pem: pem, pem, ca_cert_pem: pem, sslmode: 'require' })).toEqual({
      sslpassword: MASK,
      SSLPASSWORD: MASK,
      passphrase: MASK,
      key_passphrase: MASK,
      client_key_pem: MASK,
      pem: MASK,
      ca_cert_pem: MASK,
      sslmode: 'require',
    })
  })

  it('masks inside JSON texts of config tables (engine options)', () => {
    const out = redact({ configJson: '{"enabled":true,"api_token":"t0k","target":"postgres://u:pw@h/db","n":1}', pluginConfigJson: 'not json password=x' })
    expect(JSON.parse(out.configJson)).toEqual({ enabled: true, api_token: MASK, target: 'postgres://u:******@h/db', n: 1 })
    expect(out.pluginConfigJson).toBe(`not json password=${MASK}`)
  })
})

describe('log formatting', () => {
  const record = { level: 'warn' as const, target: 'iggy_connector_stdout_sink', message: 'hello', connectorKey: 'stdout', timestampMicros: 1_767_225_600_000_123 }

  it('renders text with µs time, level, target and connector key', () => {
    expect(formatRecord(record, 'text')).toBe('2026-01-01T00:00:00.000123Z  WARN iggy_connector_stdout_sink connector=stdout: hello')
  })

  it('renders one JSON object per line', () => {
    expect(JSON.parse(formatRecord(record, 'json'))).toEqual({
      timestamp: '2026-01-01T00:00:00.000123Z',
      level: 'WARN',
      target: 'iggy_connector_stdout_sink',
      connector_key: 'stdout',
      message: 'hello',
    })
  })

  it('filters below the configured level', () => {
    const stream = new PassThrough()
    let out = ''
    stream.on('data', (d: Buffer) => (out += d.toString()))
    const write = createLogWriter({ format: 'json', level: 'warn', stream })
    write({ ...record, level: 'info', message: 'dropped' })
    write({ ...record, level: 'error', message: 'kept' })
    expect(out.trim().split('\n').map((l) => JSON.parse(l).message)).toEqual(['kept'])
  })
})

describe('HTTP config provider errors', () => {
  it('keep a token in base_url out of error messages and config origins', async () => {
    const { createServer } = await import('node:http')
    const { HttpConfigProvider } = await import('../ts/config/http-provider')
    const { resolveRuntimeConfig } = await import('../ts/config/runtime')
    const { ConfigError } = await import('../ts/errors')
    let reply = 'not json'
    const server = createServer((_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end(reply))
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    const { port } = server.address() as { port: number }
    try {
      const baseUrl = `http://127.0.0.1:${port}/api?token=tok-secret-1`
      const { config } = resolveRuntimeConfig({ connectors: { config_type: 'http', base_url: baseUrl, retry: { enabled: false, max_attempts: 0, initial_backoff: '1ms', max_backoff: '1ms', backoff_multiplier: 1 } } }, 'c.toml', {})
      if (config.connectors.config_type !== 'http') throw new Error('expected the http provider')
      const provider = new HttpConfigProvider(config.connectors)
      const notJson = await provider.getActiveConfigs().then(() => undefined, (error: Error) => error)
      expect(notJson?.message).toMatch(/response is not JSON/)
      expect(notJson?.message).toContain('token=******')
      expect(notJson?.message).not.toContain('tok-secret-1')
      reply = JSON.stringify({ sinks: { bad: { enabled: 'yes' } }, sources: {} })
      const invalid = await provider.getActiveConfigs().then(() => undefined, (error: unknown) => error)
      expect(invalid).toBeInstanceOf(ConfigError)
      expect((invalid as Error).message).toContain('token=******')
      expect((invalid as Error).message).not.toContain('tok-secret-1')
    } finally {
      await new Promise((resolve) => server.close(resolve))
    }
  })
})

describe('engine options in logs', () => {
  it('masks secrets inside TS transform tables', async () => {
    const { loggableOptions } = await import('../ts/runtime')
    const text = JSON.stringify(
      loggableOptions({
        iggy: { address: 'h:1', token: 'pat-secret' },
        statePath: '/s',
        sources: [],
        sinks: [
          {
            key: 'pg',
            name: 'pg',
            path: 'p',
            version: 0,
            pluginConfigJson: 'null',
            transforms: [{ type: 'enrich', configJson: '{"enabled":true,"lookup_url":"https://svc:hunter2@lookup/x","client_secret":"s3cr3t","passphrase":"open sesame"}' }],
            streams: [],
            verbose: false,
          },
        ],
      }),
    )
    for (const secret of ['hunter2', 's3cr3t', 'open sesame', 'pat-secret']) expect(text).not.toContain(secret)
    expect(text).toContain('https://svc:******@lookup/x')
  })

  it('masks the Iggy password and secrets inside plugin config JSON', async () => {
    const { loggableOptions } = await import('../ts/runtime')
    const text = JSON.stringify(
      loggableOptions({
        iggy: { address: 'h:1', username: 'iggy', password: 'pw' },
        statePath: '/s',
        sources: [],
        sinks: [{ key: 'pg', name: 'pg', path: 'p', version: 0, pluginConfigJson: '{"connection_string":"postgres://u:hunter2@db/x","api_token":"t"}', transforms: [], streams: [], verbose: false }],
      }),
    )
    expect(text).not.toContain('hunter2')
    expect(text).not.toContain('"pw"')
    expect(text).not.toContain('"t"')
    expect(text).toContain('postgres://u:******@db/x')
  })
})

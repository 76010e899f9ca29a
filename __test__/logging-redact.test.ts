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

describe('engine options in logs', () => {
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

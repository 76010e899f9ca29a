import { join } from 'node:path'

import { describe, expect, it } from 'vitest'

import { applyRuntimeEnv, loadEnvFile, loadRuntimeConfig, locateConfig, resolveRuntimeConfig } from '../ts/config/runtime'
import { parseDurationMs } from '../ts/duration'
import { inferEnvValue, parseDotenv, suggest } from '../ts/env'
import { ConfigError } from '../ts/errors'
import { fixtures, tmpDir } from './helpers/tmp'

function configError(fn: () => unknown): ConfigError {
  try {
    fn()
  } catch (error) {
    if (error instanceof ConfigError) return error
    throw error
  }
  throw new Error('expected a ConfigError')
}

describe('runtime config defaults', () => {
  it('fills every section with the upstream defaults', () => {
    const { config, warnings } = resolveRuntimeConfig({}, 'config.toml', {})
    expect(warnings).toEqual([])
    expect(config.http).toEqual({
      enabled: true,
      address: '127.0.0.1:8081',
      api_key: '',
      allowed_hosts: [],
      cors: {
        enabled: false,
        allowed_methods: ['GET', 'POST', 'PUT', 'DELETE'],
        allowed_origins: ['*'],
        allowed_headers: ['content-type'],
        exposed_headers: [''],
        allow_credentials: false,
        allow_private_network: false,
      },
      metrics: { enabled: false, endpoint: '/metrics' },
      tls: { enabled: false, cert_file: 'core/certs/iggy_cert.pem', key_file: 'core/certs/iggy_key.pem' },
    })
    expect(config.iggy).toEqual({
      address: 'localhost:8090',
      username: 'iggy',
      password: 'iggy',
      token: '',
      tls: { enabled: false, ca_file: 'core/certs/iggy_ca_cert.pem', domain: '' },
    })
    expect(config.state.path).toBe('local_state')
    expect(config.connectors).toEqual({ config_type: 'local', config_dir: '' })
    expect(config.logging.format).toBe('text')
    expect(config.telemetry).toEqual({
      enabled: false,
      service_name: 'iggy-connectors',
      logs: { transport: 'grpc', endpoint: 'http://localhost:4317' },
      traces: { transport: 'grpc', endpoint: 'http://localhost:4317' },
    })
  })

  it('defaults the http provider settings, retry included', () => {
    const { config } = resolveRuntimeConfig({ connectors: { config_type: 'http', base_url: 'http://cfg:8080' } }, 'c.toml', {})
    expect(config.connectors).toEqual({
      config_type: 'http',
      base_url: 'http://cfg:8080',
      timeout: '10s',
      request_headers: {},
      url_templates: {},
      response: {},
      retry: { enabled: true, max_attempts: 3, initial_backoff: '1s', max_backoff: '30s', backoff_multiplier: 2 },
    })
  })

  it('reads the upstream-style example config', () => {
    const { config, warnings, location } = loadRuntimeConfig({ cliPath: join(fixtures, 'upstream/config.toml'), env: {} })
    expect(location.origin).toBe('cli')
    expect(warnings).toEqual([])
    expect(config.http.api_key).toBe('secret-key')
    expect(config.http.cors.allowed_methods).toEqual(['GET', 'POST'])
    expect(config.logging.format).toBe('json')
    expect(config.telemetry.traces).toEqual({ transport: 'http', endpoint: 'http://localhost:4318/v1/traces' })
  })
})

describe('runtime config errors', () => {
  it('names the file, the key and the expected type for a wrong type', () => {
    const error = configError(() => resolveRuntimeConfig({ http: { enabled: 'yes' } }, 'my.toml', {}))
    expect(error.issues).toEqual([{ file: 'my.toml', path: 'http.enabled', message: 'expected boolean, received string' }])
    expect(error.message).toContain('my.toml: http.enabled: expected boolean, received string')
  })

  it('lists the allowed values for an unknown enum value', () => {
    const error = configError(() => resolveRuntimeConfig({ logging: { format: 'xml' } }, 'my.toml', {}))
    expect(error.issues).toHaveLength(1)
    expect(error.issues[0]?.path).toBe('logging.format')
    expect(error.issues[0]?.message).toBe('expected one of "text"|"json"')
  })

  it('rejects an unknown connectors.config_type', () => {
    const error = configError(() => resolveRuntimeConfig({ connectors: { config_type: 'ftp' } }, 'my.toml', {}))
    expect(error.issues[0]?.path).toBe('connectors.config_type')
    expect(error.issues[0]?.message).toContain('"local"')
  })

  it('reports a missing required key', () => {
    const error = configError(() => resolveRuntimeConfig({ connectors: { config_type: 'http' } }, 'my.toml', {}))
    expect(error.issues).toEqual([{ file: 'my.toml', path: 'connectors.base_url', message: 'missing required key (expected string)' }])
  })

  it('requires all five keys once [connectors.retry] is present', () => {
    const error = configError(() =>
      resolveRuntimeConfig({ connectors: { config_type: 'http', base_url: 'http://x', retry: { enabled: true } } }, 'my.toml', {}),
    )
    expect(error.issues.map((i) => i.path).toSorted()).toEqual([
      'connectors.retry.backoff_multiplier',
      'connectors.retry.initial_backoff',
      'connectors.retry.max_attempts',
      'connectors.retry.max_backoff',
    ])
  })

  it('rejects a bad duration and an unknown CORS method, one issue each', () => {
    const error = configError(() =>
      resolveRuntimeConfig(
        { http: { cors: { allowed_methods: ['GET', 'FETCH'] } }, connectors: { config_type: 'http', base_url: 'http://x', timeout: 'soon' } },
        'my.toml',
        {},
      ),
    )
    expect(error.issues.map((i) => i.path).toSorted()).toEqual(['connectors.timeout', 'http.cors.allowed_methods.1'])
    expect(error.issues.find((i) => i.path === 'connectors.timeout')?.message).toContain('duration')
  })

  it('reports TOML syntax errors with line and column', () => {
    const dir = tmpDir({ 'config.toml': '[http]\nenabled = \n' })
    const error = configError(() => loadRuntimeConfig({ cliPath: join(dir, 'config.toml'), env: {} }))
    expect(error.issues[0]?.file).toBe(join(dir, 'config.toml'))
    expect(error.issues[0]?.message).toMatch(/TOML syntax error at line 2, column \d+/)
  })

  it('fails when --config names a missing file', () => {
    const error = configError(() => locateConfig({ cliPath: 'nope/config.toml', env: {} }))
    expect(error.message).toContain('nope/config.toml: config file not found')
  })

  it('warns about unknown keys and telemetry without failing', () => {
    const { config, warnings } = resolveRuntimeConfig({ http: { adress: 'x' }, extra: 1, telemetry: { enabled: true } }, 'my.toml', {})
    expect(config.http.address).toBe('127.0.0.1:8081')
    expect(warnings.map((w) => `${w.path}: ${w.message}`)).toEqual([
      'http.adress: unknown key, ignored',
      'extra: unknown key, ignored',
      'telemetry.enabled: OpenTelemetry (OTLP) export is not supported by this runtime; logs go to stdout only',
    ])
  })
})

describe('config path resolution', () => {
  it('searches IGGY_CONNECTORS_CONFIG_PATH in the cwd and its parents', () => {
    const dir = tmpDir({ 'conf/rt.toml': '[state]\npath = "s"\n', 'a/b/c/.keep': '' })
    const location = locateConfig({ env: { IGGY_CONNECTORS_CONFIG_PATH: 'conf/rt.toml' }, cwd: join(dir, 'a/b/c') })
    expect(location).toEqual({ path: join(dir, 'conf/rt.toml'), origin: 'env', requested: 'conf/rt.toml' })
  })

  it('defaults to config.toml in the cwd or a parent, else built-in defaults with a warning', () => {
    const dir = tmpDir({ 'config.toml': '[state]\npath = "from-file"\n', 'sub/.keep': '' })
    expect(loadRuntimeConfig({ env: {}, cwd: join(dir, 'sub') }).config.state.path).toBe('from-file')
    const empty = tmpDir({ 'x/.keep': '' })
    const loaded = loadRuntimeConfig({ env: { IGGY_CONNECTORS_CONFIG_PATH: 'missing-config-4711.toml' }, cwd: join(empty, 'x') })
    expect(loaded.location.path).toBeUndefined()
    expect(loaded.config.state.path).toBe('local_state')
    expect(loaded.warnings[0]?.message).toBe('config file not found; using built-in defaults')
  })
})

describe('environment overrides of the runtime config', () => {
  it('sets nested keys with the doubled CONNECTORS word', () => {
    const env = {
      IGGY_CONNECTORS_HTTP_ADDRESS: '0.0.0.0:9000',
      IGGY_CONNECTORS_HTTP_API_KEY: 'k',
      IGGY_CONNECTORS_HTTP_ALLOWED_HOSTS: '[connectors.internal, cfg.internal]',
      IGGY_CONNECTORS_HTTP_CORS_ENABLED: 'TRUE',
      IGGY_CONNECTORS_CONNECTORS_CONFIG_TYPE: 'http',
      IGGY_CONNECTORS_CONNECTORS_BASE_URL: 'http://cfg',
      IGGY_CONNECTORS_CONNECTORS_RETRY_ENABLED: 'false',
      IGGY_CONNECTORS_CONNECTORS_RETRY_MAX_ATTEMPTS: '7',
      IGGY_CONNECTORS_CONNECTORS_RETRY_INITIAL_BACKOFF: '10ms',
      IGGY_CONNECTORS_CONNECTORS_RETRY_MAX_BACKOFF: '1s',
      IGGY_CONNECTORS_CONNECTORS_RETRY_BACKOFF_MULTIPLIER: '1.5',
      IGGY_CONNECTORS_CONNECTORS_RESPONSE_DATA_PATH: 'data',
    }
    const { config, overrides } = resolveRuntimeConfig({ http: { address: '1.1.1.1:1' } }, 'c.toml', env)
    expect(config.http.address).toBe('0.0.0.0:9000')
    expect(config.http.allowed_hosts).toEqual(['connectors.internal', 'cfg.internal'])
    expect(config.http.cors.enabled).toBe(true)
    expect(config.connectors).toMatchObject({
      config_type: 'http',
      base_url: 'http://cfg',
      retry: { enabled: false, max_attempts: 7, initial_backoff: '10ms', max_backoff: '1s', backoff_multiplier: 1.5 },
      response: { data_path: 'data' },
    })
    expect(overrides).toHaveLength(Object.keys(env).length)
  })

  it('parses arrays, keeps numeric-looking strings for string keys, and masks secrets', () => {
    const raw: Record<string, unknown> = {}
    const applied = applyRuntimeEnv(raw, {
      IGGY_CONNECTORS_HTTP_CORS_ALLOWED_ORIGINS: '[http://a.example, "http://b.example,weird"]',
      IGGY_CONNECTORS_IGGY_PASSWORD: '123456',
      IGGY_CONNECTORS_IGGY_USERNAME: '42',
      IGGY_CONNECTORS_HTTP_API_KEY: 'k',
      IGGY_CONNECTORS_STATE_PATH: '',
    })
    expect(raw).toEqual({
      http: { cors: { allowed_origins: ['http://a.example', 'http://b.example,weird'] }, api_key: 'k' },
      iggy: { password: '123456', username: '42' },
    })
    const shown = Object.fromEntries(applied.map((o) => [o.variable, o.display]))
    expect(shown.IGGY_CONNECTORS_IGGY_PASSWORD).toBe('******')
    expect(shown.IGGY_CONNECTORS_HTTP_API_KEY).toBe('******')
    expect(shown.IGGY_CONNECTORS_IGGY_USERNAME).toBe('42')
    expect('IGGY_CONNECTORS_STATE_PATH' in shown).toBe(false)
  })

  it('reports a wrong env value like a file value', () => {
    const error = configError(() => resolveRuntimeConfig({}, 'c.toml', { IGGY_CONNECTORS_HTTP_ENABLED: 'maybe' }))
    expect(error.issues).toEqual([{ file: 'c.toml', path: 'http.enabled', message: 'expected boolean, received string' }])
  })
})

describe('env value inference and .env files', () => {
  it('infers upstream types', () => {
    expect(inferEnvValue('true')).toBe(true)
    expect(inferEnvValue('FALSE')).toBe(false)
    expect(inferEnvValue('42')).toBe(42)
    expect(inferEnvValue('-3')).toBe(-3)
    expect(inferEnvValue('2.5')).toBe(2.5)
    expect(inferEnvValue('abc')).toBe('abc')
    expect(inferEnvValue('[1, two, "3, 4", true]')).toEqual([1, 'two', '3, 4', true])
    expect(inferEnvValue('[]')).toEqual([])
  })

  it('parses .env syntax', () => {
    expect(
      parseDotenv('# c\nA=1\nexport B = "two\\nlines"\nC=\'single # not comment\'\nD=plain # comment\n  \nbad line\n'),
    ).toEqual({ A: '1', B: 'two\nlines', C: 'single # not comment', D: 'plain' })
  })

  it('loads IGGY_CONNECTORS_ENV_PATH without overriding set variables', () => {
    const dir = tmpDir({ 'custom.env': 'IGGY_CONNECTORS_STATE_PATH=from-dotenv\nIGGY_CONNECTORS_HTTP_ADDRESS=ignored:1\n' })
    const env: Record<string, string | undefined> = { IGGY_CONNECTORS_ENV_PATH: 'custom.env', IGGY_CONNECTORS_HTTP_ADDRESS: 'kept:2' }
    expect(loadEnvFile(env, dir)).toEqual({ file: join(dir, 'custom.env') })
    expect(env.IGGY_CONNECTORS_STATE_PATH).toBe('from-dotenv')
    expect(env.IGGY_CONNECTORS_HTTP_ADDRESS).toBe('kept:2')
    const missing: Record<string, string | undefined> = { IGGY_CONNECTORS_ENV_PATH: 'nope.env' }
    expect(loadEnvFile(missing, dir).error).toMatch(/ENOENT/)
  })

  it('suggests close names', () => {
    expect(suggest('IGGY_CONNECTORS_HTTP_ADRESS', ['IGGY_CONNECTORS_HTTP_ADDRESS', 'IGGY_CONNECTORS_STATE_PATH'])).toEqual([
      'IGGY_CONNECTORS_HTTP_ADDRESS',
    ])
  })
})

describe('durations', () => {
  it('parses humantime strings', () => {
    expect(parseDurationMs('5ms')).toBe(5)
    expect(parseDurationMs('1 s')).toBe(1000)
    expect(parseDurationMs('1m 30s')).toBe(90_000)
    expect(parseDurationMs('250us')).toBe(0.25)
    expect(parseDurationMs('disabled')).toBe(0)
    expect(parseDurationMs('soon')).toBeUndefined()
    expect(parseDurationMs('5')).toBeUndefined()
  })
})

import { existsSync, readFileSync, readdirSync } from 'node:fs'
import { join } from 'node:path'

import { parse } from 'smol-toml'
import { describe, expect, it } from 'vitest'

import { bindingify, resolveToken } from '../ts/config/bindingify'
import { parseConnector } from '../ts/config/connector'
import type { SinkConfig, SourceConfig } from '../ts/config/connector-schema'
import { loadConfiguration, unknownEnvWarnings } from '../ts/config/index'
import { LocalConfigProvider } from '../ts/config/local-provider'
import type { StoredConfig } from '../ts/config/provider'
import { resolveRuntimeConfig } from '../ts/config/runtime'
import { ConfigError } from '../ts/errors'
import { fixtures, tmpDir } from './helpers/tmp'

const upstream = join(fixtures, 'upstream')
const source = (extra = '') => `type = "source"
key = "gen"
enabled = true
version = 0
name = "Gen"
path = "plugins/libgen"
${extra}
[[streams]]
stream = "s"
topic = "t"
schema = "json"
`
const sink = (extra = '') => `type = "sink"
key = "out"
enabled = true
version = 0
name = "Out"
path = "plugins/libout"
${extra}
[[streams]]
stream = "s"
topics = ["t"]
schema = "raw"
`

function issuesOf(file: string, toml: string, env = {}): string[] {
  const result = parseConnector(parse(toml) as Record<string, unknown>, file, { env })
  return result.errors.map((e) => `${e.file}: ${e.path}: ${e.message}`)
}

describe('local provider over an upstream-style directory', () => {
  const env = { IGGY_CONNECTORS_CONNECTORS_CONFIG_DIR: join(upstream, 'connectors') }

  it('loads the enabled/disabled connectors, honours the pin, skips dotfiles, Cargo.toml and non-TOML files', async () => {
    const loaded = await loadConfiguration({ configPath: join(upstream, 'config.toml'), env })
    expect(loaded.warnings).toEqual([])
    const sources = loaded.active.sources.map((s) => [s.config.key, s.config.version])
    const sinks = loaded.active.sinks.map((s) => [s.config.key, s.config.enabled]).toSorted()
    // .active_versions.toml pins random to version 0 although version 1 exists.
    expect(sources).toEqual([['random', 0]])
    expect(sinks).toEqual([
      ['postgres', false],
      ['stdout', true],
    ])
    const versions = await loaded.provider.getConfigs('source', 'random')
    expect(versions.map((v) => v.config.name)).toEqual(['Random source', 'Random source v1'])
    // Without a version (the restart path) the pinned version wins, not the highest (issue 15).
    expect((await loaded.provider.getConfig('source', 'random'))?.config.version).toBe(0)
  })

  it('fills stream defaults and keeps the plugin config as given', async () => {
    const loaded = await loadConfiguration({ configPath: join(upstream, 'config.toml'), env })
    const v1 = (await loaded.provider.getConfig('source', 'random', 1))?.config as SourceConfig
    expect(v1.streams).toEqual([{ stream: 'test_stream', topic: 'test_topic', schema: 'json', batch_length: 1000, linger_time: '5ms' }])
    const stdout = loaded.active.sinks.find((s) => s.config.key === 'stdout')?.config as SinkConfig
    expect(stdout.verbose).toBe(true)
    expect(stdout.plugin_config).toEqual({ print_payload: true })
    expect(stdout.plugin_config_format).toBeNull()
  })

  it('bindingifies enabled connectors only, transforms in file order, durations in ms', async () => {
    const loaded = await loadConfiguration({ configPath: join(upstream, 'config.toml'), env })
    const v1 = (await loaded.provider.getConfig('source', 'random', 1)) as StoredConfig<SourceConfig>
    const { options } = bindingify(loaded.config, { sources: [v1], sinks: loaded.active.sinks as StoredConfig<SinkConfig>[] })
    expect(options.sinks.map((s) => s.key)).toEqual(['stdout'])
    const [random] = options.sources
    expect(random?.transforms.map((t) => t.type)).toEqual(['delete_fields', 'add_fields'])
    expect(JSON.parse(random?.transforms[1]?.configJson ?? '')).toEqual({ enabled: true, fields: [{ key: 'b', value: { static: 2 } }] })
    expect(random?.pluginConfigJson).toBe('{"interval":"1s"}')
    expect(random?.configDir).toBe(join(upstream, 'connectors'))
    expect(random?.streams[0]).toEqual({ stream: 'test_stream', topic: 'test_topic', schema: 'json', batchLength: 1000, lingerTimeMs: 5 })
    expect(options.sinks[0]?.streams[0]).toEqual({
      stream: 'test_stream',
      topics: ['test_topic'],
      schema: 'json',
      batchLength: 100,
      pollIntervalMs: 5,
      consumerGroup: 'stdout_sink_connector',
    })
    expect(options.iggy).toEqual({ address: 'localhost:8090', username: 'iggy', password: 'iggy' })
  })

  it('creates a missing directory and loads nothing; refuses an empty config_dir', async () => {
    const dir = join(tmpDir(), 'new-dir')
    const provider = new LocalConfigProvider(dir)
    provider.load()
    expect(existsSync(dir)).toBe(true)
    expect(await provider.getActiveConfigs()).toEqual({ sources: [], sinks: [] })
    expect(() => new LocalConfigProvider('')).toThrow(/connectors\.config_dir: connectors configuration directory not provided/)
  })

  it('collects the errors of every file and refuses to start', () => {
    const dir = tmpDir({
      'a.toml': source().replace('schema = "json"', 'schema = "avro"'),
      'b.toml': sink().replace('enabled = true', 'enabled = "yes"'),
      'c.toml': 'type = "source"\nkey = ',
    })
    const error = (() => {
      try {
        new LocalConfigProvider(dir).load()
      } catch (e) {
        return e as ConfigError
      }
      throw new Error('expected failure')
    })()
    expect(error).toBeInstanceOf(ConfigError)
    expect(error.issues.map((i) => `${i.file.slice(dir.length + 1)}: ${i.path}`)).toEqual(['a.toml: streams.0.schema', 'b.toml: enabled', 'c.toml: '])
  })

  it('create writes <kind>_<key>_<version>.toml without changing the active version; set-active and delete follow upstream', async () => {
    const dir = tmpDir({ 'gen.toml': source() })
    const provider = new LocalConfigProvider(dir)
    provider.load()
    const created = await provider.createConfig('source', 'gen', {
      enabled: true,
      name: 'Gen 2',
      path: 'plugins/libgen',
      streams: [{ stream: 's', topic: 't', schema: 'text' }],
      plugin_config: { a: 1 },
      transforms: null,
    })
    expect(created.config.version).toBe(1)
    const file = join(dir, 'source_gen_1.toml')
    const written = parse(readFileSync(file, 'utf8'))
    expect(written).toMatchObject({ type: 'source', key: 'gen', version: 1, name: 'Gen 2', plugin_config: { a: 1 } })
    // The version that was active (the highest, unpinned) is pinned, so version 1 does not go
    // live on the next restart or process start: only PUT …/configs/active activates it.
    expect(parse(readFileSync(join(dir, '.active_versions.toml'), 'utf8'))).toEqual({ sources: { gen: 0 }, sinks: {} })
    expect((await provider.getConfig('source', 'gen'))?.config.version).toBe(0)
    const reloaded = new LocalConfigProvider(dir)
    reloaded.load()
    expect((await reloaded.getActiveConfigs()).sources[0]?.config.version).toBe(0)

    await expect(provider.setActiveVersion('source', 'gen', 7)).rejects.toMatchObject({ code: 'source_config_not_found' })
    await provider.setActiveVersion('source', 'gen', 1)
    expect((await provider.getConfig('source', 'gen'))?.config.name).toBe('Gen 2')
    await provider.setActiveVersion('source', 'gen', 0)
    expect(parse(readFileSync(join(dir, '.active_versions.toml'), 'utf8'))).toEqual({ sources: { gen: 0 }, sinks: {} })
    expect((await provider.getActiveConfigs()).sources[0]?.config.version).toBe(0)

    // Delete without a version removes the pinned one; the pin moves to the highest remaining.
    await provider.deleteConfig('source', 'gen')
    expect(existsSync(join(dir, 'gen.toml'))).toBe(false)
    expect(parse(readFileSync(join(dir, '.active_versions.toml'), 'utf8'))).toEqual({ sources: { gen: 1 }, sinks: {} })
    await provider.deleteConfig('source', 'gen', 1)
    expect(parse(readFileSync(join(dir, '.active_versions.toml'), 'utf8'))).toEqual({ sources: {}, sinks: {} })
    expect(readdirSync(dir).filter((f) => f.endsWith('.toml') && !f.startsWith('.'))).toEqual([])
    // Nothing pinned and no version 0: not found (no fallback to the latest).
    await expect(provider.deleteConfig('source', 'gen')).rejects.toMatchObject({ code: 'source_config_not_found' })
  })
})

describe('connector file validation', () => {
  it('reports missing required fields, one issue each', () => {
    expect(issuesOf('x.toml', 'type = "sink"\nkey = "k"\n')).toEqual([
      'x.toml: enabled: missing required key (expected boolean)',
      'x.toml: version: missing required key (expected number)',
      'x.toml: name: missing required key (expected string)',
      'x.toml: streams: missing required key (expected array)',
      'x.toml: path: missing required key: give path (a plugin library) or module (a TypeScript/JavaScript connector)',
    ])
  })

  it('reports an unknown type', () => {
    expect(issuesOf('x.toml', 'type = "pipe"\nkey = "k"\n')).toEqual(['x.toml: type: expected one of "source"|"sink"'])
  })

  it('reports wrong stream values with their index', () => {
    const issues = issuesOf('x.toml', source('verbose = 1').replace('topic = "t"', 'topic = "t"\nbatch_length = -1\nlinger_time = "later"\npartitioning = "random"'))
    expect(issues).toEqual([
      'x.toml: verbose: expected boolean, received number',
      'x.toml: streams.0.batch_length: expected number to be >=1',
      'x.toml: streams.0.linger_time: expected a duration such as "5ms", "1s" or "1m 30s"',
      'x.toml: streams.0.partitioning: expected "balanced", "messages_key" or "partition_id:<n>"',
    ])
  })

  it('requires topics to be a non-empty array for sinks', () => {
    expect(issuesOf('x.toml', sink().replace('topics = ["t"]', 'topics = "t"'))).toEqual(['x.toml: streams.0.topics: expected array, received string'])
    expect(issuesOf('x.toml', sink().replace('topics = ["t"]', 'topics = []'))).toEqual(['x.toml: streams.0.topics: expected at least one topic'])
  })

  it('refuses a source with streams = [] naming the file and key, from a file, the API and the env', async () => {
    const empty = source().replace(/\[\[streams\]\][\s\S]*$/, 'streams = []\n')
    expect(issuesOf('connectors/gen.toml', empty)).toEqual([
      'connectors/gen.toml: streams: expected at least one [[streams]] entry: a source without one would discard everything it reads',
    ])
    const dir = tmpDir({ 'gen.toml': empty })
    expect(() => new LocalConfigProvider(dir).load()).toThrow(`${join(dir, 'gen.toml')}: streams: expected at least one [[streams]] entry`)
    // The API's create path validates the same way.
    const provider = new LocalConfigProvider(tmpDir())
    provider.load()
    await expect(provider.createConfig('source', 'gen', { enabled: true, name: 'G', path: 'p', streams: [] })).rejects.toThrow(/source_gen_0\.toml: streams: expected at least one/)
    // An env override that adds a stream makes it valid again.
    const env = { IGGY_CONNECTORS_SOURCE_GEN_STREAMS_0_STREAM: 's', IGGY_CONNECTORS_SOURCE_GEN_STREAMS_0_TOPIC: 't', IGGY_CONNECTORS_SOURCE_GEN_STREAMS_0_SCHEMA: 'json' }
    expect(issuesOf('gen.toml', empty, env)).toEqual([])
  })

  it('refuses (400, naming the key) a created config TOML cannot hold, instead of failing or writing a file that breaks the next start', async () => {
    const dir = tmpDir()
    const provider = new LocalConfigProvider(dir)
    provider.load()
    const body = { enabled: true, name: 'G', path: 'p', streams: [{ stream: 's', topic: 't', schema: 'json' }] }
    await expect(provider.createConfig('source', 'gen', { ...body, plugin_config: { list: [1, null, 2] } })).rejects.toThrow(/source_gen_0\.toml: plugin_config\.list\.1: null cannot be stored in a TOML file/)
    await expect(provider.createConfig('source', 'a\u0000b', body)).rejects.toThrow(/key: expected a non-empty key without whitespace, control characters/)
    expect(readdirSync(dir)).toEqual([])
    await provider.createConfig('source', 'gen', { ...body, plugin_config: { list: [1, 'x', { a: [] }] } })
    const reloaded = new LocalConfigProvider(dir)
    reloaded.load()
    expect((await reloaded.getConfig('source', 'gen'))?.config.plugin_config).toEqual({ list: [1, 'x', { a: [] }] })
  })

  it('requires enabled in every transform table and validates built-in shapes', () => {
    const toml = source(`
[transforms.add_fields]
fields = [{ key = "a", value = { static = 1 } }]

[transforms.update_fields]
enabled = true
fields = [{ key = "a", value = { computed = "uuid_v9" } }]

[transforms.filter_fields]
enabled = true
patterns = [{ key_pattern = { regex = "(" } }]

[transforms.proto_convert]
enabled = true
`)
    const issues = issuesOf('x.toml', toml)
    expect(issues).toHaveLength(4)
    expect(issues[0]).toBe('x.toml: transforms.add_fields.enabled: missing required key (expected boolean)')
    expect(issues[1]).toMatch(/^x\.toml: transforms\.update_fields\.fields\.0\.value/)
    expect(issues[2]).toMatch(/^x\.toml: transforms\.filter_fields\.patterns\.0\.key_pattern/)
    expect(issues[3]).toMatch(/^x\.toml: transforms\.proto_convert: transform "proto_convert" is not supported/)
  })

  it('warns (does not fail) on unknown keys', () => {
    const result = parseConnector(parse(source('colour = "red"')) as Record<string, unknown>, 'x.toml')
    expect(result.errors).toEqual([])
    expect(result.warnings).toEqual([{ file: 'x.toml', path: 'colour', message: 'unknown key, ignored' }])
  })

  it('accepts our extensions', () => {
    const src = parseConnector(
      parse(source('[retry]\nmax_attempts = 5\n').replace('schema = "json"', 'schema = "json"\ncreate_stream = true\ncreate_topic = true\ntopic_partitions = 3\npartitioning = "partition_id:2"')) as Record<string, unknown>,
      'x.toml',
    )
    expect(src.errors).toEqual([])
    expect(src.parsed?.config.retry).toEqual({ initial_backoff: '100ms', max_backoff: '30s', multiplier: 2, max_attempts: 5 })
    const snk = parseConnector(parse(sink('[dead_letter]\nstream = "dlq"\ntopic = "failed"\n')) as Record<string, unknown>, 'y.toml')
    expect(snk.errors).toEqual([])
    expect((snk.parsed?.config as SinkConfig | undefined)?.dead_letter).toEqual({ stream: 'dlq', topic: 'failed' })
  })
})

describe('per-connector environment overrides', () => {
  it('overrides fields, stream elements and flat lower-cased plugin_config keys with type inference', () => {
    const env = {
      IGGY_CONNECTORS_SINK_OUT_ENABLED: 'false',
      IGGY_CONNECTORS_SINK_OUT_PATH: '/opt/plugins/libout',
      IGGY_CONNECTORS_SINK_OUT_STREAMS_0_TOPICS: '[a, b]',
      IGGY_CONNECTORS_SINK_OUT_STREAMS_0_BATCH_LENGTH: '50',
      IGGY_CONNECTORS_SINK_OUT_STREAMS_1_STREAM: '12',
      IGGY_CONNECTORS_SINK_OUT_STREAMS_1_TOPICS: '[7]',
      IGGY_CONNECTORS_SINK_OUT_STREAMS_1_SCHEMA: 'text',
      IGGY_CONNECTORS_SINK_OUT_PLUGIN_CONFIG_MAX_RETRIES: '3',
      IGGY_CONNECTORS_SINK_OUT_PLUGIN_CONFIG_HEADERS_AUTHORIZATION: 'Bearer x',
      IGGY_CONNECTORS_SINK_OUT_PLUGIN_CONFIG_Verbose_Mode: 'TRUE',
      IGGY_CONNECTORS_SINK_OUT_PLUGIN_CONFIG_INITIAL_OFFSET: '0',
      IGGY_CONNECTORS_SINK_OTHER_ENABLED: 'false',
    }
    const result = parseConnector(parse(sink('[plugin_config]\nkept = "yes"\n')) as Record<string, unknown>, 'out.toml', { env })
    expect(result.errors).toEqual([])
    const config = result.parsed?.config as SinkConfig
    expect(config.enabled).toBe(false)
    expect(config.path).toBe('/opt/plugins/libout')
    expect(config.streams).toEqual([
      { stream: 's', topics: ['a', 'b'], schema: 'raw', batch_length: 50, poll_interval: '5ms' },
      { stream: '12', topics: ['7'], schema: 'text', batch_length: 1000, poll_interval: '5ms' },
    ])
    expect(config.plugin_config).toEqual({ kept: 'yes', max_retries: 3, headers_authorization: 'Bearer x', verbose_mode: true, initial_offset: 0 })
    expect(result.overrides.find((o) => o.variable.endsWith('HEADERS_AUTHORIZATION'))?.display).toBe('******')
  })

  it('warns about unknown variables under a connector prefix and elsewhere, with suggestions', () => {
    const env = { IGGY_CONNECTORS_SOURCE_GEN_STREAMS_0_TOPICS: '[x]', IGGY_CONNECTORS_SOURCE_GEN_NAEM: 'n' }
    const result = parseConnector(parse(source()) as Record<string, unknown>, 'gen.toml', { env })
    expect(result.errors).toEqual([])
    expect(result.warnings.map((w) => w.path)).toEqual(['IGGY_CONNECTORS_SOURCE_GEN_STREAMS_0_TOPICS', 'IGGY_CONNECTORS_SOURCE_GEN_NAEM'])
    expect(result.warnings[0]?.message).toContain('did you mean IGGY_CONNECTORS_SOURCE_GEN_STREAMS_0_TOPIC')
    expect(result.warnings[1]?.message).toContain('did you mean IGGY_CONNECTORS_SOURCE_GEN_NAME')
    const global = unknownEnvWarnings(
      { IGGY_CONNECTORS_HTTP_ADRESS: 'x', IGGY_CONNECTORS_SINK_NOBODY_PATH: 'p', IGGY_CONNECTORS_SOURCE_GEN_NAME: 'ok', IGGY_CONNECTORS_ENV_PATH: '.env', OTHER: '1' },
      [{ kind: 'source', key: 'gen' }],
    )
    expect(global.map((w) => `${w.path}: ${w.message}`)).toEqual([
      'IGGY_CONNECTORS_HTTP_ADRESS: unknown variable, ignored; did you mean IGGY_CONNECTORS_HTTP_ADDRESS?',
      'IGGY_CONNECTORS_SINK_NOBODY_PATH: no enabled or disabled connector matches this variable, ignored',
    ])
  })
})

function stored(toml: string, configDir = '/cfg'): StoredConfig<SourceConfig> {
  const r = parseConnector(parse(toml) as Record<string, unknown>, '/cfg/gen.toml')
  if (!r.parsed) throw new ConfigError(r.errors)
  return { kind: 'source', config: r.parsed.config as SourceConfig, origin: '/cfg/gen.toml', configDir, createdAt: new Date() }
}

describe('bindingify', () => {

  it('keeps transforms in file order, drops disabled ones, and passes null plugin config', () => {
    const { config } = resolveRuntimeConfig({}, 'c', {})
    const s = stored(
      source(`
[transforms.filter_fields]
enabled = true
keep_fields = ["id"]

[transforms.delete_fields]
enabled = false

[transforms.add_fields]
enabled = true
`),
    )
    const { options } = bindingify(config, { sources: [s], sinks: [] })
    expect(options.sources[0]?.transforms).toEqual([
      { type: 'filter_fields', configJson: JSON.stringify({ enabled: true, keep_fields: ['id'], patterns: [], include_matching: true }) },
      { type: 'add_fields', configJson: JSON.stringify({ enabled: true, fields: [] }) },
    ])
    expect(options.sources[0]?.pluginConfigJson).toBe('null')
  })

  it('rejects an unknown custom transform unless registered or given a module', () => {
    const { config } = resolveRuntimeConfig({}, 'c', {})
    const s = stored(source('[transforms.shout]\nenabled = true\n'))
    expect(() => bindingify(config, { sources: [s], sinks: [] })).toThrow(/\/cfg\/gen\.toml: transforms\.shout: unknown transform "shout"/)
    const registered = bindingify(config, { sources: [s], sinks: [] }, (name) => name === 'shout')
    expect(registered.custom).toEqual([{ kind: 'source', key: 'gen', name: 'shout', config: { enabled: true }, baseDir: '/cfg' }])
    const withModule = stored(source('[transforms.shout]\nenabled = true\nmodule = "./shout.js"\nfactor = 2\n'))
    expect(bindingify(config, { sources: [withModule], sinks: [] }).options.sources[0]?.transforms).toEqual([
      { type: 'shout', configJson: '{"enabled":true,"module":"./shout.js","factor":2}' },
    ])
  })

  it('maps retry and dead-letter settings and the sink consumer group default', () => {
    const { config } = resolveRuntimeConfig({}, 'c', {})
    const r = parseConnector(parse(sink('[retry]\ninitial_backoff = "250ms"\nmax_backoff = "1m"\nmultiplier = 3\nmax_attempts = 4\n\n[dead_letter]\nstream = "dlq"\ntopic = "failed"\n')) as Record<string, unknown>, '/cfg/out.toml')
    if (!r.parsed) throw new ConfigError(r.errors)
    const { options } = bindingify(config, { sources: [], sinks: [{ kind: 'sink', config: r.parsed.config as SinkConfig, origin: '/cfg/out.toml', createdAt: new Date() }] })
    expect(options.sinks[0]).toMatchObject({
      retry: { initialBackoffMs: 250, maxBackoffMs: 60_000, multiplier: 3, maxAttempts: 4 },
      deadLetter: { stream: 'dlq', topic: 'failed' },
      streams: [{ stream: 's', topics: ['t'], schema: 'raw', batchLength: 1000, pollIntervalMs: 5, consumerGroup: 'iggy-connect-sink-out' }],
    })
    expect(options.sinks[0]?.configDir).toBeUndefined()
  })

  it('requires a CA file when Iggy TLS is enabled', () => {
    const { config } = resolveRuntimeConfig({ iggy: { tls: { enabled: true, ca_file: '' } } }, 'c', {})
    expect(() => bindingify(config, { sources: [], sinks: [] })).toThrow(/iggy\.tls\.ca_file: required when TLS is enabled/)
  })

  it('resolves a token file, prefers it over username/password, and requires credentials', () => {
    const dir = tmpDir({ token: '  pat-123\n', empty: ' \n' })
    expect(resolveToken(`file:${join(dir, 'token')}`)).toBe('pat-123')
    expect(() => resolveToken(`file:${join(dir, 'empty')}`)).toThrow(/iggy\.token: token file .* is empty/)
    expect(() => resolveToken(`file:${join(dir, 'missing')}`)).toThrow(/iggy\.token: cannot read token file/)
    const { config } = resolveRuntimeConfig({ iggy: { token: `file:${join(dir, 'token')}`, tls: { enabled: true, domain: 'iggy.local' } } }, 'c', {})
    expect(bindingify(config, { sources: [], sinks: [] }).options.iggy).toEqual({
      address: 'localhost:8090',
      token: 'pat-123',
      tlsEnabled: true,
      tlsCaFile: 'core/certs/iggy_ca_cert.pem',
      tlsDomain: 'iggy.local',
    })
    const noCreds = resolveRuntimeConfig({ iggy: { password: '' } }, 'c', {}).config
    expect(() => bindingify(noCreds, { sources: [], sinks: [] })).toThrow(/missing Iggy credentials/)
  })
})

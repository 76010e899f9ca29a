// Plugin config schemas (`iggy_connector_config_schema`): `validate` refuses a bad
// [plugin_config] with its key path, `run` refuses exactly the same, plugins without a schema
// validate as before, and `schema` prints JSON Schemas that accept the shipped configs.
import { readFileSync, readdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { Writable } from 'node:stream'

import Ajv2020 from 'ajv/dist/2020'
import { describe, expect, it } from 'vitest'

import { validateConfiguration } from '../ts/commands/validate'
import { parseToml } from '../ts/config/toml'
import { ConfigError, formatIssue } from '../ts/errors'
import { initProject } from '../ts/init/index'
import { native } from '../ts/native'
import { ConnectorsRuntime } from '../ts/runtime'
import { runCli, root } from './helpers/cli'
import { FakeEngine } from './helpers/fake-engine'
import { builtPlugin, testPlugin } from './helpers/plugins'
import { tmpDir } from './helpers/tmp'

type Kind = 'source' | 'sink'

interface PluginCase {
  plugin: string
  kind: Kind
  /** A [plugin_config] the plugin accepts (TOML lines). */
  good: string
  /** Bad configs and the `key path: message` each must produce (every issue, in order). */
  bad: { config: string; issues: string[] }[]
}

const DURATION = 'expected a duration such as "500ms", "5s" or "1m 30s"'

const CASES: PluginCase[] = [
  {
    plugin: 'iceberg_sink',
    kind: 'sink',
    good: 'catalog_type = "rest"\nuri = "http://127.0.0.1:8181"\ntables = ["ns.events"]\nstore_class = "fs"\ncommit_interval = "10s"',
    bad: [
      { config: 'catalog_type = "rest"\nstore_class = "s3"', issues: ['plugin_config.uri: missing required key (expected string)'] },
      { config: 'catalog_type = "rest"\nuri = "http://x"\nstore_class = "s3"\ncommit_interval = "banana"', issues: [`plugin_config.commit_interval: ${DURATION}, received "banana"`] },
    ],
  },
  {
    plugin: 'random_source',
    kind: 'source',
    good: 'interval = "5ms"\nmessages_range = [1, 3]\npayload_size = 20',
    bad: [
      { config: 'interval = "banana"', issues: [`plugin_config.interval: ${DURATION}, received "banana"`] },
      { config: 'payload_size = "big"\nmessages_range = [1]', issues: ['plugin_config.messages_range: expected 2 items, received 1', 'plugin_config.payload_size: expected integer, received string'] },
    ],
  },
  {
    plugin: 'bench_source',
    kind: 'source',
    good: 'count = 10\nbatch_size = 5',
    bad: [
      { config: 'count = 10\ncolour = "red"', issues: ['plugin_config.colour: unknown key (the plugin refuses keys it does not know)'] },
      { config: 'batch_size = 5000000000', issues: ['plugin_config.batch_size: expected an integer from 0 to 4294967295 (uint32)'] },
    ],
  },
  {
    plugin: 'stdout_sink',
    kind: 'sink',
    good: 'print_payload = true',
    bad: [{ config: 'print_payload = "yes"', issues: ['plugin_config.print_payload: expected boolean, received string'] }],
  },
  {
    plugin: 'null_sink',
    kind: 'sink',
    good: 'record_arrivals = true',
    bad: [{ config: 'record_arrival = true', issues: ['plugin_config.record_arrival: unknown key (the plugin refuses keys it does not know)'] }],
  },
  {
    plugin: 'postgres_sink',
    kind: 'sink',
    good: 'connection_string = "postgres://u:p@127.0.0.1/db"\ntarget_table = "t"\nretry_delay = "2s"',
    bad: [
      { config: 'target_table = "t"', issues: ['plugin_config.connection_string: missing required key (expected string)'] },
      { config: 'connection_string = "postgres://x"\ntarget_table = "t"\nretry_delay = "banana"', issues: [`plugin_config.retry_delay: expected a duration such as "500ms", "5s" or "1m 30s" (empty: the default), received "banana"`] },
    ],
  },
  {
    plugin: 'postgres_source',
    kind: 'source',
    good: 'connection_string = "postgres://u:p@127.0.0.1/db"\nmode = "polling"\ntables = ["orders"]\ninitial_offset = 0',
    bad: [{ config: 'connection_string = "postgres://x"\nmode = "polling"\ntables = "orders"', issues: ['plugin_config.tables: expected array, received string'] }],
  },
  {
    plugin: 'mongodb_sink',
    kind: 'sink',
    good: 'connection_uri = "mongodb://127.0.0.1"\ndatabase = "d"\ncollection = "c"',
    bad: [{ config: 'connection_uri = "mongodb://127.0.0.1"\ndatabase = "d"\ncollection = "c"\nmax_pool_size = "ten"', issues: ['plugin_config.max_pool_size: expected integer, received string'] }],
  },
  {
    plugin: 'elasticsearch_sink',
    kind: 'sink',
    good: 'url = "http://127.0.0.1:9200"\nindex = "i"\nretry_delay = "100ms"',
    bad: [{ config: 'url = "http://127.0.0.1:9200"\nindex = "i"\nretry_delay = "soon"', issues: [`plugin_config.retry_delay: ${DURATION}, received "soon"`] }],
  },
  {
    plugin: 'elasticsearch_source',
    kind: 'source',
    good: 'url = "http://127.0.0.1:9200"\nindex = "i"\npolling_interval = "1s"',
    bad: [{ config: 'url = "http://127.0.0.1:9200"\npolling_interval = "banana"', issues: ['plugin_config.index: missing required key (expected string)', `plugin_config.polling_interval: ${DURATION}, received "banana"`] }],
  },
  {
    plugin: 'http_sink',
    kind: 'sink',
    good: 'url = "http://127.0.0.1:1/ingest"\ntimeout = "30s"',
    bad: [{ config: 'url = "http://127.0.0.1:1/ingest"\ntimeout = "30"', issues: [`plugin_config.timeout: ${DURATION}, received "30"`] }],
  },
  {
    plugin: 'quickwit_sink',
    kind: 'sink',
    good: 'url = "http://127.0.0.1:7280"\nindex = "i"',
    bad: [{ config: 'url = "http://127.0.0.1:7280"\nindex = "i"\nbatch_size = "x"', issues: ['plugin_config.batch_size: expected integer, received string'] }],
  },
  {
    plugin: 'influxdb_sink',
    kind: 'sink',
    good: 'url = "http://127.0.0.1:8086"\ntimeout = ""',
    bad: [{ config: 'url = "http://127.0.0.1:8086"\ntimeout = "fast"', issues: ['plugin_config.timeout: expected a duration such as "500ms", "5s" or "1m 30s" (empty: the default), received "fast"'] }],
  },
  {
    plugin: 'influxdb_source',
    kind: 'source',
    good: 'url = "http://127.0.0.1:8086"\npoll_interval = "5s"',
    bad: [{ config: 'poll_interval = 5', issues: ['plugin_config.poll_interval: expected string, received number'] }],
  },
]

function connectorFile(kind: Kind, path: string, pluginConfig: string, extra = ''): string {
  const streams = kind === 'source' ? '[[streams]]\nstream = "s"\ntopic = "t"\nschema = "json"\n' : '[[streams]]\nstream = "s"\ntopics = ["t"]\nschema = "json"\n'
  return `type = "${kind}"\nkey = "c"\nenabled = true\nversion = 0\nname = "c"\npath = "${path}"\n${extra}\n${streams}\n[plugin_config]\n${pluginConfig}\n`
}

function project(connector: string): { dir: string; config: string; file: string } {
  const dir = tmpDir({ 'connectors/c.toml': connector })
  // Absolute: config_dir is resolved against the cwd, and validate/run also run in this process.
  writeFileSync(join(dir, 'config.toml'), `[connectors]\nconfig_dir = "${join(dir, 'connectors')}"\n[state]\npath = "${join(dir, 'state')}"\n[http]\nenabled = false\n`)
  return { dir, config: join(dir, 'config.toml'), file: join(dir, 'connectors/c.toml') }
}

/** `validate` in process: its problem count and printed lines. */
async function validateCli(config: string): Promise<{ problems: number; lines: string[] }> {
  let text = ''
  const stdout = new Writable({
    write(chunk: Buffer, _encoding, done) {
      text += chunk.toString()
      done()
    },
  })
  const problems = await validateConfiguration(config, {}, { stdout })
  return { problems, lines: text.split('\n').filter((l) => l !== '') }
}

/** `run` up to the engine (a double records whether it was started): the ConfigError lines, or [] when it started. */
async function run(config: string): Promise<string[]> {
  let engine: FakeEngine | undefined
  const runtime = new ConnectorsRuntime({ configPath: config, env: {}, http: false, engineFactory: (options) => (engine = new FakeEngine(options)) })
  try {
    await runtime.start()
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error
    expect(engine).toBeUndefined()
    return error.issues.map(formatIssue)
  }
  expect(engine?.calls).toEqual(['start'])
  await runtime.stop()
  return []
}

describe('plugin config schemas', () => {
  it('every plugin of this project exports one', () => {
    const plugins = readdirSync(join(root, 'build/plugins')).map((f) => f.replace(/^lib/, '').replace(/\.(so|dylib|dll)$/, ''))
    expect(plugins.length).toBe(CASES.length)
    for (const c of CASES) {
      expect(plugins).toContain(`iggy_connector_${c.plugin}`)
      const info = native().inspectPlugin(c.kind, builtPlugin(`iggy_connector_${c.plugin}`), null)
      expect(info.symbols).toContain('iggy_connector_config_schema')
      const schema = JSON.parse(info.configSchema ?? 'null') as { $schema: string; type: string }
      expect(schema.$schema).toBe('https://json-schema.org/draft/2020-12/schema')
      expect(schema.type).toContain('object')
    }
  })

  for (const c of CASES) {
    describe(c.plugin, () => {
      it('validate and run accept the good config', async () => {
        const { config } = project(connectorFile(c.kind, builtPlugin(`iggy_connector_${c.plugin}`), c.good))
        const result = await validateCli(config)
        expect(result.lines.filter((l) => l.startsWith('error')), result.lines.join('\n')).toEqual([])
        expect(result.lines.some((l) => l.startsWith('ok ') && l.includes('plugin_config checked against the plugin schema'))).toBe(true)
        expect(result.problems).toBe(0)
        expect(await run(config)).toEqual([])
      })

      it.each(c.bad.map((b, i) => [i, b] as const))('validate and run refuse bad config #%i with the key path', async (_i, bad) => {
        const { config, file } = project(connectorFile(c.kind, builtPlugin(`iggy_connector_${c.plugin}`), bad.config))
        const expected = bad.issues.map((issue) => `${file}: ${issue}`)
        const result = await validateCli(config)
        expect(result.lines.filter((l) => l.startsWith('error  ') && !l.includes(' v0 (')).map((l) => l.slice('error  '.length))).toEqual(expected)
        expect(result.problems).toBe(expected.length)
        expect(await run(config)).toEqual(expected)
      })
    })
  }

  it('a missing [plugin_config] is checked as the SDK reads it: required keys are named', async () => {
    const { config, file } = project(connectorFile('sink', builtPlugin('iggy_connector_mongodb_sink'), '').replace('[plugin_config]\n', ''))
    const expected = ['connection_uri', 'database', 'collection'].map((key) => `${file}: plugin_config.${key}: missing required key (expected string)`)
    expect((await validateCli(config)).lines.filter((l) => l.startsWith('error  ') && !l.includes(' v0 (')).map((l) => l.slice(7))).toEqual(expected)
    expect(await run(config)).toEqual(expected)
  })

  it('plugins without a schema validate as before: 0.4.0-style symbols and SDK plugins whose config derives none', async () => {
    for (const [kind, crate] of [
      ['source', 'engine_test_legacy_source'],
      ['sink', 'engine_test_rejecting_sink'],
    ] as const) {
      const path = testPlugin(crate)
      const info = native().inspectPlugin(kind, path, null)
      expect(info.configSchema ?? undefined).toBeUndefined()
      const { config } = project(connectorFile(kind, path, 'interval = "banana"\nanything = [1, 2]'))
      const result = await validateCli(config)
      expect(result.problems).toBe(0)
      expect(result.lines.some((l) => l.startsWith('ok ') && l.includes('plugin_config not checked: the plugin exports no schema'))).toBe(true)
      expect(await run(config)).toEqual([])
    }
  })

  it('an unknown transform name is an error in validate and in run', async () => {
    const { config, file } = project(connectorFile('source', builtPlugin('iggy_connector_random_source'), 'interval = "5ms"', '[transforms.add_feilds]\nenabled = true\n'))
    const result = await validateCli(config)
    const errors = result.lines.filter((l) => l.startsWith('error  ')).map((l) => l.slice(7))
    expect(errors).toHaveLength(1)
    expect(errors[0]).toMatch(new RegExp(`^${file}: transforms\\.add_feilds: unknown transform "add_feilds"`))
    expect(await run(config)).toEqual(errors)
  })

  it('the CLI: validate exits 1 and run exits 2 on the same bad plugin_config, naming file and key', async () => {
    const { dir, file } = project(connectorFile('source', builtPlugin('iggy_connector_random_source'), 'interval = "banana"'))
    const line = `${file}: plugin_config.interval: ${DURATION}, received "banana"`
    const validated = await runCli(['validate', '--config', 'config.toml'], { cwd: dir })
    expect(validated.code).toBe(1)
    expect(validated.stdout).toContain(`error  ${line}`)
    const ran = await runCli(['--config', 'config.toml'], { cwd: dir })
    expect(ran.code).toBe(2)
    expect(ran.stderr).toContain(`- ${line}`)
  })
})

function newAjv(): Ajv2020 {
  return new Ajv2020({ allErrors: true, strict: false, validateFormats: false })
}

/** The quick start, the embedding example and `init` output: runtime config and connector files. */
function exampleProjects(): { config: string; connectors: string[] }[] {
  const dir = tmpDir()
  initProject(join(dir, 'init'), { cwd: dir })
  const projects = [join(root, 'examples/quickstart'), join(root, 'examples/embedding'), join(dir, 'init')]
  return projects.map((p) => ({ config: join(p, 'config.toml'), connectors: readdirSync(join(p, 'connectors')).map((f) => join(p, 'connectors', f)) }))
}

describe('iggy-connectors schema', () => {
  it('prints a JSON Schema of config.toml that accepts every shipped runtime config and refuses a wrong type', async () => {
    const result = await runCli(['schema'])
    expect(result.code).toBe(0)
    const validate = newAjv().compile(JSON.parse(result.stdout) as object)
    for (const { config } of exampleProjects()) expect(validate(parseToml(readFileSync(config, 'utf8'), config)), `${config}: ${JSON.stringify(validate.errors)}`).toBe(true)
    expect(validate({ http: { enabled: 'no' } })).toBe(false)
    expect(validate.errors?.[0]?.instancePath).toBe('/http/enabled')
  })

  it('prints the schema of a connector file with its plugin config, accepting the shipped connectors', async () => {
    let checked = 0
    for (const { connectors } of exampleProjects()) {
      for (const file of connectors) {
        const result = await runCli(['schema', '--connector', file])
        expect(result.code, result.stderr).toBe(0)
        expect(result.stderr).toBe('')
        const schema = JSON.parse(result.stdout) as { properties: { plugin_config: { properties?: Record<string, unknown> } } }
        expect(Object.keys(schema.properties.plugin_config.properties ?? {}).length).toBeGreaterThan(0)
        const validate = newAjv().compile(schema)
        const table = parseToml(readFileSync(file, 'utf8'), file)
        expect(validate(table), `${file}: ${JSON.stringify(validate.errors)}`).toBe(true)
        // The plugin's own rules are in it: a non-duration interval or a wrong type is refused.
        const broken = { ...table, plugin_config: { ...(table.plugin_config as object), print_payload: 'yes', interval: 'banana' } }
        expect(validate(broken)).toBe(false)
        checked++
      }
    }
    expect(checked).toBe(6)
  })

  it('describes plugin configs with nested definitions ($defs) so their references resolve', async () => {
    const { file } = project(connectorFile('source', builtPlugin('iggy_connector_elasticsearch_source'), 'url = "http://127.0.0.1:9200"\nindex = "i"\n[plugin_config.state]\nenabled = true\nstate_id = "x"'))
    const result = await runCli(['schema', '--connector', file])
    expect(result.code, result.stderr).toBe(0)
    const validate = newAjv().compile(JSON.parse(result.stdout) as object)
    const table = parseToml(readFileSync(file, 'utf8'), file)
    expect(validate(table), JSON.stringify(validate.errors)).toBe(true)
    expect(validate({ ...table, plugin_config: { url: 'x', index: 'i', state: { enabled: 'yes' } } })).toBe(false)
  })

  it('names the nested key of an optional table, not its null branch', async () => {
    const { config, file } = project(connectorFile('source', builtPlugin('iggy_connector_elasticsearch_source'), 'url = "http://127.0.0.1:9200"\nindex = "i"\n[plugin_config.state]\nenabled = "yes"'))
    const expected = [`${file}: plugin_config.state.enabled: expected boolean, received string`]
    expect((await validateCli(config)).lines.filter((l) => l.startsWith('error  ') && !l.includes(' v0 (')).map((l) => l.slice(7))).toEqual(expected)
    expect(await run(config)).toEqual(expected)
  })

  it('says why plugin_config is not described for a plugin without a schema, and still prints the file schema', async () => {
    const { file } = project(connectorFile('source', testPlugin('engine_test_legacy_source'), 'x = 1'))
    const result = await runCli(['schema', '--connector', file])
    expect(result.code).toBe(0)
    expect(result.stderr).toContain('exports no config schema; plugin_config is not described')
    const validate = newAjv().compile(JSON.parse(result.stdout) as object)
    expect(validate(parseToml(readFileSync(file, 'utf8'), file))).toBe(true)
  })
})

import { existsSync } from 'node:fs'
import { join } from 'node:path'

import { describe, expect, it } from 'vitest'

import { root, runCli } from './helpers/cli'
import { tmpDir } from './helpers/tmp'

const SOURCE = (path: string, extra = '') => `type = "source"
key = "random"
enabled = true
version = 0
name = "Random"
path = "${path}"
${extra}
[[streams]]
stream = "s"
topic = "t"
schema = "json"
`

function configDir(connectors: Record<string, string>, runtime = ''): string {
  const files: Record<string, string> = {}
  for (const [name, content] of Object.entries(connectors)) files[`connectors/${name}`] = content
  return tmpDir({ 'config.toml': `[connectors]\nconfig_dir = "connectors"\n[state]\npath = "state"\n${runtime}`, ...files })
}

describe('iggy-connectors validate', () => {
  it('exits 1 and names the file and key for an invalid connector config', async () => {
    const dir = configDir({ 'random.toml': SOURCE('x').replace('schema = "json"', 'schema = "jsonn"') })
    const result = await runCli(['validate', '--config', 'config.toml'], { cwd: dir })
    expect(result.code).toBe(1)
    expect(result.stdout).toContain(`error  ${join(dir, 'connectors/random.toml')}: streams.0.schema: expected one of "json"|"raw"|"text"|"proto"|"flat_buffer"`)
    expect(result.stdout).toContain('validation failed: 1 problem(s)')
  })

  it('exits 1 for an invalid runtime config', async () => {
    const dir = configDir({}, '[http]\nport = 1\nenabled = "no"\n')
    const result = await runCli(['validate', '-c', join(dir, 'config.toml')], { cwd: dir })
    expect(result.code).toBe(1)
    expect(result.stdout).toContain(`${join(dir, 'config.toml')}: http.enabled: expected boolean, received string`)
  })

  it('loads TS transform modules and refuses names nothing registers before a CLI run', async () => {
    const dir = configDir({
      'random.toml': SOURCE('no/such/lib', '[transforms.tag]\nenabled = true\nmodule = "./tag.js"\n\n[transforms.missing]\nenabled = true\nmodule = "./nope.js"\n\n[transforms.registered]\nenabled = true\n'),
      'tag.js': 'exports.transform = (messages) => messages\n',
    })
    const result = await runCli(['validate'], { cwd: dir })
    expect(result.code).toBe(1)
    expect(result.stdout).not.toContain('transforms.tag')
    expect(result.stdout).toContain('error  source "random": transforms.missing: module ./nope.js: Cannot find module')
    expect(result.stdout).toContain(`error  ${join(dir, 'connectors/random.toml')}: transforms.registered: unknown transform "registered"`)
  })

  it('exits 1 when an enabled plugin cannot be loaded, naming the connector and path', async () => {
    const dir = configDir({ 'random.toml': SOURCE('no/such/libplugin') })
    const result = await runCli(['validate'], { cwd: dir })
    expect(result.code).toBe(1)
    expect(result.stdout).toMatch(new RegExp(`error  source "random" v0 \\(${join(dir, 'connectors/random.toml')}\\): path: .+`))
  })

  it('exits 0 for a valid config whose plugins load, and skips disabled connectors', async () => {
    const random = join(root, 'build/plugins/libiggy_connector_random_source')
    expect(existsSync(`${random}.so`) || existsSync(`${random}.dylib`) || existsSync(`${random}.dll`), 'run `npm run build:plugins` first').toBe(true)
    const dir = configDir({
      'random.toml': SOURCE(random),
      'off.toml': SOURCE('no/such/lib').replace('key = "random"', 'key = "off"').replace('enabled = true', 'enabled = false'),
    })
    const result = await runCli(['validate'], { cwd: dir, env: { IGGY_CONNECTORS_SOURCE_RANDOM_PLUGIN_CONFIG_INTERVAL: '5ms' } })
    expect(result.stdout).toMatch(/ok {5}source "random" v0 .*libiggy_connector_random_source\.(so|dylib|dll) \(plugin \d+\.\d+\.\d+/)
    expect(result.stdout).toContain('skip   source "off" v0')
    expect(result.stdout).toContain('valid: 1 enabled connector(s)')
    expect(result.code).toBe(0)
  })
})

describe('.env loading', () => {
  it('loads .env from the cwd, or the file named by IGGY_CONNECTORS_ENV_PATH, before reading the config', async () => {
    const broken = SOURCE('x').replace('schema = "json"', 'schema = "nope"')
    const dir = tmpDir({
      'config.toml': '[state]\npath = "state"\n',
      'a/random.toml': broken,
      'b/random.toml': broken.replace('key = "random"', 'key = "other"'),
      '.env': 'IGGY_CONNECTORS_CONNECTORS_CONFIG_DIR=a\n',
      'custom.env': 'IGGY_CONNECTORS_CONNECTORS_CONFIG_DIR=b\n',
    })
    const fromDotenv = await runCli(['validate'], { cwd: dir })
    expect(fromDotenv.stdout).toContain(`${join(dir, 'a/random.toml')}: streams.0.schema`)
    const fromEnvPath = await runCli(['validate'], { cwd: dir, env: { IGGY_CONNECTORS_ENV_PATH: 'custom.env' } })
    expect(fromEnvPath.stdout).toContain(`${join(dir, 'b/random.toml')}: streams.0.schema`)
    const missing = await runCli(['validate'], { cwd: dir, env: { IGGY_CONNECTORS_ENV_PATH: 'missing.env' } })
    expect(missing.stderr).toContain(`cannot load ${join(dir, 'missing.env')}`)
    // No fallback to .env: config_dir stays empty.
    expect(missing.stdout).toContain('connectors.config_dir: connectors configuration directory not provided')
  })
})

describe('iggy-connectors run', () => {
  it('exits 2 with the problems listed when the config is invalid, starting nothing', async () => {
    const dir = configDir({ 'random.toml': SOURCE('x', 'version = "one"').replace('version = 0\n', '') })
    const result = await runCli(['--config', 'config.toml'], { cwd: dir })
    expect(result.code).toBe(2)
    expect(result.stderr).toContain(`${join(dir, 'connectors/random.toml')}: version: expected number, received string`)
    expect(existsSync(join(dir, 'state'))).toBe(false)
  })

  it('exits 2 on a missing --config file and on unknown arguments', async () => {
    const missing = await runCli(['--config', 'nope.toml'], { cwd: tmpDir() })
    expect(missing.code).toBe(2)
    expect(missing.stderr).toContain('nope.toml: config file not found')
    const extra = await runCli(['frobnicate'])
    expect(extra.code).toBe(2)
    expect(extra.stderr).toContain('unexpected argument "frobnicate"')
  })

  it('exits 1 when Iggy cannot be reached', async () => {
    const dir = configDir({}, '[iggy]\naddress = "127.0.0.1:1"\n[http]\nenabled = false\n')
    const result = await runCli(['--config', 'config.toml'], { cwd: dir })
    expect(result.code).toBe(1)
    expect(result.stdout).toMatch(/ERROR iggy_connectors: runtime failed to start: .*127\.0\.0\.1:1/)
  })

  it('documents the exit codes in --help', async () => {
    const help = await runCli(['--help'])
    expect(help.code).toBe(0)
    expect(help.stdout).toMatch(/Exit codes:\n\s+0 .*\n\s+1 .*\n\s+2 .*\n\s+130 /)
  })
})

describe('config file precedence', () => {
  it('--config beats IGGY_CONNECTORS_CONFIG_PATH, which beats config.toml in the cwd', async () => {
    // cwd: a valid default config.toml; env: an invalid runtime config; --config: a valid one.
    const cwd = configDir({})
    const fromEnv = configDir({}, '[http]\nenabled = "no"\n')
    const fromFlag = configDir({})
    const env = { IGGY_CONNECTORS_CONFIG_PATH: join(fromEnv, 'config.toml') }

    const byDefault = await runCli(['validate'], { cwd })
    expect(byDefault.stdout).toContain(`config ${join(cwd, 'config.toml')}\n`)
    expect(byDefault.code).toBe(0)

    const byEnv = await runCli(['validate'], { cwd, env })
    expect(byEnv.stdout).toContain(`${join(fromEnv, 'config.toml')}: http.enabled: expected boolean`)
    expect(byEnv.code).toBe(1)

    const byFlag = await runCli(['validate', '--config', join(fromFlag, 'config.toml')], { cwd, env })
    expect(byFlag.stdout).toContain(`config ${join(fromFlag, 'config.toml')}\n`)
    expect(byFlag.stdout).not.toContain(fromEnv)
    expect(byFlag.code).toBe(0)
  })
})

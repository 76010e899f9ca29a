import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'

import { beforeAll, describe, expect, it } from 'vitest'

import { loadConfiguration } from '../ts/config/index'
import { InitConflictError, initProject } from '../ts/init/index'
import { native } from '../ts/native'
import { bundledPluginDirs, listBundledPlugins } from '../ts/plugins'
import { buildDist, root, runCli } from './helpers/cli'
import { builtPlugin } from './helpers/plugins'
import { tmpDir } from './helpers/tmp'

const FILES = ['config.toml', 'connectors/random_source.toml', 'connectors/stdout_sink.toml']
const ext = process.platform === 'darwin' ? 'dylib' : process.platform === 'win32' ? 'dll' : 'so'

beforeAll(() => buildDist(), 120_000)

describe('initProject', () => {
  it('writes a runtime config and both connectors whose paths are relative to the cwd', async () => {
    const cwd = tmpDir()
    const result = initProject('my-app', { cwd })
    expect(result.files).toEqual(FILES.map((f) => `my-app/${f}`))
    expect(result.command).toBe('npx iggy-connectors --config my-app/config.toml --embedded-broker')
    const config = readFileSync(join(cwd, 'my-app/config.toml'), 'utf8')
    expect(config).toContain('config_dir = "my-app/connectors"')
    expect(config).toContain('path = "my-app/local_state"')

    const previous = process.cwd()
    process.chdir(cwd)
    try {
      const loaded = await loadConfiguration({ configPath: 'my-app/config.toml', env: {} })
      expect(loaded.warnings).toEqual([])
      expect(loaded.active.sources.map((s) => [s.config.key, s.config.path])).toEqual([['random', 'random_source']])
      expect(loaded.active.sinks.map((s) => [s.config.key, s.config.path])).toEqual([['stdout', 'stdout_sink']])
    } finally {
      process.chdir(previous)
    }
  })

  it('writes plain relative paths for the current directory and absolute ones for a directory outside it', () => {
    const cwd = tmpDir()
    expect(initProject('.', { cwd }).command).toBe('npx iggy-connectors --config config.toml --embedded-broker')
    expect(readFileSync(join(cwd, 'config.toml'), 'utf8')).toContain('config_dir = "connectors"')

    const outside = tmpDir()
    const result = initProject(outside, { cwd })
    expect(result.files[0]).toBe(`${outside}/config.toml`)
    expect(readFileSync(join(outside, 'config.toml'), 'utf8')).toContain(`config_dir = "${outside}/connectors"`)
  })

  it('refuses to overwrite, naming every existing file, and writes nothing', () => {
    const cwd = tmpDir({ 'app/connectors/stdout_sink.toml': 'mine' })
    let error: unknown
    try {
      initProject('app', { cwd })
    } catch (caught) {
      error = caught
    }
    expect(error).toBeInstanceOf(InitConflictError)
    expect((error as InitConflictError).existing).toEqual(['app/connectors/stdout_sink.toml'])
    expect(existsSync(join(cwd, 'app/config.toml'))).toBe(false)
    expect(readFileSync(join(cwd, 'app/connectors/stdout_sink.toml'), 'utf8')).toBe('mine')

    initProject('app', { cwd, force: true })
    expect(readFileSync(join(cwd, 'app/connectors/stdout_sink.toml'), 'utf8')).toContain('path = "stdout_sink"')
  })

  it('is what examples/quickstart holds (init examples/quickstart from the repository root)', () => {
    const cwd = tmpDir()
    initProject('examples/quickstart', { cwd })
    for (const file of FILES) {
      expect(readFileSync(join(cwd, 'examples/quickstart', file), 'utf8'), file).toBe(readFileSync(join(root, 'examples/quickstart', file), 'utf8'))
    }
  })
})

describe('iggy-connectors init', () => {
  it('writes the files and prints the command that starts the quick start', async () => {
    const cwd = tmpDir()
    const result = await runCli(['init', 'demo'], { cwd })
    expect(result.code).toBe(0)
    expect(result.stdout).toContain('wrote demo/connectors/stdout_sink.toml')
    expect(result.stdout).toContain('  npx iggy-connectors --config demo/config.toml --embedded-broker\n')
    for (const file of FILES) expect(existsSync(join(cwd, 'demo', file)), file).toBe(true)
  })

  it('exits 2 naming the file when one exists, and overwrites it with --force', async () => {
    const cwd = tmpDir({ 'config.toml': 'keep me' })
    const refused = await runCli(['init'], { cwd })
    expect(refused.code).toBe(2)
    expect(refused.stderr).toContain('refusing to overwrite config.toml (use --force to overwrite)')
    expect(readFileSync(join(cwd, 'config.toml'), 'utf8')).toBe('keep me')
    const forced = await runCli(['init', '--force'], { cwd })
    expect(forced.code).toBe(0)
    expect(readFileSync(join(cwd, 'config.toml'), 'utf8')).toContain('[connectors]')
  })

  it('exits 1 naming the path when the directory cannot be written', async () => {
    const cwd = tmpDir({ 'taken/connectors': 'a file where the directory should be' })
    const result = await runCli(['init', 'taken'], { cwd })
    expect(result.code).toBe(1)
    expect(result.stderr).toContain(`iggy-connectors init: EEXIST: file already exists, mkdir '${join(cwd, 'taken/connectors')}'`)
  })

  it('exits 2 on a second directory argument', async () => {
    const result = await runCli(['init', 'a', 'b'], { cwd: tmpDir() })
    expect(result.code).toBe(2)
    expect(result.stderr).toContain('unexpected argument "init a b"')
  })
})

describe('bundled plugins', () => {
  it('lists only iggy_connector_ libraries, an earlier directory hiding a later one', () => {
    const first = tmpDir({ [`libiggy_connector_stdout_sink.${ext}`]: '', 'README.md': '', [`libother.${ext}`]: '' })
    const second = tmpDir({ [`libiggy_connector_stdout_sink.${ext}`]: '', [`libiggy_connector_random_source.${ext}`]: '' })
    expect(listBundledPlugins([first, second])).toEqual([
      { name: 'stdout_sink', file: join(first, `libiggy_connector_stdout_sink.${ext}`) },
      { name: 'random_source', file: join(second, `libiggy_connector_random_source.${ext}`) },
    ])
  })

  it('are found in build/plugins of a clone', () => {
    builtPlugin('iggy_connector_stdout_sink')
    expect(bundledPluginDirs()).toContain(join(root, 'build', 'plugins'))
    const names = listBundledPlugins().map((p) => p.name)
    expect(names).toEqual(expect.arrayContaining(['random_source', 'stdout_sink', 'postgres_source', 'postgres_sink']))
  })

  it('resolve from a bare name in the engine, after the upstream rules', () => {
    const bundled = `${builtPlugin('iggy_connector_stdout_sink')}.${ext}`
    expect(native().inspectPlugin('sink', 'stdout_sink', null).resolvedPath).toBe(bundled)
    expect(native().inspectPlugin('sink', 'iggy_connector_stdout_sink', null).resolvedPath).toBe(bundled)
    // An upstream rule (the connector file's directory) wins over the bundle.
    const configDir = tmpDir()
    writeFileSync(join(configDir, `stdout_sink.${ext}`), readFileSync(bundled))
    expect(native().inspectPlugin('sink', 'stdout_sink', configDir).resolvedPath).toBe(join(configDir, `stdout_sink.${ext}`))
  })

  it('name the bundled candidates when a bare name matches nothing', () => {
    expect(() => native().inspectPlugin('sink', 'no_such_sink', null)).toThrow(join(root, 'build', 'plugins', `libiggy_connector_no_such_sink.${ext}`))
  })

  it('are listed by `iggy-connectors plugins` with kind and version', async () => {
    const result = await runCli(['plugins'])
    expect(result.code).toBe(0)
    const line = (name: string) => result.stdout.split('\n').find((l) => l.startsWith(`${name} `)) ?? ''
    expect(line('random_source')).toMatch(new RegExp(`^random_source +source +\\S+ +${join(root, 'build/plugins')}`))
    expect(line('stdout_sink')).toMatch(/^stdout_sink +sink +/)
  })
})

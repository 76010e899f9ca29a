import { execFileSync } from 'node:child_process'
import { existsSync, readFileSync, readdirSync } from 'node:fs'
import { join } from 'node:path'

import { describe, expect, it } from 'vitest'

const root = join(__dirname, '..')
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'))

describe('package layout', () => {
  it('points main/types/exports at the compiled dist/', () => {
    expect(pkg.main).toBe('dist/index.js')
    expect(pkg.types).toBe('dist/index.d.ts')
    expect(pkg.exports['.'].default).toBe('./dist/index.js')
    expect(existsSync(join(root, pkg.main))).toBe(true)
    expect(existsSync(join(root, pkg.types))).toBe(true)
  })

  it('has one npm/ platform package per napi target, none of them a dependency in the repository', () => {
    const platforms = readdirSync(join(root, 'npm'), { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => e.name)
    expect(platforms.toSorted()).toEqual(
      ['darwin-arm64', 'darwin-x64', 'linux-arm64-gnu', 'linux-x64-gnu', 'win32-x64-msvc'].toSorted(),
    )
    // `napi prepublish` adds them as optionalDependencies at publish time (scripts/pack-test.mjs
    // does the same); listed here they would be unpublished packages `npm ci` cannot install.
    expect(pkg.optionalDependencies).toBeUndefined()
    const lock = JSON.parse(readFileSync(join(root, 'package-lock.json'), 'utf8'))
    expect(Object.keys(lock.packages).filter((path) => path.includes('@iggy-connectors/'))).toEqual([])
    for (const platform of platforms) {
      const sub = JSON.parse(readFileSync(join(root, 'npm', platform, 'package.json'), 'utf8'))
      expect(sub.name).toBe(`@iggy-connectors/binding-${platform}`)
      expect(sub.version).toBe(pkg.version)
      expect(sub.main).toBe(`iggy-connectors.${platform}.node`)
      expect(sub.files).toEqual([sub.main])
      expect(sub.os).toHaveLength(1)
      expect(sub.cpu).toHaveLength(1)
    }
  })

  it('keeps the Cargo workspace version in step with the npm version', () => {
    const cargo = readFileSync(join(root, 'Cargo.toml'), 'utf8')
    expect(cargo).toContain(`version = "${pkg.version}"`)
  })
})

describe('iggy-connectors bin', () => {
  const bin = join(root, pkg.bin['iggy-connectors'])

  it('prints the package and engine versions with --version', () => {
    const out = execFileSync(process.execPath, [bin, '--version'], { encoding: 'utf8' })
    expect(out.trim()).toBe(`iggy-connectors ${pkg.version} (engine ${pkg.version})`)
  })

  it('prints usage with --help', () => {
    const out = execFileSync(process.execPath, [bin, '--help'], { encoding: 'utf8' })
    expect(out).toContain('Usage:')
    expect(out).toContain('validate')
    expect(out).toContain('broker')
  })

  it('rejects an unknown flag with a non-zero exit', () => {
    expect(() => execFileSync(process.execPath, [bin, '--no-such-flag'], { stdio: 'pipe' })).toThrow(
      /no-such-flag/,
    )
  })
})

describe('public API surface', () => {
  it('exports the embedding API from dist/', () => {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const api = require(join(root, 'dist/index.js'))
    for (const name of ['ConnectorsRuntime', 'ConfigError', 'ApiError', 'ProviderError', 'loadConfiguration', 'bindingify', 'createLogWriter', 'startTestBroker', 'engineVersion', 'pluginAbi', 'VERSION', 'Batch', 'BatchMessage', 'BatchResultBuilder']) {
      expect(api[name], name).toBeDefined()
    }
    expect(api.VERSION).toBe(pkg.version)
  })

  it('has no `any` in the published type declarations', () => {
    const offenders: string[] = []
    const walk = (dir: string) => {
      for (const entry of readdirSync(dir, { withFileTypes: true })) {
        const path = join(dir, entry.name)
        if (entry.isDirectory()) walk(path)
        else if (entry.name.endsWith('.d.ts')) {
          const code = readFileSync(path, 'utf8').replace(/\/\*[\s\S]*?\*\//g, '').replace(/\/\/.*$/gm, '')
          if (/[:<,|(]\s*any\b/.test(code)) offenders.push(path)
        }
      }
    }
    walk(join(root, 'dist'))
    expect(offenders).toEqual([])
  })

  it('has the quick start script and files', () => {
    expect(pkg.scripts.start).toBe('node bin/iggy-connectors.js --config examples/quickstart/config.toml --embedded-broker')
    expect(existsSync(join(root, 'examples/quickstart/config.toml'))).toBe(true)
    expect(readdirSync(join(root, 'examples/quickstart/connectors')).toSorted()).toEqual(['random_source.toml', 'stdout_sink.toml'])
  })
})

describe('example configs', () => {
  it.each(['examples/quickstart/config.toml', 'examples/embedding/config.toml'])('%s validates without warnings', async (file) => {
    const { loadConfiguration } = await import('../ts/config/index')
    const cwd = process.cwd()
    process.chdir(root)
    try {
      const loaded = await loadConfiguration({ configPath: file, env: {} })
      expect(loaded.warnings).toEqual([])
      expect(loaded.active.sources.map((s) => [s.config.key, s.config.path])).toEqual([['random', 'random_source']])
      expect(loaded.active.sinks.map((s) => [s.config.key, s.config.path])).toEqual([['stdout', 'stdout_sink']])
    } finally {
      process.chdir(cwd)
    }
  })
})

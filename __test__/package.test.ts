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

  it('lists every npm/ platform package as an optional dependency with the same version', () => {
    const platforms = readdirSync(join(root, 'npm'))
    expect(platforms.toSorted()).toEqual(
      ['darwin-arm64', 'darwin-x64', 'linux-arm64-gnu', 'linux-x64-gnu', 'win32-x64-msvc'].toSorted(),
    )
    for (const platform of platforms) {
      const sub = JSON.parse(readFileSync(join(root, 'npm', platform, 'package.json'), 'utf8'))
      expect(sub.name).toBe(`@iggy-connectors/binding-${platform}`)
      expect(pkg.optionalDependencies[sub.name]).toBe(pkg.version)
      expect(sub.main).toBe(`iggy-connectors.${platform}.node`)
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

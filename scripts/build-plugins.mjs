// Builds every plugin crate under crates/plugins/ (a crate with a cdylib target; library-only
// shared crates there are skipped) and copies the shared libraries to build/plugins/, the
// directory the example configs point at. Honors CARGO_TARGET_DIR.
import { execFileSync } from 'node:child_process'
import { copyFileSync, mkdirSync } from 'node:fs'
import { join, resolve, sep } from 'node:path'

const root = resolve(import.meta.dirname, '..')
const profile = process.argv.includes('--debug') ? 'debug' : 'release'

const metadata = JSON.parse(
  execFileSync('cargo', ['metadata', '--format-version', '1', '--no-deps'], { cwd: root, encoding: 'utf8' }),
)
const pluginsDir = join(root, 'crates', 'plugins') + sep
// A plugin is a workspace member under crates/plugins/ whose lib target builds a cdylib; the file
// name comes from the target name (hyphens become underscores, as cargo does).
const plugins = metadata.packages
  .filter((pkg) => pkg.manifest_path.startsWith(pluginsDir))
  .flatMap((pkg) =>
    pkg.targets
      .filter((target) => target.kind.includes('cdylib'))
      .map((target) => ({ pkg: pkg.name, lib: target.name.replaceAll('-', '_') })),
  )
  .toSorted((a, b) => a.lib.localeCompare(b.lib))
if (plugins.length === 0) throw new Error(`no cdylib crate under ${pluginsDir}`)

const cargoArgs = ['build', ...(profile === 'release' ? ['--release'] : [])]
for (const { pkg } of plugins) cargoArgs.push('-p', pkg)
execFileSync('cargo', cargoArgs, { cwd: root, stdio: 'inherit' })

const libDir = join(metadata.target_directory, profile)
const outDir = join(root, 'build/plugins')
mkdirSync(outDir, { recursive: true })
const ext = process.platform === 'darwin' ? 'dylib' : process.platform === 'win32' ? 'dll' : 'so'
const prefix = process.platform === 'win32' ? '' : 'lib'
for (const { lib } of plugins) {
  const file = `${prefix}${lib}.${ext}`
  copyFileSync(join(libDir, file), join(outDir, file))
  process.stdout.write(`plugin: build/plugins/${file}\n`)
}

// Builds every plugin crate under crates/plugins/ and copies the shared libraries to
// build/plugins/, the directory the example configs point at. Honors CARGO_TARGET_DIR.
import { execFileSync } from 'node:child_process'
import { copyFileSync, mkdirSync, readdirSync } from 'node:fs'
import { join, resolve } from 'node:path'

const root = resolve(import.meta.dirname, '..')
const profile = process.argv.includes('--debug') ? 'debug' : 'release'
const plugins = readdirSync(join(root, 'crates/plugins'), { withFileTypes: true })
  .filter((entry) => entry.isDirectory())
  .map((entry) => `iggy_connector_${entry.name}`)

const cargoArgs = ['build', ...(profile === 'release' ? ['--release'] : [])]
for (const name of plugins) cargoArgs.push('-p', name)
execFileSync('cargo', cargoArgs, { cwd: root, stdio: 'inherit' })

const metadata = JSON.parse(
  execFileSync('cargo', ['metadata', '--format-version', '1', '--no-deps'], { cwd: root, encoding: 'utf8' }),
)
const libDir = join(metadata.target_directory, profile)
const outDir = join(root, 'build/plugins')
mkdirSync(outDir, { recursive: true })
const ext = process.platform === 'darwin' ? 'dylib' : process.platform === 'win32' ? 'dll' : 'so'
const prefix = process.platform === 'win32' ? '' : 'lib'
for (const name of plugins) {
  const file = `${prefix}${name}.${ext}`
  copyFileSync(join(libDir, file), join(outDir, file))
  process.stdout.write(`plugin: build/plugins/${file}\n`)
}

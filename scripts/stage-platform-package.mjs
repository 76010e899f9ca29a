// Stages this host's platform package (npm/<platform>/) for publishing or for the packaging test:
// the addon built by `npm run build:native` and every plugin in build/plugins/ (`npm run
// build:plugins`) go into the package, each listed in its `files` (napi prepublish checks every
// entry is a file). Usage: node scripts/stage-platform-package.mjs [--out <dir>]
// Without --out the files land in npm/<platform>/ itself, as `npm publish` (napi prepublish) wants.
import { copyFileSync, cpSync, existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = resolve(import.meta.dirname, '..')

/** napi-rs's platform suffix of this host (the platforms package.json `napi.targets` lists). */
export function hostPlatform() {
  const abi = process.platform === 'linux' ? '-gnu' : process.platform === 'win32' ? '-msvc' : ''
  return `${process.platform}-${process.arch}${abi}`
}

/** Copies npm/<platform>/ with the addon and plugins into `outDir`; returns its package.json. */
export function stagePlatformPackage(outDir = join(root, 'npm', hostPlatform())) {
  const platform = hostPlatform()
  const source = join(root, 'npm', platform)
  if (!existsSync(source)) throw new Error(`no platform package npm/${platform}: this platform is not a napi target`)
  const addon = `iggy-connectors.${platform}.node`
  if (!existsSync(join(root, addon))) throw new Error(`${addon} is missing: run \`npm run build:native\` first`)
  const pluginsDir = join(root, 'build', 'plugins')
  const plugins = existsSync(pluginsDir) ? readdirSync(pluginsDir).filter((f) => /\.(so|dylib|dll)$/.test(f)).toSorted() : []
  if (plugins.length === 0) throw new Error('build/plugins/ holds no plugin: run `npm run build:plugins` first')

  if (resolve(outDir) !== source) cpSync(source, outDir, { recursive: true })
  copyFileSync(join(root, addon), join(outDir, addon))
  mkdirSync(join(outDir, 'plugins'), { recursive: true })
  for (const file of plugins) copyFileSync(join(pluginsDir, file), join(outDir, 'plugins', file))

  const manifest = JSON.parse(readFileSync(join(source, 'package.json'), 'utf8'))
  manifest.files = [addon, ...plugins.map((file) => `plugins/${file}`)]
  writeFileSync(join(outDir, 'package.json'), `${JSON.stringify(manifest, null, 2)}\n`)
  return manifest
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const at = process.argv.indexOf('--out')
  const outDir = at === -1 ? undefined : resolve(process.argv[at + 1] ?? '')
  const manifest = stagePlatformPackage(outDir)
  process.stdout.write(`staged ${manifest.name}: ${manifest.files.join(', ')}\n`)
}

// The plugins bundled with this installation. `npm install` brings them in the `plugins/`
// directory of the platform package whose addon is loaded; a clone has them in `build/plugins/`
// after `npm run build:plugins`. The engine looks a bare plugin name (`path = "stdout_sink"`) up
// there after every upstream search rule, so explicit paths behave exactly as upstream.
import { existsSync, readdirSync } from 'node:fs'
import { basename, dirname, join } from 'node:path'

/** The package root (both `dist/` and `ts/` sit one level below it). */
const packageRoot = join(__dirname, '..')

const LIBRARY = /^(?:lib)?(iggy_connector_)?(.+)\.(?:so|dylib|dll)$/

/** Directory of the loaded `iggy-connectors.<platform>.node`, if the addon is loaded. */
function loadedAddonDir(): string | undefined {
  const addon = Object.keys(require.cache).find((file) => /^iggy-connectors\.[\w-]+\.node$/.test(basename(file)))
  return addon === undefined ? undefined : dirname(addon)
}

/** The existing bundled plugin directories, in search order. */
export function bundledPluginDirs(): string[] {
  const addonDir = loadedAddonDir()
  const candidates = [...(addonDir === undefined ? [] : [join(addonDir, 'plugins')]), join(packageRoot, 'build', 'plugins')]
  return [...new Set(candidates)].filter((dir) => existsSync(dir))
}

export interface BundledPlugin {
  /** The bare name a connector file can use as `path`, e.g. `stdout_sink`. */
  readonly name: string
  /** Absolute path of the library. */
  readonly file: string
}

/** Every plugin library in `dirs`; a name found in an earlier directory hides later ones. */
export function listBundledPlugins(dirs: readonly string[] = bundledPluginDirs()): BundledPlugin[] {
  const found = new Map<string, BundledPlugin>()
  for (const dir of dirs) {
    for (const entry of readdirSync(dir).toSorted()) {
      const match = LIBRARY.exec(entry)
      if (match?.[1] === undefined || match[2] === undefined || found.has(match[2])) continue
      found.set(match[2], { name: match[2], file: join(dir, entry) })
    }
  }
  return [...found.values()]
}

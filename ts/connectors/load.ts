// Loads a connector module named in a connector file: a path relative to that file, or a
// package name resolved from it. `.js`, `.cjs` and `.mjs` load; `.ts` does not, because Node 20
// cannot import TypeScript natively and no loader is a runtime dependency of this package
// (compile the connector to JavaScript first, or register it from code with registerSource()).
import { createRequire } from 'node:module'
import { extname, isAbsolute, resolve } from 'node:path'
import { pathToFileURL } from 'node:url'

import type { ConnectorModule, SinkFactory, SourceFactory } from './types'

// `import()` kept as is: the package compiles to CommonJS, where TypeScript would turn it into
// `require()`, which cannot load an ES module on every supported Node version.
// eslint-disable-next-line @typescript-eslint/no-implied-eval
const dynamicImport = new Function('specifier', 'return import(specifier)') as (specifier: string) => Promise<unknown>

/**
 * `import()` of a file. Inside a VM context without an import hook (test runners that evaluate
 * this package in `vm`) `import()` is unavailable; there `require()` loads it (ES modules
 * included, on Node versions with require(esm)).
 */
async function importFile(file: string): Promise<unknown> {
  try {
    return await dynamicImport(pathToFileURL(file).href)
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ERR_VM_DYNAMIC_IMPORT_CALLBACK_MISSING') throw error
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const required = require(file) as unknown
    return typeof required === 'object' && required !== null && 'createSource' in required ? required : { default: required }
  }
}

function isPath(module: string): boolean {
  return module.startsWith('.') || isAbsolute(module)
}

/** The file a module name points at, resolved from `baseDir` (the connector file's directory). */
export function resolveModule(module: string, baseDir: string): string {
  if (isPath(module)) {
    const full = resolve(baseDir, module)
    if (extname(full) === '.ts' || extname(full) === '.mts' || extname(full) === '.cts') {
      throw new Error(`${full}: TypeScript modules cannot be loaded by Node 20 without a loader; compile it to .js/.mjs and name that file`)
    }
    return full
  }
  return createRequire(resolve(baseDir, 'connector.toml')).resolve(module)
}

/** The factory of `kind` a module exports (`createSource` / `createSink`, else `default`). */
export async function loadConnectorModule(kind: 'source' | 'sink', module: string, baseDir: string): Promise<SourceFactory | SinkFactory> {
  const file = resolveModule(module, baseDir)
  const loaded = (await importFile(file)) as ConnectorModule & { default?: unknown }
  // A CommonJS module arrives as { default: module.exports }.
  const exports = (typeof loaded.default === 'object' && loaded.default !== null && loaded.createSource === undefined && loaded.createSink === undefined
    ? loaded.default
    : loaded) as ConnectorModule
  const named = kind === 'source' ? exports.createSource : exports.createSink
  const factory = named ?? exports.default
  if (typeof factory !== 'function') {
    throw new Error(`${file} exports neither ${kind === 'source' ? 'createSource' : 'createSink'}() nor a default factory`)
  }
  return factory
}

// `iggy-connectors init [dir]`: writes a runtime config and the quick start's connector files.
import { existsSync, mkdirSync, writeFileSync } from 'node:fs'
import { isAbsolute, join, relative, resolve, sep } from 'node:path'

import { RANDOM_SOURCE, STDOUT_SINK, runtimeConfig } from './templates'

export interface InitOptions {
  /** Overwrite files that already exist (otherwise nothing is written). */
  readonly force?: boolean
  /** The directory the runtime will be started from; paths in config.toml are relative to it. */
  readonly cwd?: string
}

export interface InitResult {
  /** Written files, as the user would type them from `cwd`. */
  readonly files: string[]
  /** The command that starts the quick start from `cwd`. */
  readonly command: string
}

/** Thrown when a target file exists and `force` is not set; names every such file. */
export class InitConflictError extends Error {
  constructor(readonly existing: readonly string[]) {
    super(`refusing to overwrite ${existing.join(', ')} (use --force to overwrite)`)
    this.name = 'InitConflictError'
  }
}

/** `dir` as seen from `cwd`, with `/` separators; absolute when it lies outside `cwd`. */
function displayPath(cwd: string, dir: string): string {
  const rel = relative(cwd, dir)
  if (rel === '') return ''
  if (rel.startsWith('..') || isAbsolute(rel)) return dir.split(sep).join('/')
  return rel.split(sep).join('/')
}

/** Writes `dir/config.toml` and `dir/connectors/{random_source,stdout_sink}.toml`. */
export function initProject(dir: string, options: InitOptions = {}): InitResult {
  const cwd = resolve(options.cwd ?? process.cwd())
  const target = resolve(cwd, dir)
  const base = displayPath(cwd, target)
  const shown = (name: string) => (base === '' ? name : `${base}/${name}`)
  const paths = { config: shown('config.toml'), connectors: shown('connectors'), state: shown('local_state') }
  const files: [string, string, string][] = [
    [join(target, 'config.toml'), paths.config, runtimeConfig(paths)],
    [join(target, 'connectors', 'random_source.toml'), shown('connectors/random_source.toml'), RANDOM_SOURCE],
    [join(target, 'connectors', 'stdout_sink.toml'), shown('connectors/stdout_sink.toml'), STDOUT_SINK],
  ]
  const existing = files.filter(([file]) => existsSync(file)).map(([, name]) => name)
  if (existing.length > 0 && options.force !== true) throw new InitConflictError(existing)
  mkdirSync(join(target, 'connectors'), { recursive: true })
  for (const [file, , text] of files) writeFileSync(file, text)
  const config = /[\s"'$]/.test(paths.config) ? JSON.stringify(paths.config) : paths.config
  return { files: files.map(([, name]) => name), command: `npx iggy-connectors --config ${config} --embedded-broker` }
}

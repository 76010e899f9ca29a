// `iggy-connectors validate`: every problem `run` would find, found without starting anything —
// the runtime and connector files, credentials, transforms (built-in tables, TS modules, unknown
// names), each enabled connector's plugin library and its `[plugin_config]` against the schema
// the plugin exports.
import { bindingifyIggy, bindingifySink, bindingifySource, type CustomTransformBinding } from '../config/bindingify'
import { loadConfiguration } from '../config/index'
import { resolveModule } from '../connectors/load'
import { pluginConfigIssues } from '../config/plugin-config'
import type { Env } from '../env'
import { ConfigError, type ConfigIssue, formatIssue } from '../errors'
import { native } from '../native'
import { TransformRegistry } from '../transforms/registry'

/** The 0.4.0 symbols each plugin kind must export (upstream refuses to load without them). */
export const REQUIRED_SYMBOLS: Readonly<Record<'source' | 'sink', readonly string[]>> = {
  source: ['iggy_source_open', 'iggy_source_handle', 'iggy_source_close', 'iggy_source_version'],
  sink: ['iggy_sink_open', 'iggy_sink_consume', 'iggy_sink_close', 'iggy_sink_version'],
}

const nothingRegistered = (): boolean => false

export interface ValidateIo {
  stdout: NodeJS.WritableStream
}

/** Runs the checks and prints one line per finding; resolves to the number of problems. */
export async function validateConfiguration(configPath: string | undefined, env: Env, io: ValidateIo): Promise<number> {
  const out = (line: string) => io.stdout.write(`${line}\n`)
  const error = (issue: ConfigIssue) => out(`error  ${formatIssue(issue)}`)
  let loaded
  try {
    loaded = await loadConfiguration({ ...(configPath === undefined ? {} : { configPath }), env })
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e
    e.issues.forEach(error)
    out(`validation failed: ${e.issues.length} problem(s)`)
    return e.issues.length
  }
  out(`config ${loaded.location?.path ?? '(defaults)'}`)
  for (const w of new Set(loaded.warnings.map(formatIssue))) out(`warn   ${w}`)

  const issues: ConfigIssue[] = []
  try {
    bindingifyIggy(loaded.config.iggy)
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e
    issues.push(...e.issues)
  }
  // Nothing can register a transform with registerTransform() before a CLI `run`: a name that is
  // neither built in nor given a module is refused there, so it is an error here too.
  const custom: CustomTransformBinding[] = []
  for (const s of loaded.active.sources) if (s.config.enabled) bindingifySource(s, nothingRegistered, custom, issues)
  for (const s of loaded.active.sinks) if (s.config.enabled) bindingifySink(s, nothingRegistered, custom, issues)
  const registry = new TransformRegistry()
  for (const t of custom) {
    try {
      registry.resolve(t.name, t.config, t.baseDir)
    } catch (e) {
      issues.push({ file: `${t.kind} "${t.key}"`, path: `transforms.${t.name}`, message: `module ${String(t.config.module)}: ${(e as Error).message.split('\n')[0]}` })
    }
  }
  issues.forEach(error)
  let problems = issues.length

  const connectors = [...loaded.active.sources, ...loaded.active.sinks]
  for (const stored of connectors) {
    const c = stored.config
    const label = `${stored.kind} "${c.key}" v${c.version} (${stored.origin})`
    if (!c.enabled) {
      out(`skip   ${label}: disabled`)
      continue
    }
    if (c.module !== undefined) {
      // A TypeScript/JavaScript connector: its module must resolve (it is loaded at start).
      try {
        out(`ok     ${label}: module ${resolveModule(c.module, stored.configDir ?? process.cwd())}`)
      } catch (e) {
        // A name registered from code (registerSource) only exists in an embedding process.
        out(`warn   ${label}: module: ${(e as Error).message} (fine if it is registered from code)`)
      }
      continue
    }
    let info
    try {
      info = native().inspectPlugin(stored.kind, c.path, stored.configDir ?? null)
    } catch (e) {
      out(`error  ${label}: path: ${(e as Error).message}`)
      problems++
      continue
    }
    if (info.kind !== stored.kind) {
      out(`error  ${label}: path: ${info.resolvedPath} is a ${info.kind} plugin, the config says ${stored.kind}`)
      problems++
      continue
    }
    const missing = REQUIRED_SYMBOLS[stored.kind].filter((symbol) => !info.symbols.includes(symbol))
    if (missing.length > 0) {
      out(`error  ${label}: path: ${info.resolvedPath} lacks ${missing.join(', ')}`)
      problems++
      continue
    }
    const configIssues = info.configSchema ? pluginConfigIssues(info.configSchema, c.plugin_config, stored.origin) : []
    configIssues.forEach(error)
    problems += configIssues.length
    const checked = info.configSchema ? 'plugin_config checked against the plugin schema' : 'plugin_config not checked: the plugin exports no schema'
    out(`${configIssues.length === 0 ? 'ok   ' : 'error'}  ${label}: ${info.resolvedPath} (plugin ${info.version}${info.batchResultAbi ? ', batch-result ABI' : ''}; ${info.symbols.length} symbols; ${checked})`)
  }
  out(problems === 0 ? `valid: ${connectors.filter((s) => s.config.enabled).length} enabled connector(s)` : `validation failed: ${problems} problem(s)`)
  return problems
}

// The `iggy-connectors` command line.
import { parseArgs } from 'node:util'

import { bindingify } from './config/bindingify'
import { resolveModule } from './connectors/load'
import { loadConfiguration } from './config/index'
import { loadEnvFile, loadRuntimeConfig } from './config/runtime'
import type { Env } from './env'
import { ConfigError, formatIssue } from './errors'
import { InitConflictError, initProject } from './init/index'
import { type LogSink, Logger, createLogWriter } from './logger'
import { type NativeTestBroker, native } from './native'
import { bundledPluginDirs, listBundledPlugins } from './plugins'
import { ConnectorsRuntime } from './runtime'
import { TransformRegistry } from './transforms/registry'
import { VERSION } from './version'

/** Exit codes, also listed in --help and docs/config.md. */
export const EXIT = {
  OK: 0,
  /** The runtime failed (engine or broker start, stop error); `validate` found a problem. */
  FAILURE: 1,
  /** Bad command line or invalid configuration: nothing was started. */
  USAGE: 2,
  /** A second SIGINT/SIGTERM forced the exit before the graceful stop finished. */
  FORCED: 130,
} as const

const HELP = `iggy-connectors ${VERSION} — connectors runtime for Apache Iggy

Usage:
  iggy-connectors [--config <path>] [--embedded-broker]   run the runtime
  iggy-connectors init [dir] [--force]                    write a quick start config into dir (default .)
  iggy-connectors validate [--config <path>]              check config and plugins, exit 0/1
  iggy-connectors plugins                                 list the plugins bundled with this package
  iggy-connectors broker [--address 127.0.0.1:8090]       run the embedded test broker
  iggy-connectors --version | --help

Options:
  -c, --config <path>    runtime config (default: $IGGY_CONNECTORS_CONFIG_PATH, else config.toml
                         in the current directory or the nearest parent)
      --embedded-broker  start the embedded development broker at [iggy] address first
      --address <addr>   broker address (broker command; default 127.0.0.1:8090)
      --force            init: overwrite existing files
  -V, --version          print versions
  -h, --help             print this help

Environment:
  IGGY_CONNECTORS_<SECTION>_<KEY>   overrides a runtime config key (e.g. IGGY_CONNECTORS_IGGY_ADDRESS)
  IGGY_CONNECTORS_{SOURCE|SINK}_<KEY>_<FIELD>  overrides a connector field (see docs/config.md)
  IGGY_CONNECTORS_ENV_PATH          a .env file loaded first (default: .env in cwd or a parent)

Exit codes:
  0    ok (stopped gracefully; validate found no problem)
  1    runtime failure; validate found a problem
  2    usage or configuration error (nothing started)
  130  forced exit by a second SIGINT/SIGTERM
`

/** The 0.4.0 symbols each plugin kind must export (upstream refuses to load without them). */
export const REQUIRED_SYMBOLS: Readonly<Record<'source' | 'sink', readonly string[]>> = {
  source: ['iggy_source_open', 'iggy_source_handle', 'iggy_source_close', 'iggy_source_version'],
  sink: ['iggy_sink_open', 'iggy_sink_consume', 'iggy_sink_close', 'iggy_sink_version'],
}

const BROKER_BANNER = '*** embedded broker — for development and tests only, NOT for production ***'

interface Io {
  stdout: NodeJS.WritableStream
  stderr: NodeJS.WritableStream
}

/** Resolves when SIGINT/SIGTERM arrives; a second signal calls `force`. */
export function waitForSignal(logger: Logger, force: () => void): Promise<string> {
  return new Promise((resolve) => {
    let received = false
    const onSignal = (signal: string) => {
      if (received) {
        logger.warn(`${signal} received again, forcing exit`)
        force()
        return
      }
      received = true
      logger.info(`${signal} received, stopping gracefully (send it again to force)`)
      resolve(signal)
    }
    process.on('SIGINT', onSignal)
    process.on('SIGTERM', onSignal)
  })
}

/** Keeps the event loop alive while waiting on a signal (a pending promise does not). */
function keepAlive(): () => void {
  const timer = setInterval(() => undefined, 1 << 30)
  return () => clearInterval(timer)
}

async function startBroker(address: string, logger: Logger): Promise<NativeTestBroker> {
  logger.warn(BROKER_BANNER)
  const broker = await native().TestBroker.start({ address })
  logger.info(`embedded broker listening on ${broker.address}`)
  return broker
}

async function runBroker(address: string, io: Io): Promise<number> {
  const logger = new Logger(createLogWriter({ stream: io.stdout }), 'iggy_connectors::broker')
  let broker: NativeTestBroker
  try {
    broker = await startBroker(address, logger)
  } catch (error) {
    logger.error(`cannot start the embedded broker at ${address}: ${(error as Error).message}`)
    return EXIT.FAILURE
  }
  const release = keepAlive()
  await waitForSignal(logger, () => process.exit(EXIT.FORCED))
  await broker.stop()
  release()
  logger.info('broker stopped')
  return EXIT.OK
}

function reportConfigError(error: ConfigError, io: Io): void {
  io.stderr.write(`iggy-connectors: ${error.message}\n`)
}

async function runValidate(configPath: string | undefined, env: Env, io: Io): Promise<number> {
  const out = (line: string) => io.stdout.write(`${line}\n`)
  let problems = 0
  let loaded
  try {
    loaded = await loadConfiguration({ ...(configPath === undefined ? {} : { configPath }), env })
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error
    for (const issue of error.issues) out(`error  ${formatIssue(issue)}`)
    out(`validation failed: ${error.issues.length} problem(s)`)
    return EXIT.FAILURE
  }
  out(`config ${loaded.location?.path ?? '(defaults)'}`)
  for (const w of new Set(loaded.warnings.map(formatIssue))) out(`warn   ${w}`)
  try {
    // Any name counts as registered here: the embedding API may register it at run time.
    const { custom } = bindingify(loaded.config, loaded.active, () => true)
    const registry = new TransformRegistry()
    for (const t of custom) {
      const where = `${t.kind} "${t.key}": transforms.${t.name}`
      if (typeof t.config.module !== 'string') {
        out(`warn   ${where}: a TS transform without module; it must be registered with registerTransform() (embedding API only)`)
        continue
      }
      try {
        registry.resolve(t.name, t.config, t.baseDir)
      } catch (error) {
        out(`error  ${where}: module ${t.config.module}: ${(error as Error).message.split('\n')[0]}`)
        problems++
      }
    }
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error
    for (const issue of error.issues) out(`error  ${formatIssue(issue)}`)
    problems += error.issues.length
  }
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
      } catch (error) {
        // A name registered from code (registerSource) only exists in an embedding process.
        out(`warn   ${label}: module: ${(error as Error).message} (fine if it is registered from code)`)
      }
      continue
    }
    try {
      const info = native().inspectPlugin(stored.kind, c.path, stored.configDir ?? null)
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
      out(`ok     ${label}: ${info.resolvedPath} (plugin ${info.version}${info.batchResultAbi ? ', batch-result ABI' : ''}; ${info.symbols.length} symbols)`)
    } catch (error) {
      out(`error  ${label}: path: ${(error as Error).message}`)
      problems++
    }
  }
  out(problems === 0 ? `valid: ${connectors.filter((s) => s.config.enabled).length} enabled connector(s)` : `validation failed: ${problems} problem(s)`)
  return problems === 0 ? EXIT.OK : EXIT.FAILURE
}

async function runRuntime(configPath: string | undefined, embeddedBroker: boolean, env: Env, io: Io): Promise<number> {
  // Read the runtime config once up front for the log format/level; the runtime reads it again.
  let logSink: LogSink
  let iggyAddress: string
  try {
    const { config } = loadRuntimeConfig({ ...(configPath === undefined ? {} : { cliPath: configPath }), env })
    const level = config.logging.level ?? (/^(trace|debug|info|warn|error)$/i.test(env.RUST_LOG ?? '') ? env.RUST_LOG : undefined)
    logSink = createLogWriter({ format: config.logging.format, ...(level === undefined ? {} : { level }), stream: io.stdout })
    iggyAddress = config.iggy.address
  } catch (error) {
    if (error instanceof ConfigError) {
      reportConfigError(error, io)
      return EXIT.USAGE
    }
    throw error
  }
  const logger = new Logger(logSink, 'iggy_connectors')
  logger.info(`iggy-connectors ${VERSION} starting`)
  let broker: NativeTestBroker | undefined
  if (embeddedBroker) {
    try {
      broker = await startBroker(iggyAddress, logger)
    } catch (error) {
      logger.error(`cannot start the embedded broker at ${iggyAddress}: ${(error as Error).message}`)
      return EXIT.FAILURE
    }
  }
  const runtime = new ConnectorsRuntime({ ...(configPath === undefined ? {} : { configPath }), env, logSink })
  const release = keepAlive()
  const stopped = waitForSignal(logger, () => process.exit(EXIT.FORCED))
  try {
    await runtime.start()
  } catch (error) {
    release()
    await broker?.stop().catch(() => undefined)
    if (error instanceof ConfigError) {
      reportConfigError(error, io)
      return EXIT.USAGE
    }
    logger.error(`runtime failed to start: ${(error as Error).message}`)
    return EXIT.FAILURE
  }
  await stopped
  let code: number = EXIT.OK
  try {
    await runtime.stop()
  } catch (error) {
    logger.error(`graceful stop failed: ${(error as Error).message}`)
    code = EXIT.FAILURE
  }
  await broker?.stop().catch((error: unknown) => logger.warn(`broker stop: ${String(error)}`))
  release()
  return code
}

function runInit(dir: string, force: boolean, io: Io): number {
  let result
  try {
    result = initProject(dir, { force })
  } catch (error) {
    // A conflict is a usage error; anything else is the file system refusing (the message names the path).
    io.stderr.write(`iggy-connectors init: ${(error as Error).message}\n`)
    return error instanceof InitConflictError ? EXIT.USAGE : EXIT.FAILURE
  }
  for (const file of result.files) io.stdout.write(`wrote ${file}\n`)
  io.stdout.write(`\nStart the quick start (random source → embedded broker → stdout sink):\n  ${result.command}\n`)
  return EXIT.OK
}

/** Lists the bundled plugins with the bare name a connector file uses, kind and version. */
function runPlugins(io: Io): number {
  const binding = native()
  const plugins = listBundledPlugins(bundledPluginDirs())
  if (plugins.length === 0) {
    io.stderr.write('iggy-connectors: no bundled plugins found (install the platform package, or run `npm run build:plugins` in a clone)\n')
    return EXIT.FAILURE
  }
  let errors = 0
  for (const plugin of plugins) {
    let info
    try {
      info = binding.inspectPlugin('source', plugin.file, null)
    } catch {
      try {
        info = binding.inspectPlugin('sink', plugin.file, null)
      } catch (error) {
        io.stdout.write(`${plugin.name.padEnd(20)} error   ${(error as Error).message}\n`)
        errors++
        continue
      }
    }
    io.stdout.write(`${plugin.name.padEnd(20)} ${info.kind.padEnd(7)} ${info.version.padEnd(8)} ${info.resolvedPath}\n`)
  }
  return errors === 0 ? EXIT.OK : EXIT.FAILURE
}

/** Runs the CLI with `argv` (without node and script); resolves to the exit code. */
export async function main(argv: readonly string[], io: Io = { stdout: process.stdout, stderr: process.stderr }): Promise<number> {
  let values
  let positionals: string[]
  try {
    ;({ values, positionals } = parseArgs({
      args: [...argv],
      options: {
        help: { type: 'boolean', short: 'h' },
        version: { type: 'boolean', short: 'V' },
        config: { type: 'string', short: 'c' },
        'embedded-broker': { type: 'boolean' },
        address: { type: 'string' },
        force: { type: 'boolean' },
      },
      allowPositionals: true,
      strict: true,
    }))
  } catch (error) {
    io.stderr.write(`iggy-connectors: ${(error as Error).message}\n\n${HELP}`)
    return EXIT.USAGE
  }
  if (values.help) {
    io.stdout.write(HELP)
    return EXIT.OK
  }
  if (values.version) {
    io.stdout.write(`iggy-connectors ${VERSION} (engine ${native().engineVersion()})\n`)
    return EXIT.OK
  }
  const command = positionals[0] ?? 'run'
  const maxPositionals = command === 'init' ? 2 : 1
  if (positionals.length > maxPositionals || !['run', 'validate', 'broker', 'init', 'plugins'].includes(command)) {
    io.stderr.write(`iggy-connectors: unexpected argument "${positionals.join(' ')}"\n\n${HELP}`)
    return EXIT.USAGE
  }
  if (command === 'init') return runInit(positionals[1] ?? '.', values.force ?? false, io)
  if (command === 'plugins') return runPlugins(io)
  const env = process.env
  const dotenv = loadEnvFile(env)
  if (dotenv.error !== undefined) io.stderr.write(`iggy-connectors: cannot load ${dotenv.file}: ${dotenv.error}\n`)
  if (command === 'broker') return runBroker(values.address ?? '127.0.0.1:8090', io)
  if (command === 'validate') return runValidate(values.config, env, io)
  return runRuntime(values.config, values['embedded-broker'] ?? false, env, io)
}

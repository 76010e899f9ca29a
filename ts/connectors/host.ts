// The host of connectors written in TypeScript: connectors registered from code and modules
// named in connector files, and the dispatcher of the engine's calls (one runner per started
// instance, on the main thread or in an isolation worker).
import type { JsConnectorCall, JsConnectorReply } from '../native'
import { loadConnectorModule } from './load'
import { ConnectorRunner, type LogFn } from './runner'
import type { SinkConnector, SinkFactory, SourceConnector, SourceFactory } from './types'
import { WorkerRunner } from './worker'

type Kind = 'source' | 'sink'

/** How a connector file names its module. */
export interface ModuleBinding {
  readonly module: string
  /** The connector file's directory: relative modules resolve against it. */
  readonly baseDir: string
  readonly isolation: 'none' | 'worker'
}

interface Runner {
  handle(call: JsConnectorCall): Promise<JsConnectorReply>
}

/** A connector object or a factory of them (one instance per start). */
export type SourceImpl = SourceConnector | SourceFactory
export type SinkImpl = SinkConnector | SinkFactory

function factoryOf<T extends object>(impl: T | (() => T)): () => T {
  return typeof impl === 'function' ? (impl as () => T) : () => impl
}

export class ConnectorHost {
  readonly #registered = new Map<string, SourceFactory | SinkFactory>()
  readonly #bindings = new Map<string, ModuleBinding>()
  readonly #runners = new Map<number, Runner>()
  readonly #log: (key: string, ...args: Parameters<LogFn>) => void
  readonly #onCrash: (kind: Kind, key: string, error: Error) => void

  constructor(log: (key: string, ...args: Parameters<LogFn>) => void, onCrash: (kind: Kind, key: string, error: Error) => void) {
    this.#log = log
    this.#onCrash = onCrash
  }

  static #id(kind: Kind, name: string): string {
    return `${kind}\u0000${name}`
  }

  registerSource(name: string, impl: SourceImpl): void {
    this.#registered.set(ConnectorHost.#id('source', name), factoryOf(impl))
  }

  registerSink(name: string, impl: SinkImpl): void {
    this.#registered.set(ConnectorHost.#id('sink', name), factoryOf(impl))
  }

  isRegistered(kind: Kind, name: string): boolean {
    return this.#registered.has(ConnectorHost.#id(kind, name))
  }

  /** Binds connector `key` to the module its file names (replacing an earlier binding). */
  bind(kind: Kind, key: string, binding: ModuleBinding): void {
    if (binding.isolation === 'worker' && this.isRegistered(kind, binding.module)) {
      throw new Error(`isolation = "worker" needs a module file: "${binding.module}" is registered from code, and code cannot move into a worker`)
    }
    this.#bindings.set(ConnectorHost.#id(kind, key), binding)
  }

  unbind(kind: Kind, key: string): void {
    this.#bindings.delete(ConnectorHost.#id(kind, key))
  }

  async #open(call: JsConnectorCall): Promise<Runner> {
    const kind: Kind = call.kind === 'sink' ? 'sink' : 'source'
    const key = call.key
    const binding = this.#bindings.get(ConnectorHost.#id(kind, key))
    const module = binding?.module ?? call.module ?? key
    const log: LogFn = (level, message) => this.#log(key, level, message)
    if (binding?.isolation === 'worker') {
      return new WorkerRunner({ kind, key, module, baseDir: binding.baseDir }, log, (error) => this.#onCrash(kind, key, error))
    }
    const factory = this.#registered.get(ConnectorHost.#id(kind, module)) ?? (await loadConnectorModule(kind, module, binding?.baseDir ?? process.cwd()))
    return new ConnectorRunner(kind, key, factory, log)
  }

  /** The engine's onConnectorCall handler. */
  async dispatch(call: JsConnectorCall): Promise<JsConnectorReply> {
    if (call.op === 'open') {
      const runner = await this.#open(call)
      this.#runners.set(call.instance, runner)
      try {
        return await runner.handle(call)
      } catch (error) {
        this.#runners.delete(call.instance)
        await runner.handle({ ...call, op: 'close' }).catch(() => undefined)
        throw error
      }
    }
    const runner = this.#runners.get(call.instance)
    if (runner === undefined) {
      if (call.op === 'close') return {}
      throw new Error(`${call.kind} "${call.key}" instance ${call.instance} is not open`)
    }
    if (call.op === 'close') {
      this.#runners.delete(call.instance)
    }
    return runner.handle(call)
  }
}

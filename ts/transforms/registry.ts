// TS transforms: the interface, the registry, module loading and batch dispatch.
import { isAbsolute, resolve } from 'node:path'

import type { JsBatch, JsMessage } from '../native'

/** What a TS transform knows about the batch it is given. */
export interface TransformContext {
  readonly connectorKey: string
  readonly kind: 'source' | 'sink'
  readonly stream: string
  readonly topic: string
  /** The transform name, i.e. the `<name>` of `[transforms.<name>]`. */
  readonly name: string
  /** That table from the connector file (`enabled` and `module` included). */
  readonly config: Readonly<Record<string, unknown>>
}

/**
 * A custom transform written in TypeScript/JavaScript. It receives whole batches and returns the
 * messages to keep: drop a message by omitting it, change one by returning a modified copy
 * (`payload` is a Buffer; for schema `json` it holds JSON text).
 */
export interface Transform {
  transform(messages: JsMessage[], context: TransformContext): JsMessage[] | Promise<JsMessage[]>
}

/** A transform given as a plain function. */
export type TransformFunction = Transform['transform']

/** What a transform module may export (`module = "./x.js"` in the table). */
export interface TransformModule {
  /** Called once per connector with its table; returns the transform. */
  createTransform?: (config: Readonly<Record<string, unknown>>) => Transform | TransformFunction
  transform?: TransformFunction
  default?: Transform | TransformFunction | ((config: Readonly<Record<string, unknown>>) => Transform | TransformFunction)
}

export function toTransform(value: Transform | TransformFunction): Transform {
  return typeof value === 'function' ? { transform: value } : value
}

/** Loads a transform module, resolved against `baseDir` when relative. */
export function loadTransformModule(modulePath: string, baseDir: string, config: Readonly<Record<string, unknown>>): Transform {
  const full = isAbsolute(modulePath) ? modulePath : resolve(baseDir, modulePath)
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const mod = require(full) as TransformModule | TransformFunction
  if (typeof mod === 'function') return toTransform(mod)
  if (typeof mod.createTransform === 'function') return toTransform(mod.createTransform(config))
  if (typeof mod.transform === 'function') return { transform: mod.transform }
  if (mod.default !== undefined) {
    const d = mod.default
    if (typeof d === 'object') return d
    return toTransform(d as TransformFunction)
  }
  throw new Error(`transform module ${full} exports neither createTransform, transform nor default`)
}

interface Bound {
  readonly transform: Transform
  readonly config: Readonly<Record<string, unknown>>
}

/** Registered transforms by name, and the instances bound to connectors. */
export class TransformRegistry {
  readonly #named = new Map<string, Transform>()
  readonly #bound = new Map<string, Bound>()

  register(name: string, transform: Transform | TransformFunction): void {
    this.#named.set(name, toTransform(transform))
  }

  has(name: string): boolean {
    return this.#named.has(name)
  }

  names(): string[] {
    return [...this.#named.keys()]
  }

  static #id(kind: string, key: string, name: string): string {
    return `${kind}\u0000${key}\u0000${name}`
  }

  /** Resolves a transform for one connector: a module from its table, else the registered one. */
  resolve(name: string, config: Readonly<Record<string, unknown>>, baseDir: string): Transform {
    const module = config.module
    const transform = typeof module === 'string' ? loadTransformModule(module, baseDir, config) : this.#named.get(name)
    if (transform === undefined) throw new Error(`no TS transform registered as "${name}"`)
    return transform
  }

  /** Replaces the transforms bound to one connector with already resolved ones. */
  bindConnector(kind: 'source' | 'sink', key: string, entries: ReadonlyArray<{ name: string; transform: Transform; config: Readonly<Record<string, unknown>> }>): void {
    const prefix = `${kind}\u0000${key}\u0000`
    for (const id of this.#bound.keys()) if (id.startsWith(prefix)) this.#bound.delete(id)
    for (const e of entries) this.#bound.set(TransformRegistry.#id(kind, key, e.name), { transform: e.transform, config: e.config })
  }

  /** The native onTransform handler: runs the bound transform over the batch. */
  async dispatch(batch: JsBatch): Promise<JsMessage[]> {
    const kind = batch.kind === 'sink' ? 'sink' : 'source'
    const bound = this.#bound.get(TransformRegistry.#id(kind, batch.connectorKey, batch.transform))
    if (bound === undefined) throw new Error(`no TS transform "${batch.transform}" bound to ${kind} "${batch.connectorKey}"`)
    const result = await bound.transform.transform(batch.messages, {
      connectorKey: batch.connectorKey,
      kind,
      stream: batch.stream,
      topic: batch.topic,
      name: batch.transform,
      config: bound.config,
    })
    if (!Array.isArray(result)) throw new Error(`TS transform "${batch.transform}" returned ${typeof result}, expected an array of messages`)
    return result
  }
}

// TS transforms: the interface, the registry, module loading and batch dispatch.
import { isAbsolute, resolve } from 'node:path'

import { Batch, type BatchResult, BatchResultBuilder, resultColumns } from '../batch'
import type { BatchColumns, BatchResultColumns, JsMessage } from '../native'

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
 * A custom transform written in TypeScript/JavaScript, in one of two forms:
 * - `transformBatch(batch, context)` gets the whole batch as a lazy {@link Batch} view (one
 *   payload buffer, messages read on demand) and returns `batch.result()` filled with the
 *   messages to keep (`keep(i)`, `set(i, bytes)`, `setJson(i, value)`, `add(...)` for sources),
 *   or the batch itself to keep everything. The fast form.
 * - `transform(messages, context)` gets one object per message and returns the messages to keep:
 *   drop a message by omitting it, change one by returning a modified copy (`payload` is a
 *   Buffer; for schema `json` it holds JSON text). Convenient, slower (an object per message).
 */
export type Transform = MessageTransform | BatchTransform

/** The per-message form of {@link Transform}. */
export interface MessageTransform {
  transform(messages: JsMessage[], context: TransformContext): JsMessage[] | Promise<JsMessage[]>
}

/** The batch form of {@link Transform}. */
export interface BatchTransform {
  transformBatch(batch: Batch, context: TransformContext): BatchResult | Promise<BatchResult>
}

/** A transform given as a plain function (the per-message form). */
export type TransformFunction = MessageTransform['transform']

/** A batch transform given as a plain function. */
export type BatchTransformFunction = BatchTransform['transformBatch']

/** What a transform module may export (`module = "./x.js"` in the table). */
export interface TransformModule {
  /** Called once per connector with its table; returns the transform. */
  createTransform?: (config: Readonly<Record<string, unknown>>) => Transform | TransformFunction
  transform?: TransformFunction
  transformBatch?: BatchTransformFunction
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
  if (typeof mod.transformBatch === 'function') return { transformBatch: mod.transformBatch }
  if (typeof mod.transform === 'function') return { transform: mod.transform }
  if (mod.default !== undefined) {
    const d = mod.default
    if (typeof d === 'object') return d
    return toTransform(d as TransformFunction)
  }
  throw new Error(`transform module ${full} exports neither createTransform, transformBatch, transform nor default`)
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

  /** The native onTransformBatch handler: runs the bound transform over the batch. */
  async dispatch(columns: BatchColumns): Promise<BatchResultColumns> {
    const batch = new Batch(columns)
    const bound = this.#bound.get(TransformRegistry.#id(batch.kind, batch.connectorKey, batch.transform))
    if (bound === undefined) throw new Error(`no TS transform "${batch.transform}" bound to ${batch.kind} "${batch.connectorKey}"`)
    const context: TransformContext = {
      connectorKey: batch.connectorKey,
      kind: batch.kind,
      stream: batch.stream,
      topic: batch.topic,
      name: batch.transform,
      config: bound.config,
    }
    const t = bound.transform
    if ('transformBatch' in t) {
      const result = await t.transformBatch(batch, context)
      if (!(result instanceof BatchResultBuilder || result instanceof Batch)) {
        throw new Error(`TS transform "${batch.transform}" returned ${describe(result)}, expected batch.result() (a BatchResultBuilder) or the batch`)
      }
      return resultColumns(result)
    }
    const result = await t.transform(toMessages(batch), context)
    if (!Array.isArray(result)) throw new Error(`TS transform "${batch.transform}" returned ${describe(result)}, expected an array of messages`)
    return fromMessages(batch, result).build()
  }
}

function describe(value: unknown): string {
  return value === null ? 'null' : typeof value === 'object' ? `an object (${value.constructor?.name ?? 'no class'})` : typeof value
}

/** The per-message objects of the convenience form (payloads are zero-copy views). */
function toMessages(batch: Batch): JsMessage[] {
  return Array.from({ length: batch.length }, (_, i): JsMessage => {
    const headers = batch.headers(i)
    return {
      id: batch.id(i).toString(),
      offset: batch.offset(i),
      timestamp: batch.timestamp(i),
      headers: headers === undefined ? undefined : { ...headers },
      payload: batch.payload(i),
    }
  })
}

/**
 * The result of the convenience form. Payloads are always copied back (a transform may have
 * edited a view in place). Sinks: messages are matched to the batch by offset (unknown offsets
 * are ignored: a sink cannot add messages); sources: every returned message is new, with its
 * own id, timestamp and headers.
 */
function fromMessages(batch: Batch, kept: JsMessage[]): BatchResultBuilder {
  const out = batch.result()
  const payloadOf = (m: JsMessage, j: number): Uint8Array | string => {
    const p: unknown = m?.payload
    if (p instanceof Uint8Array || typeof p === 'string') return p
    throw new TypeError(`TS transform "${batch.transform}": returned message #${j} has no Buffer payload`)
  }
  if (batch.kind === 'sink') {
    const byOffset = new Map<number, number>()
    for (let i = 0; i < batch.length; i++) byOffset.set(batch.offset(i)!, i)
    kept.forEach((m, j) => {
      const index = m?.offset === undefined ? undefined : byOffset.get(m.offset)
      if (index !== undefined) out.set(index, payloadOf(m, j))
    })
    return out
  }
  kept.forEach((m, j) => {
    let id: bigint
    try {
      id = m.id === '' || m.id === undefined ? 0n : BigInt(m.id)
    } catch {
      throw new Error(`TS transform "${batch.transform}": message id '${m.id}' is not a decimal u128`)
    }
    out.add(payloadOf(m, j), { id, timestamp: m.timestamp ?? undefined, headers: m.headers ?? {} })
  })
  return out
}

// One running connector instance: turns the engine's calls (open, poll, ack, nack, consume,
// close) into calls on the user's SourceConnector / SinkConnector. Runs on the main thread or
// inside an isolation worker (worker-entry.ts), so it only deals in cloneable values.
import type { JsConnectorCall, JsConnectorReply } from '../native'
import { stateBytes, stateValue, toSinkBatch, toSourceColumns } from './messages'
import type { ConnectorContext, SinkConnector, SinkFactory, SourceConnector, SourceFactory } from './types'

export type LogFn = ConnectorContext['log']

/** Structured clone turns a Buffer into a plain Uint8Array; the connector API promises Buffers. */
function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
}

function parseConfig(json: string | undefined | null, key: string): unknown {
  try {
    return JSON.parse(json ?? 'null') as unknown
  } catch (error) {
    throw new Error(`connector "${key}": plugin_config is not valid JSON: ${(error as Error).message}`, { cause: error })
  }
}

export class ConnectorRunner {
  readonly #kind: 'source' | 'sink'
  readonly #key: string
  readonly #source: SourceConnector | undefined
  readonly #sink: SinkConnector | undefined
  readonly #log: LogFn

  constructor(kind: 'source' | 'sink', key: string, factory: SourceFactory | SinkFactory, log: LogFn) {
    this.#kind = kind
    this.#key = key
    this.#log = log
    const made = factory() as SourceConnector | SinkConnector
    if (typeof made !== 'object' || made === null) throw new Error(`the ${kind} factory of "${key}" returned ${typeof made}, expected a ${kind} object`)
    if (kind === 'source') {
      if (typeof (made as SourceConnector).poll !== 'function') throw new Error(`source "${key}" has no poll() method`)
      this.#source = made as SourceConnector
    } else {
      if (typeof (made as SinkConnector).consume !== 'function') throw new Error(`sink "${key}" has no consume() method`)
      this.#sink = made as SinkConnector
    }
  }

  async handle(call: JsConnectorCall): Promise<JsConnectorReply> {
    const context: ConnectorContext = { key: this.#key, kind: this.#kind, log: this.#log }
    const source = this.#source
    const sink = this.#sink
    switch (call.op) {
      case 'open': {
        const config = parseConfig(call.configJson, this.#key)
        if (source !== undefined) {
          const state = stateValue(call.state === undefined || call.state === null ? undefined : asBuffer(call.state), this.#key)
          await source.open?.(config, state, context)
        } else await sink?.open?.(config, context)
        return {}
      }
      case 'poll': {
        if (source === undefined) throw new Error(`"${this.#key}" is not a source`)
        const result = await source.poll()
        if (typeof result !== 'object' || result === null) throw new Error(`poll() of "${this.#key}" must resolve with { messages, state? }`)
        const reply: JsConnectorReply = { columns: toSourceColumns(result.messages) }
        const state = stateBytes(result.state)
        if (state !== undefined) reply.state = state
        return reply
      }
      case 'ack':
        await source?.ack?.()
        return {}
      case 'nack':
        await source?.nack?.()
        return {}
      case 'consume': {
        if (sink === undefined) throw new Error(`"${this.#key}" is not a sink`)
        if (call.batch === undefined || call.batch === null) throw new Error(`consume call for "${this.#key}" without a batch`)
        const result = await sink.consume(toSinkBatch(call.stream ?? '', call.topic ?? '', call.partition ?? 0, call.batch))
        const rejected = result === undefined || result === null ? [] : (result.rejected ?? [])
        if (!Array.isArray(rejected)) throw new Error(`consume() of "${this.#key}" resolved with rejected = ${typeof rejected}, expected an array`)
        return rejected.length === 0 ? {} : { rejections: rejected.map((r) => ({ offset: Number(r.offset), reason: String(r.reason) })) }
      }
      case 'close':
        await (source ?? sink)?.close?.()
        return {}
      default:
        throw new Error(`unknown connector call "${call.op}"`)
    }
  }
}

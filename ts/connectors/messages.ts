// The TypeScript side of the message crossing for connectors: a sink's batch arrives in
// columns (the `Batch` view of ts/batch.ts, shared with TS transforms); a source's messages go
// back as JsMessage objects. The one place that converts connector messages.
import { Batch } from '../batch'
import type { BatchColumns, JsMessage } from '../native'
import type { SinkBatch, SourceMessage } from './types'

const UUID = /^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$/i
const U128_MAX = (1n << 128n) - 1n

/** A message id as the binding takes it: decimal u128 text ('' = none). */
export function idText(id: SourceMessage['id'], index: number): string {
  if (id === undefined) return ''
  let value: bigint
  if (typeof id === 'bigint') value = id
  else if (UUID.test(id)) value = BigInt(`0x${id.replaceAll('-', '')}`)
  else if (/^\d+$/.test(id)) value = BigInt(id)
  else throw new Error(`message #${index}: id ${JSON.stringify(id)} is neither a decimal u128, a bigint nor a UUID`)
  if (value < 0n || value > U128_MAX) throw new Error(`message #${index}: id ${String(id)} is outside the u128 range`)
  return value.toString()
}

function payloadBuffer(payload: SourceMessage['payload'], index: number): Buffer {
  if (Buffer.isBuffer(payload)) return payload
  if (payload instanceof Uint8Array) return Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength)
  if (typeof payload === 'string') return Buffer.from(payload, 'utf8')
  if (typeof payload === 'object' && payload !== null) return Buffer.from(JSON.stringify(payload), 'utf8')
  throw new Error(`message #${index}: payload must be a Buffer, a Uint8Array, a string or an object, got ${typeof payload}`)
}

export function toJsMessages(messages: readonly SourceMessage[]): JsMessage[] {
  if (!Array.isArray(messages)) throw new Error(`poll() must resolve with { messages: [...] }, got messages = ${typeof messages}`)
  return messages.map((m, index) => {
    const out: JsMessage = { id: idText(m.id, index), payload: payloadBuffer(m.payload, index) }
    if (m.headers !== undefined) out.headers = m.headers
    if (m.timestamp !== undefined) out.timestamp = m.timestamp
    return out
  })
}

/** A sink's batch from the binding's columns (a Buffer again when it crossed a worker boundary). */
export function toSinkBatch(stream: string, topic: string, partition: number, columns: BatchColumns): SinkBatch {
  // Structured clone (a worker) turns the Buffer into a plain Uint8Array.
  const raw: Uint8Array = columns.payloads
  const payloads = Buffer.isBuffer(raw) ? raw : Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength)
  return { stream, topic, partition, messages: new Batch({ ...columns, payloads }) }
}

/** A source state as saved bytes (JSON text); `undefined` = no new state. */
export function stateBytes(state: unknown): Buffer | undefined {
  return state === undefined ? undefined : Buffer.from(JSON.stringify(state), 'utf8')
}

/** The saved state bytes back as the value the source saved; names the problem when they are not JSON. */
export function stateValue(bytes: Buffer | undefined | null, key: string): unknown {
  if (bytes === undefined || bytes === null || bytes.length === 0) return undefined
  try {
    return JSON.parse(bytes.toString('utf8')) as unknown
  } catch (error) {
    throw new Error(`source "${key}": the saved state is not JSON (${(error as Error).message}); was it written by a native plugin?`, { cause: error })
  }
}

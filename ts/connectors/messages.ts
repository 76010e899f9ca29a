// The TypeScript side of the message crossing for connectors, in columns both ways: a sink's
// batch arrives as the `Batch` view of ts/batch.ts (shared with TS transforms); a source's
// messages go back written by `BatchResultBuilder` (one payload buffer, typed arrays), so no
// object per message crosses into the engine. The one place that converts connector messages.
import { Batch, BatchResultBuilder, type MessageMeta } from '../batch'
import type { BatchColumns, BatchResultColumns } from '../native'
import type { SinkBatch, SourceMessage } from './types'

const UUID = /^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$/i
const U128_MAX = (1n << 128n) - 1n

/** A message id as a u128 (`undefined` = none: Iggy assigns one). */
export function idValue(id: SourceMessage['id'], index: number): bigint | undefined {
  if (id === undefined) return undefined
  let value: bigint
  if (typeof id === 'bigint') value = id
  else if (UUID.test(id)) value = BigInt(`0x${id.replaceAll('-', '')}`)
  else if (/^\d+$/.test(id)) value = BigInt(id)
  else throw new Error(`message #${index}: id ${JSON.stringify(id)} is neither a decimal u128, a bigint nor a UUID`)
  if (value < 0n || value > U128_MAX) throw new Error(`message #${index}: id ${String(id)} is outside the u128 range`)
  return value === 0n ? undefined : value
}

/** The payload as the builder writes it: bytes as they are, a string as UTF-8, anything else as JSON text. */
function payloadOf(payload: SourceMessage['payload'], index: number): Uint8Array | string {
  if (payload instanceof Uint8Array || typeof payload === 'string') return payload
  if (typeof payload === 'object' && payload !== null) return JSON.stringify(payload)
  throw new Error(`message #${index}: payload must be a Buffer, a Uint8Array, a string or an object, got ${typeof payload}`)
}

/** A source's poll result in the columns the engine reads (new messages only). */
export function toSourceColumns(messages: readonly SourceMessage[]): BatchResultColumns {
  if (!Array.isArray(messages)) throw new Error(`poll() must resolve with { messages: [...] }, got messages = ${typeof messages}`)
  const out = new BatchResultBuilder(messages.length)
  messages.forEach((m, index) => {
    let meta: MessageMeta | undefined
    const id = idValue(m.id, index)
    if (id !== undefined) meta = { id }
    // A timestamp of 0 or less means none, as before the columns.
    if (m.timestamp !== undefined && m.timestamp > 0) meta = { ...meta, timestamp: m.timestamp }
    if (m.headers !== undefined) meta = { ...meta, headers: m.headers }
    out.add(payloadOf(m.payload, index), meta)
  })
  return out.build()
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

// The batch a TS transform sees: a view over the columns the native engine hands over (one
// payload Buffer + typed arrays, see crates/binding/src/js_batch.rs), and the builder of what
// the transform hands back in the same shape. Nothing is created per message unless asked for.
import type { BatchColumns, BatchResultColumns } from './native'

export type { BatchColumns, BatchResultColumns } from './native'

/** What a returned message may override of the message it continues (or set, for a new one). */
export interface MessageMeta {
  /** The u128 message id; 0n = inherit (a new message: Iggy assigns one). */
  id?: bigint
  /** Microseconds since the epoch. */
  timestamp?: number
  /** String headers; `{}` = none. */
  headers?: Readonly<Record<string, string>>
}

/** One message of a {@link Batch}: a window on the batch's columns, read on demand. */
export class BatchMessage {
  constructor(
    readonly batch: Batch,
    readonly index: number,
  ) {}

  /** The u128 message id. */
  get id(): bigint {
    return this.batch.id(this.index)
  }

  /** The Iggy offset (sinks only). */
  get offset(): number | undefined {
    return this.batch.offset(this.index)
  }

  /** Microseconds since the epoch. */
  get timestamp(): number | undefined {
    return this.batch.timestamp(this.index)
  }

  /** String-kind headers, if the message has any. */
  get headers(): Readonly<Record<string, string>> | undefined {
    return this.batch.headers(this.index)
  }

  /** The payload bytes: a zero-copy window on the batch's buffer (do not write to it). */
  get payload(): Buffer {
    return this.batch.payload(this.index)
  }

  /** The payload as UTF-8 text. */
  text(): string {
    return this.batch.text(this.index)
  }

  /** The payload parsed as JSON (on first use; see {@link Batch.json}). */
  json(): unknown {
    return this.batch.json(this.index)
  }
}

/**
 * A batch handed to a TS transform. Messages are read lazily from the native columns:
 * `batch.get(i).json()` parses message `i` only, `batch.jsonAll()` parses the whole batch with
 * one `JSON.parse` (schema json: the engine lays the payloads out as a JSON array).
 */
export class Batch implements Iterable<BatchMessage> {
  readonly connectorKey: string
  readonly kind: 'source' | 'sink'
  /** The transform name (`[transforms.<name>]`). */
  readonly transform: string
  readonly stream: string
  readonly topic: string
  readonly length: number
  readonly #c: BatchColumns
  #values: unknown[] | undefined

  constructor(columns: BatchColumns) {
    this.#c = columns
    this.connectorKey = columns.connectorKey
    this.kind = columns.kind === 'sink' ? 'sink' : 'source'
    this.transform = columns.transform
    this.stream = columns.stream
    this.topic = columns.topic
    this.length = columns.count
  }

  /** The raw columns (to hand the batch on unchanged, e.g. to a worker). */
  get columns(): BatchColumns {
    return this.#c
  }

  /** Whether one `JSON.parse` of the payload buffer yields every message (schema json). */
  get isJson(): boolean {
    return this.#c.jsonArray
  }

  get(index: number): BatchMessage {
    if (!Number.isInteger(index) || index < 0 || index >= this.length) throw new RangeError(`message index ${index} is outside the batch of ${this.length}`)
    return new BatchMessage(this, index)
  }

  *[Symbol.iterator](): Iterator<BatchMessage> {
    for (let i = 0; i < this.length; i++) yield new BatchMessage(this, i)
  }

  id(index: number): bigint {
    const ids = this.#c.ids
    return (ids[2 * index + 1]! << 64n) | ids[2 * index]!
  }

  offset(index: number): number | undefined {
    return this.#c.offsets?.[index]
  }

  timestamp(index: number): number | undefined {
    const t = this.#c.timestamps[index]
    return t === undefined || Number.isNaN(t) ? undefined : t
  }

  headers(index: number): Readonly<Record<string, string>> | undefined {
    return this.#c.headers?.[index] ?? undefined
  }

  /** Message `index`'s payload: a zero-copy `subarray` of the batch buffer. */
  payload(index: number): Buffer {
    const start = this.#c.starts[index]!
    return this.#c.payloads.subarray(start, start + this.#c.lengths[index]!)
  }

  text(index: number): string {
    const start = this.#c.starts[index]!
    return this.#c.payloads.toString('utf8', start, start + this.#c.lengths[index]!)
  }

  /**
   * Message `index` parsed as JSON. After {@link jsonAll} this is the value it parsed (the same
   * object: edits show), otherwise a fresh parse of that message alone.
   */
  json(index: number): unknown {
    return this.#values !== undefined ? this.#values[index] : JSON.parse(this.text(index))
  }

  /** Every message parsed as JSON, with one `JSON.parse` when the batch is a JSON array. */
  jsonAll(): unknown[] {
    if (this.#values === undefined) {
      if (this.#c.jsonArray) {
        this.#values = JSON.parse(this.#c.payloads.toString('utf8')) as unknown[]
      } else {
        this.#values = Array.from({ length: this.length }, (_, i) => JSON.parse(this.text(i)) as unknown)
      }
    }
    return this.#values
  }

  /** A result builder sized for this batch. */
  result(): BatchResultBuilder {
    return new BatchResultBuilder(this.length, this.#c.payloads.length)
  }
}

const INITIAL_BYTES = 16 * 1024

/**
 * The messages a transform keeps, in order: `keep(i)` (unchanged: no bytes copied),
 * `set(i, payload)` / `setJson(i, value)` (changed), `add(payload, meta)` (a new message; sources
 * only). Omitted messages are dropped. New payloads go into one growing buffer.
 */
export class BatchResultBuilder {
  #from: Int32Array
  #lengths: Int32Array
  #count = 0
  #buffer: Buffer
  #used = 0
  #ids: BigUint64Array | undefined
  #timestamps: Float64Array | undefined
  #headers: Array<Record<string, string> | null> | undefined

  constructor(expectedMessages = 64, expectedBytes = INITIAL_BYTES) {
    const n = Math.max(1, expectedMessages)
    this.#from = new Int32Array(n)
    this.#lengths = new Int32Array(n)
    this.#buffer = Buffer.allocUnsafe(Math.max(INITIAL_BYTES, expectedBytes))
  }

  get length(): number {
    return this.#count
  }

  /** Keeps input message `index` as it is. */
  keep(index: number, meta?: MessageMeta): this {
    return this.#push(index, -1, meta)
  }

  /** Input message `index` with a new payload (a string is written as UTF-8). */
  set(index: number, payload: Uint8Array | string, meta?: MessageMeta): this {
    return this.#push(index, this.#write(payload), meta)
  }

  /** Input message `index` with `JSON.stringify(value)` as its payload. */
  setJson(index: number, value: unknown, meta?: MessageMeta): this {
    return this.set(index, JSON.stringify(value), meta)
  }

  /** A new message (sources only: a sink cannot add messages, the engine ignores them there). */
  add(payload: Uint8Array | string, meta?: MessageMeta): this {
    return this.#push(-1, this.#write(payload), meta)
  }

  /** The columns the native engine reads. The builder must not be used afterwards. */
  build(): BatchResultColumns {
    const n = this.#count
    return {
      payloads: this.#buffer.subarray(0, this.#used),
      from: this.#from.subarray(0, n),
      lengths: this.#lengths.subarray(0, n),
      ids: this.#ids?.subarray(0, 2 * n),
      timestamps: this.#timestamps?.subarray(0, n),
      headers: this.#headers === undefined ? undefined : Array.from({ length: n }, (_, j) => this.#headers?.[j] ?? null),
    }
  }

  #push(from: number, length: number, meta: MessageMeta | undefined): this {
    if (from !== -1 && !(Number.isInteger(from) && from >= 0)) throw new RangeError(`message index ${from} is not an index of the batch`)
    const j = this.#count
    if (j === this.#from.length) this.#grow()
    this.#from[j] = from
    this.#lengths[j] = length
    this.#count = j + 1
    if (meta !== undefined) this.#meta(j, meta)
    return this
  }

  #grow(): void {
    const size = this.#from.length * 2
    const from = new Int32Array(size)
    from.set(this.#from)
    this.#from = from
    const lengths = new Int32Array(size)
    lengths.set(this.#lengths)
    this.#lengths = lengths
    if (this.#ids !== undefined) {
      const ids = new BigUint64Array(2 * size)
      ids.set(this.#ids)
      this.#ids = ids
    }
    if (this.#timestamps !== undefined) {
      const timestamps = new Float64Array(size).fill(Number.NaN)
      timestamps.set(this.#timestamps)
      this.#timestamps = timestamps
    }
  }

  #meta(j: number, meta: MessageMeta): void {
    const size = this.#from.length
    if (meta.id !== undefined) {
      if (meta.id < 0n || meta.id >= 1n << 128n) throw new RangeError(`message id ${meta.id} is not a u128`)
      this.#ids ??= new BigUint64Array(2 * size)
      this.#ids[2 * j] = BigInt.asUintN(64, meta.id)
      this.#ids[2 * j + 1] = meta.id >> 64n
    }
    if (meta.timestamp !== undefined) {
      this.#timestamps ??= new Float64Array(size).fill(Number.NaN)
      this.#timestamps[j] = meta.timestamp
    }
    if (meta.headers !== undefined) {
      this.#headers ??= []
      while (this.#headers.length < j) this.#headers.push(null)
      this.#headers[j] = { ...meta.headers }
    }
  }

  /** Appends `payload` to the buffer; returns its byte length. */
  #write(payload: Uint8Array | string): number {
    // A string takes at most 3 UTF-8 bytes per UTF-16 unit: reserve that, write in place.
    const room = typeof payload === 'string' ? payload.length * 3 : payload.length
    if (this.#used + room > this.#buffer.length) {
      const next = Buffer.allocUnsafe(Math.max(this.#buffer.length * 2, this.#used + room))
      this.#buffer.copy(next, 0, 0, this.#used)
      this.#buffer = next
    }
    const written = typeof payload === 'string' ? this.#buffer.write(payload, this.#used) : (this.#buffer.set(payload, this.#used), payload.length)
    this.#used += written
    return written
  }
}

/** `Batch` result forms a transform may return: a builder, or the batch itself (keep all). */
export type BatchResult = BatchResultBuilder | Batch

/** The columns of a result (the batch itself = every message kept unchanged). */
export function resultColumns(result: BatchResult): BatchResultColumns {
  if (result instanceof Batch) {
    const keepAll = new BatchResultBuilder(result.length, 0)
    for (let i = 0; i < result.length; i++) keepAll.keep(i)
    return keepAll.build()
  }
  return result.build()
}

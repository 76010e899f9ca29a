import type { BatchColumns, BatchResultColumns, ConnectorStats, EngineOptions, JsBatch, JsMessage, LogEntry, SinkConnectorOptions, SourceConnectorOptions } from '../../ts/native'
import type { EngineLike } from '../../ts/runtime'

/** What the native binding hands JS for a batch (crates/binding/src/js_batch.rs), from objects. */
function toColumns(batch: JsBatch): BatchColumns {
  const payloads = batch.messages.map((m) => m.payload)
  const starts: number[] = []
  let at = 0
  for (const p of payloads) {
    starts.push(at)
    at += p.length
  }
  const ids = new BigUint64Array(2 * batch.messages.length)
  batch.messages.forEach((m, i) => {
    const id = BigInt(m.id || '0')
    ids[2 * i] = BigInt.asUintN(64, id)
    ids[2 * i + 1] = id >> 64n
  })
  const sink = batch.kind === 'sink'
  return {
    ...batch,
    count: payloads.length,
    payloads: Buffer.concat(payloads),
    starts: Uint32Array.from(starts),
    lengths: Uint32Array.from(payloads.map((p) => p.length)),
    ids,
    offsets: sink ? Float64Array.from(batch.messages.map((m, i) => m.offset ?? i)) : undefined,
    timestamps: Float64Array.from(batch.messages.map((m) => m.timestamp ?? Number.NaN)),
    headers: batch.messages.some((m) => m.headers) ? batch.messages.map((m) => m.headers ?? null) : undefined,
    jsonArray: false,
  }
}

/** A result read back as objects, metadata inherited as the engine does. */
function fromColumns(batch: JsBatch, r: BatchResultColumns): JsMessage[] {
  let at = 0
  return [...r.from].map((from, j) => {
    const input = from >= 0 ? batch.messages[from] : undefined
    const length = r.lengths[j]!
    let payload: Buffer
    if (length === -1) payload = input!.payload
    else {
      payload = Buffer.from(r.payloads.subarray(at, at + length))
      at += length
    }
    const id = r.ids ? (r.ids[2 * j + 1]! << 64n) | r.ids[2 * j]! : 0n
    const timestamp = r.timestamps?.[j]
    const headers = r.headers?.[j]
    return {
      id: id !== 0n ? id.toString() : (input?.id ?? '0'),
      offset: input?.offset,
      timestamp: timestamp !== undefined && !Number.isNaN(timestamp) ? timestamp : input?.timestamp,
      headers: headers === null || headers === undefined ? input?.headers : Object.keys(headers).length > 0 ? headers : undefined,
      payload,
    }
  })
}

/** An in-memory stand-in for the native Engine: records calls, serves configurable stats. */
export class FakeEngine implements EngineLike {
  readonly calls: string[] = []
  readonly current: ConnectorStats[]
  log?: (entry: LogEntry) => void
  /** The registered transform handler, driven with per-message objects (converted to columns and back). */
  transform?: (batch: JsBatch) => Promise<JsMessage[]>
  restartDelayMs = 0
  lastRestartOptions?: SourceConnectorOptions | SinkConnectorOptions

  constructor(readonly options: EngineOptions) {
    const base = { bytesIn: 0, bytesOut: 0, batches: 0, errors: 0, decodeErrors: 0, transformErrors: 0, sendErrors: 0, consumeErrors: 0, deadLettered: 0, rejected: 0, filtered: 0, messagesIn: 0, messagesOut: 0 }
    this.current = [
      ...options.sources.map((s) => ({ ...base, key: s.key, kind: 'source', name: s.name, status: 'starting', pluginVersion: '0.4.0' })),
      ...options.sinks.map((s) => ({ ...base, key: s.key, kind: 'sink', name: s.name, status: 'starting', pluginVersion: '0.4.0' })),
    ]
  }

  onLog(listener: (entry: LogEntry) => void): void {
    this.log = listener
  }
  onTransformBatch(handler: (batch: BatchColumns) => Promise<BatchResultColumns>): void {
    this.transform = async (batch) => fromColumns(batch, await handler(toColumns(batch)))
  }
  async start(): Promise<ConnectorStats[]> {
    this.calls.push('start')
    for (const s of this.current) s.status = 'running'
    return this.stats()
  }
  async stop(timeoutMs?: number): Promise<void> {
    this.calls.push(`stop ${timeoutMs}`)
    for (const s of this.current) s.status = 'stopped'
  }
  async restartSource(key: string, options?: SourceConnectorOptions): Promise<void> {
    this.calls.push(`restartSource ${key}`)
    this.lastRestartOptions = options
    await new Promise((resolve) => setTimeout(resolve, this.restartDelayMs))
  }
  async restartSink(key: string, options?: SinkConnectorOptions): Promise<void> {
    this.calls.push(`restartSink ${key}`)
    this.lastRestartOptions = options
    await new Promise((resolve) => setTimeout(resolve, this.restartDelayMs))
  }
  stats(): ConnectorStats[] {
    return this.current.map((s) => ({ ...s }))
  }
  set(key: string, patch: Partial<ConnectorStats>): void {
    const s = this.current.find((x) => x.key === key)
    if (s) Object.assign(s, patch)
  }
}

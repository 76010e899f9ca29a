import type { ConnectorStats, EngineOptions, JsBatch, JsMessage, LogEntry, SinkConnectorOptions, SourceConnectorOptions } from '../../ts/native'
import type { EngineLike } from '../../ts/runtime'

/** An in-memory stand-in for the native Engine: records calls, serves configurable stats. */
export class FakeEngine implements EngineLike {
  readonly calls: string[] = []
  readonly current: ConnectorStats[]
  log?: (entry: LogEntry) => void
  transform?: (batch: JsBatch) => Promise<JsMessage[]>
  restartDelayMs = 0
  lastRestartOptions?: SourceConnectorOptions | SinkConnectorOptions

  constructor(readonly options: EngineOptions) {
    const base = { bytesIn: 0, bytesOut: 0, batches: 0, errors: 0, decodeErrors: 0, transformErrors: 0, sendErrors: 0, consumeErrors: 0, deadLettered: 0, rejected: 0, filtered: 0, parked: 0, messagesIn: 0, messagesOut: 0 }
    this.current = [
      ...options.sources.map((s) => ({ ...base, key: s.key, kind: 'source', name: s.name, status: 'starting', pluginVersion: '0.4.0' })),
      ...options.sinks.map((s) => ({ ...base, key: s.key, kind: 'sink', name: s.name, status: 'starting', pluginVersion: '0.4.0' })),
    ]
  }

  onLog(listener: (entry: LogEntry) => void): void {
    this.log = listener
  }
  onTransform(handler: (batch: JsBatch) => Promise<JsMessage[]>): void {
    this.transform = handler
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

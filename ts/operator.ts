// The engine's operator tools as the runtime and the HTTP API use them (dead letters, replay,
// live tap, sink lag), and the JSON shapes the API serves and the CLI reads.
import type { JsDeadLetter, JsPartitionLag, JsReplayProgress, JsTapMessage, ReplayOptions } from './native'

export interface DeadLetterQuery {
  partition?: number
  from?: number
  limit?: number
  reason?: string
}

export interface TapHandle {
  next(max?: number | null): Promise<JsTapMessage[]>
  dropped(): number
  close(): void
}

/** What the native Engine offers (a fake engine without them offers no operator tools). */
export interface OperatorTools {
  deadLetters(kindName: string, key: string, query?: DeadLetterQuery | null): Promise<JsDeadLetter[]>
  replayDeadLetters(kindName: string, key: string, options: ReplayOptions, onProgress?: (progress: JsReplayProgress) => void): Promise<JsReplayProgress>
  tap(kindName: string, key: string, stage: string): TapHandle
  sinkLag(key: string): Promise<JsPartitionLag[]>
}

/** `engine` when it has every operator tool. */
export function operatorToolsOf(engine: object | undefined): OperatorTools | undefined {
  if (engine === undefined) return undefined
  const e = engine as Partial<OperatorTools>
  const complete = typeof e.deadLetters === 'function' && typeof e.replayDeadLetters === 'function' && typeof e.tap === 'function' && typeof e.sinkLag === 'function'
  return complete ? (engine as OperatorTools) : undefined
}

/** A payload as JSON text when it is UTF-8, else base64. */
export function payloadJson(payload: Buffer): { payload: string; payload_encoding: 'utf8' | 'base64' } {
  const text = payload.toString('utf8')
  return Buffer.from(text, 'utf8').equals(payload) ? { payload: text, payload_encoding: 'utf8' } : { payload: payload.toString('base64'), payload_encoding: 'base64' }
}

/** One dead letter as the API serves it. */
export interface DeadLetterJson {
  partition: number
  offset: number
  id: string
  timestamp: number
  error: string | null
  error_kind: string | null
  origin: { stream: string | null; topic: string | null; partition: number | null; offset: number | null; connector: string | null }
  replay_of: string | null
  parked: boolean
  empty_payload: boolean
  headers: Record<string, string>
  payload: string
  payload_encoding: 'utf8' | 'base64'
}

export function deadLetterJson(letter: JsDeadLetter): DeadLetterJson {
  return {
    partition: letter.partition,
    offset: letter.offset,
    id: letter.id,
    timestamp: letter.timestampMicros,
    error: letter.error ?? null,
    error_kind: letter.errorKind ?? null,
    origin: {
      stream: letter.originStream ?? null,
      topic: letter.originTopic ?? null,
      partition: letter.originPartition ?? null,
      offset: letter.originOffset ?? null,
      connector: letter.originConnector ?? null,
    },
    replay_of: letter.replayOf ?? null,
    parked: letter.parked,
    empty_payload: letter.emptyPayload,
    headers: Object.fromEntries(letter.headers.map(([k, v]) => [k ?? '', v ?? ''])),
    ...payloadJson(letter.payload),
  }
}

/** Replay progress as the API streams it (one NDJSON line per report). */
export interface ReplayProgressJson {
  total: number
  scanned: number
  replayed: number
  skipped_parked: number
  skipped_filtered: number
  skipped_unreplayable: number
  done: boolean
}

export function replayProgressJson(p: JsReplayProgress): ReplayProgressJson {
  return {
    total: p.total,
    scanned: p.scanned,
    replayed: p.replayed,
    skipped_parked: p.skippedParked,
    skipped_filtered: p.skippedFiltered,
    skipped_unreplayable: p.skippedUnreplayable,
    done: p.done,
  }
}

/** A tapped message as the SSE endpoint sends it. */
export interface TapMessageJson {
  stream: string
  topic: string
  partition: number | null
  offset: number | null
  id: string
  payload: string
  payload_encoding: 'utf8' | 'base64'
}

export function tapMessageJson(m: JsTapMessage): TapMessageJson {
  return { stream: m.stream, topic: m.topic, partition: m.partition ?? null, offset: m.offset ?? null, id: m.id, ...payloadJson(m.payload) }
}

/** One connector in `GET /status`. */
export interface StatusConnectorJson {
  kind: 'source' | 'sink'
  key: string
  name: string
  status: string
  messages_in: number
  messages_out: number
  errors: number
  dead_lettered: number
  parked: number
  /** Sinks: messages not committed yet, from Iggy (null when Iggy could not be asked). */
  lag: number | null
  /** Sinks: messages in the consumed partitions (the backlog bar's whole). */
  end: number | null
  last_error: string | null
}

export interface StatusJson {
  timestamp: number
  connectors: StatusConnectorJson[]
}

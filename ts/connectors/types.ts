// The interfaces a connector written in TypeScript/JavaScript implements. The engine drives it
// like a native plugin: one batch in flight, a source's state saved only after Iggy stored the
// batch, a sink's offset stored only after `consume` resolved.
import type { Batch, BatchMessage } from '../batch'

/** What a connector knows about itself when it is opened. */
export interface ConnectorContext {
  /** The connector's `key`. */
  readonly key: string
  readonly kind: 'source' | 'sink'
  /** Logs through the runtime (tagged with the key, like plugin logs). */
  readonly log: (level: 'trace' | 'debug' | 'info' | 'warn' | 'error', message: string) => void
}

/** A message a source produces. */
export interface SourceMessage {
  /**
   * The Iggy message id, kept end to end: a decimal string, a bigint or a UUID string. Derive a
   * stable one from the record's identity with `messageIdFromKey()` so a replay keeps its ids
   * (idempotent sinks then drop it). Absent: Iggy assigns a random one.
   */
  id?: string | bigint
  /** The payload; an object or array is written as JSON text, a string as UTF-8. */
  payload: Buffer | Uint8Array | string | object
  /** String headers. */
  headers?: Record<string, string>
  /** Origin timestamp, microseconds since the epoch. */
  timestamp?: number
}

/** What `poll()` returns: messages and the state the source reaches once they are stored. */
export interface PollResult<State = unknown> {
  messages: SourceMessage[]
  /** Saved (as JSON) only after Iggy acknowledged the whole batch; handed to `open()` on restart. */
  state?: State
}

/**
 * A source. `poll()` may wait for data (resolve when there is some); an empty result is polled
 * again after 10 ms. After each non-empty batch exactly one of `ack()` (stored in Iggy, state
 * saved) or `nack()` (not stored: produce the same data again) is called before the next `poll()`.
 */
export interface SourceConnector<Config = unknown, State = unknown> {
  open?(config: Config, state: State | undefined, context: ConnectorContext): void | Promise<void>
  poll(): PollResult<State> | Promise<PollResult<State>>
  ack?(): void | Promise<void>
  nack?(): void | Promise<void>
  close?(): void | Promise<void>
}

/**
 * A message handed to a sink: a window on the batch's columns, read on demand (`id` is the
 * u128 message id as a bigint, `payload` a zero-copy Buffer, `json()` parses it).
 */
export type SinkMessage = BatchMessage

/**
 * One batch for a sink: messages of one partition, in offset order. `messages` is a
 * {@link Batch} view over one payload buffer and typed arrays (no object per message until
 * you ask): iterate it, or use `messages.get(i)`, `messages.json(i)`, `messages.jsonAll()`.
 */
export interface SinkBatch {
  readonly stream: string
  readonly topic: string
  readonly partition: number
  readonly messages: Batch
}

/** A message the sink refuses for its content: it goes to `[dead_letter]` (or the batch is retried without one). */
export interface Rejection {
  offset: number
  reason: string
}

/** What `consume()` may resolve with: nothing (all stored) or the refused messages. */
export interface ConsumeResult {
  rejected?: Rejection[]
}

/**
 * A sink. `consume()` resolving means the batch is stored (except `rejected`); throwing or
 * rejecting means nothing was: the same batch comes again after the engine's backoff.
 */
export interface SinkConnector<Config = unknown> {
  open?(config: Config, context: ConnectorContext): void | Promise<void>
  consume(batch: SinkBatch): void | ConsumeResult | Promise<void | ConsumeResult>
  close?(): void | Promise<void>
}

/** A factory: one connector instance per (re)start. */
export type SourceFactory = () => SourceConnector
export type SinkFactory = () => SinkConnector

/** What a connector module (`module = "./x.mjs"`) exports: `createSource` / `createSink`, or a default factory. */
export interface ConnectorModule {
  createSource?: SourceFactory
  createSink?: SinkFactory
  default?: SourceFactory | SinkFactory
}

// Prometheus metrics rendered from native stats snapshots at scrape time.
import { Counter, Gauge, Registry } from 'prom-client'

import type { ConnectorStats } from './native'

/** What the metrics need from the runtime. */
export interface MetricsSource {
  stats(): ConnectorStats[]
  /** All active configs, disabled ones included (upstream `*_total` semantics). */
  totals(): { sources: number; sinks: number }
}

const LABELS = ['connector_key', 'connector_type'] as const
type Label = (typeof LABELS)[number]

const connectorType = (kind: string) => (kind === 'sink' ? 'Sink' : 'Source')

/**
 * Builds a registry whose collectors read one stats snapshot per scrape. Counter names follow
 * upstream HEAD (no doubled `_total`); ours add bytes, batches, errors by kind, dead letters,
 * filtered messages and sink lag.
 */
export function createMetricsRegistry(source: MetricsSource): Registry {
  const registry = new Registry()
  let snapshot: ConnectorStats[] = []

  const gauge = (name: string, help: string, read: () => number) =>
    new Gauge({
      name,
      help,
      registers: [registry],
      collect() {
        this.set(read())
      },
    })

  // Refresh the snapshot first: collectors run in registration order.
  gauge('iggy_connectors_sources_total', 'Source connectors configured (disabled included)', () => {
    snapshot = source.stats()
    return source.totals().sources
  })
  gauge('iggy_connectors_sources_running', 'Source connectors running', () => snapshot.filter((s) => s.kind === 'source' && s.status === 'running').length)
  gauge('iggy_connectors_sinks_total', 'Sink connectors configured (disabled included)', () => source.totals().sinks)
  gauge('iggy_connectors_sinks_running', 'Sink connectors running', () => snapshot.filter((s) => s.kind === 'sink' && s.status === 'running').length)

  const perConnector = (name: string, help: string, kind: 'source' | 'sink' | 'any', read: (s: ConnectorStats) => number | undefined) =>
    new Counter<Label>({
      name,
      help,
      labelNames: LABELS,
      registers: [registry],
      collect() {
        this.reset()
        for (const s of snapshot) {
          if (kind !== 'any' && s.kind !== kind) continue
          const value = read(s)
          if (value !== undefined) this.inc({ connector_key: s.key, connector_type: connectorType(s.kind) }, value)
        }
      },
    })

  perConnector('iggy_connector_messages_produced_total', 'Messages produced by source plugins', 'source', (s) => s.messagesIn)
  perConnector('iggy_connector_messages_sent_total', 'Messages sources sent to Iggy', 'source', (s) => s.messagesOut)
  perConnector('iggy_connector_messages_consumed_total', 'Messages sinks polled from Iggy', 'sink', (s) => s.messagesIn)
  perConnector('iggy_connector_messages_processed_total', 'Messages sink plugins accepted', 'sink', (s) => s.messagesOut)
  perConnector('iggy_connector_errors_total', 'Errors of all kinds', 'any', (s) => s.errors)
  perConnector('iggy_connector_messages_filtered_total', 'Messages dropped by transforms on purpose', 'any', (s) => s.filtered)
  perConnector('iggy_connector_bytes_in_total', 'Payload bytes in (sources: from the plugin; sinks: from Iggy)', 'any', (s) => s.bytesIn)
  perConnector('iggy_connector_bytes_out_total', 'Payload bytes out (sources: to Iggy; sinks: to the plugin)', 'any', (s) => s.bytesOut)
  perConnector('iggy_connector_batches_total', 'Batches handled', 'any', (s) => s.batches)
  perConnector('iggy_connector_dead_lettered_total', 'Messages sent to the dead-letter topic', 'any', (s) => s.deadLettered)
  perConnector('iggy_connector_rejected_total', 'Messages the sink plugin rejected for their content', 'sink', (s) => s.rejected)

  const byKind = new Counter<Label | 'kind'>({
    name: 'iggy_connector_errors_by_kind_total',
    help: 'Errors by kind: decode, transform, send (sources), consume (sinks)',
    labelNames: [...LABELS, 'kind'],
    registers: [registry],
    collect() {
      this.reset()
      for (const s of snapshot) {
        const labels = { connector_key: s.key, connector_type: connectorType(s.kind) }
        this.inc({ ...labels, kind: 'decode' }, s.decodeErrors)
        this.inc({ ...labels, kind: 'transform' }, s.transformErrors)
        if (s.kind === 'source') this.inc({ ...labels, kind: 'send' }, s.sendErrors)
        else this.inc({ ...labels, kind: 'consume' }, s.consumeErrors)
      }
    },
  })

  const lag = new Gauge<Label>({
    name: 'iggy_connector_lag',
    help: 'Sink consumer lag: messages behind the end of the topic, summed over partitions',
    labelNames: LABELS,
    registers: [registry],
    collect() {
      this.reset()
      for (const s of snapshot) if (s.kind === 'sink' && s.lag !== undefined) this.set({ connector_key: s.key, connector_type: 'Sink' }, s.lag)
    },
  })

  void byKind
  void lag
  return registry
}

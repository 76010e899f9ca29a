//! What the engine reports back: connector stats and log lines.

use napi_derive::napi;

#[napi(object)]
pub struct LastError {
    pub message: String,
    pub timestamp_micros: f64,
}

#[napi(object)]
pub struct ConnectorStats {
    pub key: String,
    /// "source" | "sink"
    pub kind: String,
    pub name: String,
    /// starting | running | stopping | stopped | error
    pub status: String,
    pub plugin_version: Option<String>,
    /// The resolved plugin path.
    pub plugin_path: Option<String>,
    /// Sources: produced by the plugin; sinks: polled from Iggy.
    pub messages_in: f64,
    /// Sources: acknowledged by Iggy; sinks: accepted by consume.
    pub messages_out: f64,
    pub bytes_in: f64,
    pub bytes_out: f64,
    pub batches: f64,
    /// Sum of the kinds below.
    pub errors: f64,
    pub decode_errors: f64,
    pub transform_errors: f64,
    /// Sources: Iggy send failures.
    pub send_errors: f64,
    /// Sinks: consume() returned non-zero.
    pub consume_errors: f64,
    pub dead_lettered: f64,
    /// Sinks: messages the plugin refused for their content (dead-lettered, or the batch
    /// failed without a dead-letter topic); counted at each report.
    pub rejected: f64,
    /// Dropped by transforms on purpose.
    pub filtered: f64,
    /// Replayed dead letters that failed again and were parked (see `dlq replay`).
    pub parked: f64,
    /// Sinks: sum over partitions of (current_offset - committed offset).
    pub lag: Option<f64>,
    pub last_error: Option<LastError>,
}

#[napi(object)]
pub struct LogEntry {
    /// trace | debug | info | warn | error
    pub level: String,
    /// Set for plugin and pipeline logs.
    pub connector_key: Option<String>,
    pub target: String,
    pub message: String,
    pub timestamp_micros: f64,
}

use iggy_connectors_engine as engine;

impl From<engine::ConnectorStats> for ConnectorStats {
    fn from(s: engine::ConnectorStats) -> Self {
        ConnectorStats {
            key: s.key,
            kind: s.kind.as_str().to_owned(),
            name: s.name,
            status: s.status.as_str().to_owned(),
            plugin_version: s.plugin_version,
            plugin_path: s.plugin_path,
            messages_in: s.messages_in as f64,
            messages_out: s.messages_out as f64,
            bytes_in: s.bytes_in as f64,
            bytes_out: s.bytes_out as f64,
            batches: s.batches as f64,
            errors: s.errors as f64,
            decode_errors: s.decode_errors as f64,
            transform_errors: s.transform_errors as f64,
            send_errors: s.send_errors as f64,
            consume_errors: s.consume_errors as f64,
            dead_lettered: s.dead_lettered as f64,
            rejected: s.rejected as f64,
            filtered: s.filtered as f64,
            parked: s.parked as f64,
            lag: s.lag.map(|l| l as f64),
            last_error: s.last_error.map(|e| LastError {
                message: e.message,
                timestamp_micros: e.timestamp_micros as f64,
            }),
        }
    }
}

impl From<engine::LogEntry> for LogEntry {
    fn from(e: engine::LogEntry) -> Self {
        LogEntry {
            level: e.level.as_str().to_owned(),
            connector_key: e.connector_key,
            target: e.target,
            message: e.message,
            timestamp_micros: e.timestamp_micros as f64,
        }
    }
}

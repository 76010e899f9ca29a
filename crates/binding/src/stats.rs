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
    /// Dropped by transforms on purpose.
    pub filtered: f64,
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

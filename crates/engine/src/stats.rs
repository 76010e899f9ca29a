//! Per-connector status and counters. Counters are atomics bumped once per batch.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};

use std::sync::{Arc, Mutex};

use crate::logs::now_micros;
use crate::tap::Tap;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Starting,
    Running,
    Stopping,
    Stopped,
    Error,
}

impl Status {
    pub fn as_str(&self) -> &'static str {
        match self {
            Status::Starting => "starting",
            Status::Running => "running",
            Status::Stopping => "stopping",
            Status::Stopped => "stopped",
            Status::Error => "error",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ConnectorKind {
    Source,
    Sink,
}

impl ConnectorKind {
    pub fn as_str(&self) -> &'static str {
        match self {
            ConnectorKind::Source => "source",
            ConnectorKind::Sink => "sink",
        }
    }

    pub fn parse(kind: &str) -> Option<Self> {
        match kind {
            "source" => Some(Self::Source),
            "sink" => Some(Self::Sink),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LastError {
    pub message: String,
    pub timestamp_micros: u64,
}

/// Live counters of one connector, shared by its tasks.
#[derive(Default)]
pub struct Counters {
    pub messages_in: AtomicU64,
    pub messages_out: AtomicU64,
    pub bytes_in: AtomicU64,
    pub bytes_out: AtomicU64,
    pub batches: AtomicU64,
    pub decode_errors: AtomicU64,
    pub transform_errors: AtomicU64,
    pub send_errors: AtomicU64,
    pub consume_errors: AtomicU64,
    pub dead_lettered: AtomicU64,
    /// Sinks: messages the plugin reported as refused for their content (per report).
    pub rejected: AtomicU64,
    pub filtered: AtomicU64,
    /// Replayed dead letters that failed again and were parked (not replayed again).
    pub parked: AtomicU64,
}

impl Counters {
    #[inline]
    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }
}

/// Status, last error, plugin facts and per-partition lag of one connector.
pub struct ConnectorState {
    pub counters: Counters,
    /// The live tap (see `tap.rs`).
    pub tap: Arc<Tap>,
    inner: Mutex<StateInner>,
}

#[derive(Default)]
struct StateInner {
    status: Option<Status>,
    last_error: Option<LastError>,
    plugin_version: Option<String>,
    plugin_path: Option<String>,
    /// (stream, topic, partition) → current_offset − committed offset.
    lag: HashMap<(String, String, u32), u64>,
}

impl Default for ConnectorState {
    fn default() -> Self {
        Self {
            counters: Counters::default(),
            tap: Arc::default(),
            inner: Mutex::new(StateInner {
                status: Some(Status::Starting),
                ..StateInner::default()
            }),
        }
    }
}

impl ConnectorState {
    fn lock(&self) -> std::sync::MutexGuard<'_, StateInner> {
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub fn status(&self) -> Status {
        self.lock().status.unwrap_or(Status::Starting)
    }

    /// Sets the status; `running` and `stopped` clear the last error (as upstream).
    pub fn set_status(&self, status: Status) {
        let mut inner = self.lock();
        inner.status = Some(status);
        if matches!(status, Status::Running | Status::Starting) {
            inner.last_error = None;
        }
    }

    /// Records an error without changing the status (the pipeline keeps retrying).
    pub fn record_error(&self, message: impl Into<String>) {
        self.lock().last_error = Some(LastError {
            message: message.into(),
            timestamp_micros: now_micros(),
        });
    }

    /// Records an error and sets status `error`.
    pub fn fail(&self, message: impl Into<String>) {
        let mut inner = self.lock();
        inner.status = Some(Status::Error);
        inner.last_error = Some(LastError {
            message: message.into(),
            timestamp_micros: now_micros(),
        });
    }

    pub fn set_plugin(&self, version: Option<String>, path: Option<String>) {
        let mut inner = self.lock();
        inner.plugin_version = version;
        inner.plugin_path = path;
    }

    pub fn set_lag(&self, stream: &str, topic: &str, partition: u32, lag: u64) {
        self.lock()
            .lag
            .insert((stream.to_owned(), topic.to_owned(), partition), lag);
    }

    pub fn snapshot(&self, key: &str, kind: ConnectorKind, name: &str) -> ConnectorStats {
        let c = &self.counters;
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let inner = self.lock();
        let decode_errors = get(&c.decode_errors);
        let transform_errors = get(&c.transform_errors);
        let send_errors = get(&c.send_errors);
        let consume_errors = get(&c.consume_errors);
        ConnectorStats {
            key: key.to_owned(),
            kind,
            name: name.to_owned(),
            status: inner.status.unwrap_or(Status::Starting),
            plugin_version: inner.plugin_version.clone(),
            plugin_path: inner.plugin_path.clone(),
            messages_in: get(&c.messages_in),
            messages_out: get(&c.messages_out),
            bytes_in: get(&c.bytes_in),
            bytes_out: get(&c.bytes_out),
            batches: get(&c.batches),
            errors: decode_errors + transform_errors + send_errors + consume_errors,
            decode_errors,
            transform_errors,
            send_errors,
            consume_errors,
            dead_lettered: get(&c.dead_lettered),
            rejected: get(&c.rejected),
            filtered: get(&c.filtered),
            parked: get(&c.parked),
            lag: match kind {
                ConnectorKind::Sink => Some(inner.lag.values().sum()),
                ConnectorKind::Source => None,
            },
            last_error: inner.last_error.clone(),
        }
    }
}

/// A point-in-time copy of one connector's stats.
#[derive(Debug, Clone, PartialEq)]
pub struct ConnectorStats {
    pub key: String,
    pub kind: ConnectorKind,
    pub name: String,
    pub status: Status,
    pub plugin_version: Option<String>,
    pub plugin_path: Option<String>,
    pub messages_in: u64,
    pub messages_out: u64,
    pub bytes_in: u64,
    pub bytes_out: u64,
    pub batches: u64,
    pub errors: u64,
    pub decode_errors: u64,
    pub transform_errors: u64,
    pub send_errors: u64,
    pub consume_errors: u64,
    pub dead_lettered: u64,
    pub rejected: u64,
    pub filtered: u64,
    pub parked: u64,
    pub lag: Option<u64>,
    pub last_error: Option<LastError>,
}

//! Log lines from the engine and from plugins, delivered through a bounded channel to one
//! subscriber (the binding forwards them to JavaScript; Rust tests read them directly).
//!
//! Sending never blocks: plugin threads call the log callback, and a slow subscriber must not
//! stall a plugin, so lines are dropped (and counted) when the channel is full.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

const CAPACITY: usize = 16_384;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum LogLevel {
    Trace,
    Debug,
    Info,
    Warn,
    Error,
}

impl LogLevel {
    /// Maps the ABI's level byte; anything above 4 is an error, as upstream.
    pub fn from_u8(level: u8) -> Self {
        match level {
            0 => Self::Trace,
            1 => Self::Debug,
            2 => Self::Info,
            3 => Self::Warn,
            _ => Self::Error,
        }
    }

    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Trace => "trace",
            Self::Debug => "debug",
            Self::Info => "info",
            Self::Warn => "warn",
            Self::Error => "error",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct LogEntry {
    pub level: LogLevel,
    /// Set for plugin and pipeline logs.
    pub connector_key: Option<String>,
    pub target: String,
    pub message: String,
    pub timestamp_micros: u64,
}

/// The sending side, cloned into every pipeline and into the plugin log slots.
#[derive(Clone)]
pub struct LogBus {
    tx: flume::Sender<LogEntry>,
    rx: flume::Receiver<LogEntry>,
    dropped: Arc<AtomicU64>,
}

impl Default for LogBus {
    fn default() -> Self {
        let (tx, rx) = flume::bounded(CAPACITY);
        Self {
            tx,
            rx,
            dropped: Arc::new(AtomicU64::new(0)),
        }
    }
}

impl LogBus {
    /// The receiving side. Each line goes to exactly one receiver.
    pub fn receiver(&self) -> flume::Receiver<LogEntry> {
        self.rx.clone()
    }

    /// Lines dropped because nobody read them fast enough.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    pub fn emit(&self, level: LogLevel, key: Option<&str>, target: &str, message: String) {
        let entry = LogEntry {
            level,
            connector_key: key.map(str::to_owned),
            target: target.to_owned(),
            message,
            timestamp_micros: now_micros(),
        };
        if self.tx.try_send(entry).is_err() {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// A logger bound to one connector.
    pub fn for_connector(&self, key: &str) -> ConnectorLog {
        ConnectorLog {
            bus: self.clone(),
            key: Arc::from(key),
        }
    }
}

/// Engine-side log lines of one connector (target `iggy_connectors::<area>`).
#[derive(Clone)]
pub struct ConnectorLog {
    bus: LogBus,
    key: Arc<str>,
}

impl ConnectorLog {
    pub fn key(&self) -> &str {
        &self.key
    }

    pub fn bus(&self) -> &LogBus {
        &self.bus
    }

    pub fn log(&self, level: LogLevel, target: &str, message: String) {
        self.bus.emit(level, Some(&self.key), target, message);
    }

    pub fn info(&self, target: &str, message: String) {
        self.log(LogLevel::Info, target, message);
    }

    pub fn debug(&self, target: &str, message: String) {
        self.log(LogLevel::Debug, target, message);
    }

    pub fn warn(&self, target: &str, message: String) {
        self.log(LogLevel::Warn, target, message);
    }

    pub fn error(&self, target: &str, message: String) {
        self.log(LogLevel::Error, target, message);
    }
}

pub fn now_micros() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or(0)
}

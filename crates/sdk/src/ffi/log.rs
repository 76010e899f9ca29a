//! Forwards the plugin's `tracing` events (and the SDK's own reports) to the host's log
//! callback.

use std::fmt::Write as _;
use std::sync::{Once, RwLock};

use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::{Context, Layer, SubscriberExt as _};
use tracing_subscriber::util::SubscriberInitExt as _;
use tracing_subscriber::{EnvFilter, Registry};

use super::LogCallback;

/// The callback of the most recent `*_open`. One host loads a library once, so every
/// instance in it shares the same callback.
static CALLBACK: RwLock<Option<LogCallback>> = RwLock::new(None);
static SUBSCRIBER: Once = Once::new();

pub const TRACE: u8 = 0;
pub const DEBUG: u8 = 1;
pub const INFO: u8 = 2;
pub const WARN: u8 = 3;
pub const ERROR: u8 = 4;

/// Stores the host callback and installs this library's subscriber (once): an `EnvFilter` from
/// the process's `RUST_LOG` (default `info`) in front of the forwarding layer.
pub fn install(callback: Option<LogCallback>) {
    if callback.is_some() {
        *CALLBACK
            .write()
            .unwrap_or_else(|poison| poison.into_inner()) = callback;
    }
    SUBSCRIBER.call_once(|| {
        let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
        // Fails only if the plugin installed its own global subscriber first; then its choice
        // stands and only the SDK's direct reports reach the host.
        let _ = Registry::default()
            .with(filter)
            .with(CallbackLayer)
            .try_init();
    });
}

/// Sends one line to the host; `false` when the host gave no callback.
pub fn emit(level: u8, target: &str, message: &str) -> bool {
    let callback = *CALLBACK.read().unwrap_or_else(|poison| poison.into_inner());
    if let Some(callback) = callback {
        callback(
            level,
            target.as_ptr(),
            target.len(),
            message.as_ptr(),
            message.len(),
        );
    }
    callback.is_some()
}

struct CallbackLayer;

impl<S: Subscriber> Layer<S> for CallbackLayer {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let metadata = event.metadata();
        let level = match *metadata.level() {
            Level::TRACE => TRACE,
            Level::DEBUG => DEBUG,
            Level::INFO => INFO,
            Level::WARN => WARN,
            Level::ERROR => ERROR,
        };
        let mut line = LineVisitor::default();
        event.record(&mut line);
        let target = metadata.module_path().unwrap_or(metadata.target());
        let _ = emit(level, target, &line.finish());
    }
}

/// Renders the `message` field followed by the other fields as `key=value` (upstream keeps
/// only the message; the extra fields cost nothing when absent and help when present).
#[derive(Default)]
struct LineVisitor {
    message: String,
    fields: String,
}

impl LineVisitor {
    fn finish(self) -> String {
        match (self.message.is_empty(), self.fields.is_empty()) {
            (_, true) => self.message,
            (true, false) => self.fields,
            (false, false) => format!("{} {}", self.message, self.fields),
        }
    }

    fn push_field(&mut self, field: &Field, value: std::fmt::Arguments<'_>) {
        if !self.fields.is_empty() {
            self.fields.push(' ');
        }
        let _ = write!(self.fields, "{}={}", field.name(), value);
    }
}

impl Visit for LineVisitor {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message.push_str(value);
        } else {
            self.push_field(field, format_args!("{value}"));
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            let _ = write!(self.message, "{value:?}");
        } else {
            self.push_field(field, format_args!("{value:?}"));
        }
    }
}

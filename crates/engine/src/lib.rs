//! The iggy-connectors runtime engine.
//!
//! Everything the runtime does on the hot path lives here, free of napi so it is covered by
//! plain `cargo test`; the `binding` crate only converts types for JavaScript.
#![deny(clippy::all)]

pub mod config;
pub mod connector_host;
mod dead_letter;
mod dlq;
mod driver;
pub mod error;
pub mod external;
pub mod ffi;
mod iggy;
mod inspect;
mod lag;
pub mod logs;
pub mod plugin;
mod runtime;
mod sink;
mod source;
pub mod stages;
pub mod state_store;
pub mod stats;
pub mod tap;
pub mod transforms;

pub use config::*;
pub use connector_host::{ConnectorCall, ConnectorHost, ConnectorReply};
pub use dlq::{DeadLetterQuery, DeadLetterRecord, ReplayProgress, ReplayRequest};
pub use error::{EngineError, Result};
pub use external::{
    ExternalBatch, ExternalMessage, ExternalMessages, ExternalOutput, ExternalTransform,
    OutputMessage, OutputPayload,
};
pub use ffi::sink::Rejection;
pub use inspect::{PluginInfo, inspect_plugin, parse_kind};
pub use lag::PartitionLag;
pub use logs::{LogBus, LogEntry, LogLevel};
pub use runtime::{DEFAULT_STOP_TIMEOUT, Engine};
pub use stats::{ConnectorKind, ConnectorStats, LastError, Status};
pub use tap::{TapMessage, TapStage, TapSubscription};

/// The engine's version, reported by the CLI and the HTTP API.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The plugin ABI this engine speaks: Apache Iggy connectors 0.4.0 symbols plus the
/// batch-result pair (`iggy_source_handle_v2` / `iggy_source_batch_result`) and the sink
/// rejections export (`iggy_sink_consume_v2`), both optional.
pub const PLUGIN_ABI: &str = "iggy-connectors-0.4.0+batch-result+sink-rejections";

#[cfg(test)]
mod tests {
    #[test]
    fn given_crate_when_version_read_should_match_cargo_version() {
        assert_eq!(super::VERSION, "0.1.0");
    }
}

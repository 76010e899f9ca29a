//! The iggy-connectors runtime engine.
//!
//! Everything the runtime does on the hot path lives here, free of napi so it is covered by
//! plain `cargo test`; the `binding` crate only converts types for JavaScript.
#![deny(clippy::all)]

pub mod transforms;

/// The engine's version, reported by the CLI and the HTTP API.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The plugin ABI this engine speaks: Apache Iggy connectors 0.4.0 symbols plus the
/// batch-result pair (`iggy_source_handle_v2` / `iggy_source_batch_result`).
pub const PLUGIN_ABI: &str = "iggy-connectors-0.4.0+batch-result";

#[cfg(test)]
mod tests {
    #[test]
    fn given_crate_when_version_read_should_match_cargo_version() {
        assert_eq!(super::VERSION, "0.1.0");
    }
}
